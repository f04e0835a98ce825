"""viz_app/serve.py: each page's path answers Streamlit's index.html with the base URL named, so a page opened at its
own path connects at once; in Chromium, with and without a base URL path."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pytest
from app_helpers import (  # noqa: F401  (models_dir is a fixture)
    PAGES,
    VIEWPORT,
    launch_chromium,
    models_dir,
    streamlit_server,
    wait_charts_settled,
    wait_for_app,
)
from playwright.sync_api import sync_playwright

from viz_app import pages, serve

INDEX = "<!DOCTYPE html>\n<html>\n  <head>\n    <title>Streamlit</title>\n  </head>\n  <body></body>\n</html>\n"


@pytest.mark.parametrize(
    ("option", "expected"), [(None, "/"), ("", "/"), ("/", "/"), ("x", "/x/"), ("/x/", "/x/"), ("a/b/", "/a/b/")]
)
def test_base_path_is_the_option_between_single_slashes(option: str | None, expected: str) -> None:
    assert serve.base_path(option) == expected


def test_the_page_document_is_streamlits_with_one_script_first_in_its_head() -> None:
    document = serve.page_document(INDEX, "/x/")
    script = '<script>window.__streamlit = {BACKEND_BASE_URL: window.location.origin + "/x/"};</script>'
    assert document == INDEX.replace("<head>", "<head>" + script)
    assert document.count("<script>") == 1


def test_an_index_without_a_single_head_is_refused() -> None:
    with pytest.raises(ValueError, match="single <head>"):
        serve.page_document("<html><body></body></html>", "/")
    with pytest.raises(ValueError, match="single <head>"):
        serve.page_document("<head></head><head></head>", "/")


def test_the_installed_streamlit_index_takes_the_script() -> None:
    document = serve.page_document(serve.INDEX_HTML.read_text(encoding="utf-8"), "/")
    assert document.index("window.__streamlit") < document.index('<script type="module"')


def test_every_page_but_the_default_has_a_route_under_the_base_path() -> None:
    routes = serve.page_routes("/x/", "doc")
    assert [route.path for route in routes] == [f"/x/{page.name}" for page in pages.PAGES if page != pages.DEFAULT]
    assert all(route.methods == {"GET", "HEAD"} for route in routes)
    assert {name: path for name, path in PAGES.items() if path} == {page.name: page.name for page in pages.PAGES[1:]}


def _open_and_record(base_url: str, page_path: str, charts: int) -> tuple[list[str], str]:
    """Open base_url/page_path?layer=1 in a new Chromium page, then go to the decoding page through the sidebar; the
    paths the browser asked the server for (its websocket's too), and the URL the first page settled at."""
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            asked: list[str] = []
            page.on("request", lambda request: asked.append(urlparse(request.url).path))
            page.on("websocket", lambda socket: asked.append(urlparse(socket.url).path))
            page.goto(f"{base_url}/{page_path}?layer=1")
            wait_for_app(page)
            assert wait_charts_settled(page, expected=charts) >= charts
            assert page.locator('[data-testid="stException"]').count() == 0
            opened = page.url
            # the sidebar still navigates by the pages' own paths
            page.locator('[data-testid="stSidebarNav"] a', has_text="Decoding step by step").click()
            page.wait_for_url(f"{base_url}/decoding**")
            wait_charts_settled(page, expected=1)
            return asked, opened
        finally:
            browser.close()


@pytest.mark.browser
@pytest.mark.parametrize("base", ["", "explorer"])
def test_a_page_opened_at_its_path_connects_at_once(models_dir: Path, base: str) -> None:  # noqa: F811
    with streamlit_server(models_dir, base_path=base) as base_url:
        asked, opened = _open_and_record(base_url, "attention", charts=3)
    assert urlparse(opened).path == urlparse(f"{base_url}/attention").path and "layer=1" in opened  # the view kept
    prefix = f"/{base}/" if base else "/"
    health = [path for path in asked if path.endswith("/_stcore/health")]
    assert health == [f"{prefix}_stcore/health"]  # never /attention/_stcore/health first
    assert not [path for path in asked if "/attention/" in path]
    assert f"{prefix}_stcore/stream" in asked
