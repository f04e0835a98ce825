"""The app's server: `streamlit run viz_app/serve.py` serves viz_app/app.py through st.App with one route per page.

Opened at a page's own path (/attention, the path a copied link holds), Streamlit's front end does not know the
server's base URL and first tries the page's path as one: it asks for /attention/_stcore/health, gets a 404, waits
100 ms and only then asks /_stcore/health. Every page but the first paid that on every load (bench/app.py
floor_at_path_ratio). Here each page's path answers with Streamlit's own index.html, unchanged but for one script
before everything else that names the base URL in `window.__streamlit.BACKEND_BASE_URL`, the setting the front end
reads for it when it starts; it then connects at once. The script is built from the server's configuration only
(server.baseUrlPath), never from a request. Everything else is Streamlit's: the root, the assets, the websocket.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run` imports this file as a module of its own folder
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import HTMLResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402
from streamlit import config  # noqa: E402

from viz_app import pages  # noqa: E402

INDEX_HTML = Path(st.__file__).resolve().parent / "static" / "index.html"
HEAD = "<head>"


def base_path(option: str | None) -> str:
    """server.baseUrlPath as the path the app is served under: '/' or '/name/' ('x', '/x/' and 'x/' alike)."""
    inner = (option or "").strip("/")
    return f"/{inner}/" if inner else "/"


def page_document(index_html: str, base: str) -> str:
    """Streamlit's index.html with a first script in its head that sets the front end's base URL to `base` (a path
    from base_path) on the page's own origin."""
    if index_html.count(HEAD) != 1:
        raise ValueError("Streamlit's index.html has no single <head> to put the base URL in")
    script = f"<script>window.__streamlit = {{BACKEND_BASE_URL: window.location.origin + {json.dumps(base)}}};</script>"
    return index_html.replace(HEAD, HEAD + script, 1)


def page_routes(base: str, document: str) -> list[Route]:
    """A GET route answering `document` at every page's path but the default page's (which is the root)."""

    async def page(_request: Request) -> HTMLResponse:
        return HTMLResponse(document, headers={"Cache-Control": "no-cache"})

    return [Route(base + pages.url_path(each), page, methods=["GET"]) for each in pages.PAGES if each != pages.DEFAULT]


BASE = base_path(config.get_option("server.baseUrlPath"))
app = st.App("app.py", routes=page_routes(BASE, page_document(INDEX_HTML.read_text(encoding="utf-8"), BASE)))
