"""A tiny FastAPI app, served by the one-file uvicorn: `uvicorn realapp_uvicorn:app --workers 2`."""

import os

from fastapi import FastAPI

app = FastAPI(title="realapp")


@app.get("/")
def index() -> dict:
    return {"hello": "amber", "pid": os.getpid()}


@app.get("/items/{item_id}")
def item(item_id: int, q: str | None = None) -> dict:
    return {"item_id": item_id, "q": q}
