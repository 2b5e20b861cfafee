"""A Flask app that greets the client with its own IP address (templates and static files as package data)."""

import platform

from flask import Flask, render_template, request

app = Flask(__name__)


@app.route("/")
def index():
    return render_template("index.html", ip=request.remote_addr, python=platform.python_version())


@app.route("/healthz")
def healthz():
    return {"status": "ok"}
