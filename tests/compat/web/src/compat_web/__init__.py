"""Compatibility fixture, web group: each check uses its package for real and raises if anything is off.

Servers listen on 127.0.0.1 only (an ephemeral port) and are stopped before the check returns.
`compat-web` runs every check and prints one line per package, then a summary line ending in OK;
`compat-web NAME...` runs some; `compat-web import NAME` only imports NAME's modules (start-up timing).
"""

import contextlib
import os
import tempfile
import threading
import time

from ._harness import check
from ._harness import main as _main

HERE = os.path.dirname(__file__)


def http(port, method="GET", path="/", body=None, headers=None):
    """One request to 127.0.0.1:port, retried while the server is still starting."""
    import http.client

    deadline = time.monotonic() + 30
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
        finally:
            conn.close()


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@check("gunicorn", "gunicorn.app.base", "gunicorn.arbiter", "gunicorn.workers.sync")
def check_gunicorn():
    """The arbiter forks a sync worker, which serves one request; SIGTERM stops both."""
    import signal

    from gunicorn.app.base import BaseApplication

    def wsgi(environ, start_response):
        body = f"served by {os.getpid()}".encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    port = free_port()

    class App(BaseApplication):
        def load_config(self):
            settings = {"bind": f"127.0.0.1:{port}", "workers": 1, "worker_class": "sync",
                        "loglevel": "warning", "graceful_timeout": 5}
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self):
            return wsgi

    arbiter = os.fork()
    if arbiter == 0:
        code = 1
        try:
            App().run()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            os._exit(code)
    try:
        status, headers, body = http(port)
    finally:
        os.kill(arbiter, signal.SIGTERM)
        _, code = os.waitpid(arbiter, 0)
    worker = int(body.split()[-1])
    assert status == 200 and worker not in (arbiter, os.getpid()), (status, body)
    assert headers["Server"].startswith("gunicorn"), headers
    assert os.waitstatus_to_exitcode(code) == 0, code
    return f"arbiter forked a sync worker that served GET / ({headers['Server'].split('/')[0]})"


@check("flask", "flask")
def check_flask():
    from flask import Flask, jsonify, render_template, request

    app = Flask("compat_web", root_path=HERE)

    @app.get("/")
    def index():
        return render_template("page.html", title="Flask", names=["a", "b"], css="/static/style.css")

    @app.post("/echo")
    def echo():
        return jsonify(got=request.get_json()["x"] * 2)

    client = app.test_client()
    page = client.get("/")
    assert page.status_code == 200 and b"<title>Flask</title>" in page.data and b"<li>B</li>" in page.data, page.data
    css = client.get("/static/style.css")
    with open(os.path.join(HERE, "static", "style.css"), "rb") as f:
        assert css.status_code == 200 and css.data == f.read(), css.status_code
    css.close()
    assert client.post("/echo", json={"x": 21}).get_json() == {"got": 42}
    return "templates, static file and JSON through the test client"


@check("jinja2", "jinja2")
def check_jinja2():
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("compat_web"), autoescape=select_autoescape())
    html = env.get_template("page.html").render(title="<x>", names=["amber"], css="s.css")
    assert "<title>&lt;x&gt;</title>" in html and "<li>AMBER</li>" in html, html
    assert sorted(env.list_templates()) == ["base.html", "macros.html", "page.html"], env.list_templates()
    return "PackageLoader, inheritance, macros, autoescape"


def _django_settings(data):
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False, SECRET_KEY="compat", USE_TZ=True, USE_I18N=True, ROOT_URLCONF=__name__,
            DEFAULT_AUTO_FIELD="django.db.models.BigAutoField", ALLOWED_HOSTS=["testserver"],
            INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.staticfiles",
                            "compat_web.djapp"],
            DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(data, "db.sqlite3")}},
            TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}],
            STATIC_URL="/static/", STATIC_ROOT=os.path.join(data, "static"),
        )


urlpatterns = []  # Django's ROOT_URLCONF (this module)


@check("django", "django", "django.db.models", "django.template")
def check_django():
    import io

    import django
    from django.contrib.staticfiles import finders
    from django.core.management import call_command
    from django.template.loader import render_to_string
    from django.utils import translation

    with tempfile.TemporaryDirectory() as data:
        _django_settings(data)
        django.setup()
        out = io.StringIO()
        call_command("check", fail_level="WARNING", stdout=out)
        assert "no issues" in out.getvalue(), out.getvalue()
        call_command("migrate", verbosity=0)
        call_command("makemigrations", "djapp", check=True, dry_run=True, verbosity=0)  # models match 0001
        from compat_web.djapp.models import Note

        Note.objects.bulk_create([Note(text="hello"), Note(text="amber")])
        html = render_to_string("djapp/notes.html", {"notes": Note.objects.order_by("id")})
        assert html.count("<p>") == 2 and '/static/djapp/site.css' in html, html
        assert finders.find("djapp/site.css").startswith(HERE), finders.find("djapp/site.css")
        call_command("collectstatic", interactive=False, verbosity=0)
        with open(os.path.join(data, "static", "djapp", "site.css")) as f:
            assert f.read().startswith("p {"), "collectstatic copied the wrong file"
        with translation.override("de"):
            assert translation.gettext("Yes") == "Ja", translation.gettext("Yes")
        from django.db import connection

        tables = connection.introspection.table_names()
        assert {"djapp_note", "auth_user", "django_migrations"} <= set(tables), tables
    return f"check, migrate ({len(tables)} tables), template, collectstatic, gettext"


@contextlib.contextmanager
def uvicorn_server(app):
    """uvicorn serving `app` on 127.0.0.1 (an ephemeral port) in a thread; yields the port."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(30)
        assert not thread.is_alive(), "uvicorn did not stop"


@check("fastapi", "fastapi")
def check_fastapi():
    import json

    from fastapi import FastAPI
    from pydantic import BaseModel

    api = FastAPI(title="compat")

    class Item(BaseModel):
        name: str
        price: float

    @api.post("/items")
    def create(item: Item) -> dict:
        return {"name": item.name, "total": item.price * 2}

    with uvicorn_server(api) as port:
        status, _, body = http(port, "POST", "/items", b'{"name": "a", "price": "1.5"}',
                               {"Content-Type": "application/json"})
        assert status == 200 and json.loads(body) == {"name": "a", "total": 3.0}, (status, body)
        status, _, _ = http(port, "POST", "/items", b'{"name": "a"}', {"Content-Type": "application/json"})
        assert status == 422, status
        status, _, body = http(port, path="/openapi.json")
        assert json.loads(body)["info"]["title"] == "compat"
    return "validated POST, 422 on bad input, OpenAPI schema, over uvicorn on 127.0.0.1"


@check("uvicorn", "uvicorn")
def check_uvicorn():
    async def app(scope, receive, send):
        assert scope["type"] == "http"
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"chunk1 ", "more_body": True})
        await send({"type": "http.response.body", "body": b"chunk2"})

    with uvicorn_server(app) as port:
        status, headers, body = http(port, path="/stream")
    assert status == 200 and body == b"chunk1 chunk2" and headers["server"] == "uvicorn", (status, headers, body)
    return "raw ASGI app on 127.0.0.1, streamed body"


@check("starlette", "starlette.applications", "starlette.testclient")
def check_starlette():
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.gzip import GZipMiddleware
    from starlette.responses import JSONResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles
    from starlette.testclient import TestClient

    async def hello(request):
        return JSONResponse({"hello": request.path_params["name"]})

    app = Starlette(routes=[Route("/hello/{name}", hello),
                            Mount("/static", StaticFiles(packages=[("compat_web", "static")]))],
                    middleware=[Middleware(GZipMiddleware, minimum_size=10)])
    with TestClient(app) as client:
        assert client.get("/hello/amber").json() == {"hello": "amber"}
        css = client.get("/static/style.css")
        assert css.status_code == 200 and css.text.startswith("body"), (css.status_code, css.text)
        assert client.get("/static/missing.css").status_code == 404
    return "routes, GZip middleware, StaticFiles from the package, TestClient"


@check("aiohttp", "aiohttp", "aiohttp.web")
def check_aiohttp():
    import asyncio

    from aiohttp import ClientSession, web

    async def handle(request):
        data = await request.json()
        return web.json_response({"sum": sum(data["numbers"])})

    async def main():
        app = web.Application()
        app.router.add_post("/sum", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with ClientSession() as session, session.post(f"http://127.0.0.1:{port}/sum",
                                                                json={"numbers": [1, 2, 39]}) as response:
                return response.status, await response.json()
        finally:
            await runner.cleanup()

    status, data = asyncio.run(main())
    assert status == 200 and data == {"sum": 42}, (status, data)
    from aiohttp import http_parser

    parser = "C" if http_parser.HttpResponseParser is not http_parser.HttpResponseParserPy else "Python"
    return f"server and client on 127.0.0.1, {parser} HTTP parser"


# ---- the same harness in every compat fixture ----

def main():
    return _main("web")
