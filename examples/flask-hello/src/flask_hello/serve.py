"""Serve the app with gunicorn, embedded: no gunicorn command, no config file."""

import argparse
import multiprocessing

from gunicorn.app.base import BaseApplication

from flask_hello import app


class EmbeddedGunicorn(BaseApplication):
    def __init__(self, application, options):
        self.application = application
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return self.application


def main():
    parser = argparse.ArgumentParser(description="Serve the flask-hello app with gunicorn.")
    parser.add_argument("--bind", default="127.0.0.1:8000", help="address to listen on (default 127.0.0.1:8000)")
    parser.add_argument("--workers", type=int, default=min(4, multiprocessing.cpu_count()))
    args = parser.parse_args()
    EmbeddedGunicorn(app, {"bind": args.bind, "workers": args.workers, "accesslog": "-"}).run()
