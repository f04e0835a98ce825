"""Choosing by clicking and by token: the layers x heads grid and the head lab's importance maps answer a click
(through invisible scatter targets, since plotly selects no heatmap cells), sections rerun alone (st.fragment),
and a chosen query row and key are outlined and followed through the stages."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from app_helpers import (  # noqa: F401  (models_dir is a fixture)
    APP_PATH,
    VIEWPORT,
    launch_chromium,
    models_dir,
    streamlit_server,
    wait_for_app,
)
from playwright.sync_api import sync_playwright
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.testing.v1 import AppTest

from model.nn.names import HeadRef
from viz_app import ui
from viz_app.figures.common import escape_label
from viz_app.head_report import head_title

NORMAL = "A brown dog is running through the grass with a ball in its mouth."


def selection(customdata: list[int], index: int = 0) -> dict:
    """What st.plotly_chart keeps for a click on one scatter point (the fields the browser sends)."""
    point = {"curve_number": 1, "point_number": index, "point_index": index, "x": 0, "y": 0, "customdata": customdata}
    return {"selection": {"points": [point], "point_indices": [index], "box": [], "lasso": []}}


def test_clicked_customdata_reads_the_first_point_or_nothing() -> None:
    assert ui.clicked_customdata(selection([1, 2])) == [1, 2]
    assert ui.clicked_customdata({"selection": {"points": [], "point_indices": [], "box": [], "lasso": []}}) is None
    assert ui.clicked_customdata(None) is None and ui.clicked_customdata({}) is None
    heatmap_point = {"selection": {"points": [{"x": "head 1", "y": "layer 0", "z": 0.3}]}}
    assert ui.clicked_customdata(heatmap_point) is None  # a heatmap cell carries no customdata


def page(at_page: str) -> AppTest:
    at = AppTest.from_file(str(APP_PATH), default_timeout=60)
    at.run()
    at.text_area(key="sentence").set_value(NORMAL).run()
    at.switch_page(f"views/{at_page}.py")
    at.run()
    assert not at.exception, at.exception
    return at


def click(at: AppTest, chart_key: str, customdata: list[int]) -> AppTest:
    """Send the widget value the browser sends after a click on a click target of the chart with this key.

    AppTest cannot click plotly, so this reaches into its runner (_tree, _run) to send that one message; the page's
    own on_select callback then runs exactly as it does behind a real click."""
    chart = next(e for e in at.get("plotly_chart") if e.proto.id.endswith(chart_key) or chart_key in e.proto.id)
    states = at._tree.get_widget_states()
    states.widgets.append(WidgetState(id=chart.proto.id, string_value=json.dumps(selection(customdata))))
    at._run(states)
    assert not at.exception, at.exception
    return at


def stage_note(at: AppTest, head: int) -> str:
    """The note under the stage figure for one head (its frame's last annotation): the cell followed through."""
    spec = next(json.loads(e.proto.spec) for e in at.get("plotly_chart") if "frames" in json.loads(e.proto.spec)
                and "scaled dot-product" in json.loads(e.proto.spec)["layout"]["title"]["text"])  # fmt: skip
    return spec["frames"][head]["layout"]["annotations"][-1]["text"].replace("<br>", " ")


def titles(at: AppTest) -> list[str]:
    return [json.loads(e.proto.spec)["layout"]["title"]["text"] for e in at.get("plotly_chart")]


def test_a_click_on_the_layers_by_heads_grid_opens_that_head_and_reruns_only_what_depends_on_it(
    models_dir: Path,  # noqa: F811
) -> None:
    at = page("attention")
    full = titles(at)
    assert any("every layer (rows)" in t for t in full)
    click(at, "att_layers", [1, 2])
    assert (at.session_state["att_layer"], at.session_state["att_head"]) == (1, 2)
    assert [s.value for s in at.subheader] == ["Layer 1 stage by stage, opened at head 2"]
    assert "Encoder self-attention, layer 1: the mean and every head" in titles(
        at
    )  # a new layer redraws the layer's grids
    assert not at.multiselect  # ... but the page (its sidebar) did not rerun
    assert dict(at.query_params)["layer"] == "1" and dict(at.query_params)["head"] == "2"

    click(at, "att_layers", [1, 0])  # same layer: only the grid of every layer and the stages are drawn again
    assert [s.value for s in at.subheader] == ["Layer 1 stage by stage, opened at head 0"]
    now = titles(at)
    assert not any(t.endswith("the mean and every head") for t in now)
    assert any("every layer (rows)" in t for t in now)
    assert any("scaled dot-product attention of one head" in t for t in now)


def test_a_chosen_query_and_key_are_outlined_and_followed_through(models_dir: Path) -> None:  # noqa: F811
    at = page("attention")
    labels = at.selectbox(key="att_query").options
    assert "followed through (the last row and the key it weights most)" in stage_note(at, head=0)
    at.selectbox(key="att_query").set_value(2).run()
    at.selectbox(key="att_key").set_value(3).run()
    assert not at.exception, at.exception
    assert "(the row and key you chose)" in stage_note(at, head=0)
    assert "One cell of head 3 followed through (the row and key you chose)" in stage_note(at, head=3)
    assert f"query {escape_label(labels[2])} and key {escape_label(labels[3])}:" in stage_note(at, head=3)
    specs = {
        json.loads(e.proto.spec)["layout"]["title"]["text"]: json.loads(e.proto.spec) for e in at.get("plotly_chart")
    }
    assert not any("every layer (rows)" in t for t in specs)  # a token choice reruns only the sections with tokens
    assert not at.multiselect  # (the sidebar did not rerun either)
    weights = next(s for t, s in specs.items() if "scaled dot-product attention" in t)
    boxes = {(s["y0"], s["y1"]) for s in weights["layout"]["shapes"]} | {
        (s["x0"], s["x1"]) for s in weights["layout"]["shapes"]
    }
    assert (1.5, 2.5) in boxes and (2.5, 3.5) in boxes  # row 2 and column 3 outlined
    grid = next(s for t, s in specs.items() if t.endswith("the mean and every head"))
    assert len(grid["layout"]["shapes"]) == 2 * 5  # a row and a column in the mean's and each of the 4 heads' panels


def test_a_click_on_an_importance_map_opens_that_head_in_the_lab(models_dir: Path) -> None:  # noqa: F811
    at = page("heads")
    assert at.selectbox(key="lab_inspect").value != HeadRef("decoder.cross_attn", 0, 3)
    click(at, "lab_importance_decoder.cross_attn", [0, 3])
    assert at.selectbox(key="lab_inspect").value == HeadRef("decoder.cross_attn", 0, 3)
    assert f"{head_title(HeadRef('decoder.cross_attn', 0, 3))}: as trained" in titles(at)


PANEL_CENTRE = """([key, layer, head]) => {
  const gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
  const target = gd._fullData.find(trace => trace.name === 'click target');
  const i = target.customdata.findIndex(c => c[0] === layer && c[1] === head);
  const layout = gd._fullLayout, box = gd.getBoundingClientRect();
  return [box.left + layout._size.l + layout.xaxis.d2p(target.x[i]),
          box.top + layout._size.t + layout.yaxis.d2p(target.y[i])];
}"""
WATCH = """(keys) => { window.__changes = {}; for (const key of keys) {
  const box = document.querySelector(`.st-key-chart-box-${key}`) || document.querySelector(`.st-key-${key}`);
  window.__changes[key] = 0;
  new MutationObserver(() => window.__changes[key]++).observe(box, {subtree: true, childList: true, attributes: true});
} }"""


@pytest.mark.browser
@pytest.mark.slow
def test_clicking_a_head_in_chromium_opens_it_and_leaves_the_grids_alone(models_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    with streamlit_server(models_dir, tmp_path / "streamlit.log") as base_url, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            tab = browser.new_page(viewport=VIEWPORT)
            tab.goto(f"{base_url}/attention")
            wait_for_app(tab)
            tab.wait_for_selector(".st-key-att_layers .js-plotly-plot .main-svg", timeout=60_000)
            tab.locator(".st-key-att_layers").scroll_into_view_if_needed()
            tab.evaluate(WATCH, ["att_grid", "att_stages"])
            x, y = tab.evaluate(PANEL_CENTRE, ["att_layers", 0, 3])
            tab.mouse.move(x, y)
            time.sleep(0.2)
            assert "layer 0, head 3" in tab.locator(".st-key-att_layers .hoverlayer").text_content()
            tab.mouse.click(x, y)
            tab.wait_for_function(
                "() => document.body.innerText.includes('Layer 0 stage by stage, opened at head 3')", timeout=30_000
            )
            wait_for_app(tab)
            time.sleep(0.5)
            changes = tab.evaluate("() => window.__changes")
            assert changes["att_stages"] > 0, changes  # the stage section was drawn again ...
            assert changes["att_grid"] == 0, changes  # ... the layer's grids were not
            assert "head=3" in tab.url
        finally:
            browser.close()
