"""A long session keeps no old sentence's trace: each page rerun with new sentences, then the live traces counted.

Streamlit keeps the widget metadata of a chart that answers clicks after the chart changes (the chart's id follows its
figure), and with it the chart's callback. A callback defined in a page script holds that script run's globals, so it
would keep every sentence's trace, figures and arrays alive (issue 13: about 2 MB a sentence on the Attention page).
"""

from __future__ import annotations

import gc
from functools import partial

import pytest
from app_helpers import APP_PATH, PAGES, models_dir  # noqa: F401  (models_dir is a fixture)
from streamlit.testing.v1 import AppTest

from model.inspect.trace import Trace
from viz_app import clicks, ui

SENTENCES = [f"A {colour} dog runs on the grass." for colour in ("brown", "black", "white", "small", "big", "old")]
PAGES_WITH_SENTENCE_WIDGETS = [page for page in PAGES if page not in ("positional",)]


def live_traces() -> int:
    gc.collect()
    return sum(type(item) is Trace for item in gc.get_objects())


@pytest.mark.parametrize("page", PAGES_WITH_SENTENCE_WIDGETS)
def test_new_sentences_free_the_old_traces(page: str, models_dir) -> None:  # noqa: F811
    at = AppTest.from_file(str(APP_PATH), default_timeout=60)
    at.run()
    if PAGES[page]:
        at.switch_page(f"views/{PAGES[page]}.py")
    at.run()
    assert not at.exception, at.exception
    before = live_traces()
    for text in SENTENCES:
        at.text_area(key="sentence").set_value(text).run()
        assert not at.exception, at.exception
    after = live_traces()
    # the last run's trace may stay referenced by its widgets; none of the five before it may
    assert after - before <= 1, f"{page}: {after - before} more traces alive after {len(SENTENCES)} sentences"


def test_a_page_defined_callback_is_refused_for_a_clickable_chart() -> None:
    def in_page() -> None: ...

    in_page.__module__ = "__main__"  # what a function defined in a page script reports
    assert ui.defined_in_page(in_page) and ui.defined_in_page(partial(in_page))
    assert not ui.defined_in_page(clicks.head_clicked)
    assert not ui.defined_in_page(partial(clicks.importance_clicked, "encoder.self_attn"))
