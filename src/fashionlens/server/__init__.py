"""The search server: a FastAPI app (JSON API, item images, the web page) over a `SearchEngine`."""

from fashionlens.server.app import create_app, listen, serve

__all__ = ["create_app", "listen", "serve"]
