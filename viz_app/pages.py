"""The app's pages in navigation order: the one list that app.py navigates and serve.py serves.

Each page's script is viz_app/views/<name>.py. The first page is the default, shown at the server's root; every
other page is at /<name> (after the server's base URL path, if one is configured).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    """One page: its script's stem under viz_app/views, its title and its Material icon."""

    name: str
    title: str
    icon: str


PAGES: tuple[Page, ...] = (
    Page("overview", "Overview", ":material/account_tree:"),
    Page("translate", "Translate", ":material/translate:"),
    Page("embeddings", "Embeddings", ":material/scatter_plot:"),
    Page("positional", "Positional encoding", ":material/waves:"),
    Page("attention", "Attention", ":material/grid_on:"),
    Page("decoding", "Decoding step by step", ":material/skip_next:"),
    Page("residual", "Residual stream", ":material/stacks:"),
    Page("heads", "Head lab", ":material/science:"),
)
DEFAULT = PAGES[0]


def url_path(page: Page) -> str:
    """The page's path under the server's base URL: '' for the default page, else its name."""
    return "" if page == DEFAULT else page.name
