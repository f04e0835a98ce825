"""Links that reopen a view: choices go into the query string and come back from it; bad values are dropped."""

from __future__ import annotations

import json
from pathlib import Path

from app_helpers import APP_PATH, models_dir  # noqa: F401  (models_dir is a fixture)
from streamlit.testing.v1 import AppTest

from model.nn.names import HeadRef
from viz_app import links

HEAD = HeadRef("decoder.cross_attn", 1, 2)


def test_round_trip_of_every_kind_of_value() -> None:
    state = {
        "model": "multi30k-en-de",
        "sentence": "Two dogs, one ball & a <b>tag</b>.",
        "att_layer": 1,
        "att_zero": [HEAD, HeadRef("encoder.self_attn", 0, 3)],
        "att_uniform": [],
        "att_temperature": 0.5,
        "lab_inspect": HEAD,
    }
    params = links.current(state)
    assert "uniform" not in params  # empty choices stay out of the link
    assert params["zero"] == "decoder.1.cross_attn:2,encoder.0.self_attn:3"
    restored: dict = {}
    assert links.restore(params, restored) == []
    assert {k: v for k, v in restored.items() if k != links.RESTORED_FLAG} == {
        k: v for k, v in state.items() if k != "att_uniform"
    }


def test_bad_values_are_dropped_and_restore_runs_once() -> None:
    state: dict = {}
    dropped = links.restore(
        {"layer": "-1", "head": "two", "temperature": "1e9", "zero": "decoder.0.cross_attn:1,nonsense", "text": "x"},
        state,
    )
    assert sorted(dropped) == ["head", "layer", "temperature"]
    assert state["att_zero"] == [HeadRef("decoder.cross_attn", 0, 1)] and state["sentence"] == "x"
    assert links.restore({"text": "again"}, state) == [] and state["sentence"] == "x"


def test_a_copied_link_reopens_the_same_view(models_dir: Path) -> None:  # noqa: F811
    first = AppTest.from_file(str(APP_PATH), default_timeout=60)
    first.run()
    first.text_area(key="sentence").set_value("A dog runs on the beach.").run()
    first.switch_page("views/attention.py")
    first.run()
    first.radio(key="att_kind").set_value("decoder.cross_attn").run()
    first.selectbox(key="att_layer").set_value(1).run()
    first.selectbox(key="att_head").set_value(2).run()
    first.run()  # the head reruns only its own sections (st.fragment); a full run shows the sidebar again
    first.multiselect(key="att_zero").set_value([HeadRef("encoder.self_attn", 0, 1)]).run()
    assert not first.exception, first.exception
    link = dict(first.query_params)
    assert link["text"] == "A dog runs on the beach." and link["kind"] == "decoder.cross_attn"

    second = AppTest.from_file(str(APP_PATH), default_timeout=60)
    for name, value in link.items():
        second.query_params[name] = value
    second.run()
    second.switch_page("views/attention.py")
    second.run()
    assert not second.exception, second.exception
    assert second.text_area(key="sentence").value == "A dog runs on the beach."
    assert second.radio(key="att_kind").value == "decoder.cross_attn"
    assert (second.selectbox(key="att_layer").value, second.selectbox(key="att_head").value) == (1, 2)
    assert second.multiselect(key="att_zero").value == [HeadRef("encoder.self_attn", 0, 1)]
    titles = [e.proto.spec for e in second.get("plotly_chart")]
    assert titles == [e.proto.spec for e in first.get("plotly_chart")]


def test_a_link_with_values_the_model_lacks_still_opens(models_dir: Path) -> None:  # noqa: F811
    at = AppTest.from_file(str(APP_PATH), default_timeout=60)
    for name, value in {"layer": "99", "head": "99", "zero": "decoder.7.cross_attn:99", "model": "nope"}.items():
        at.query_params[name] = value
    at.run()
    at.switch_page("views/attention.py")
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="att_layer").value == 0 and at.multiselect(key="att_zero").value == []


def test_a_link_opens_the_decoding_chart_at_its_step(models_dir: Path) -> None:  # noqa: F811
    at = AppTest.from_file(str(APP_PATH), default_timeout=60)
    at.query_params["text"] = "A dog runs on the beach."
    at.query_params["step"] = "2"
    at.run()
    at.switch_page("views/decoding.py")
    at.run()
    assert not at.exception, at.exception
    assert at.number_input(key="dec_step").value == 2
    (spec,) = [json.loads(e.proto.spec) for e in at.get("plotly_chart")]
    assert spec["layout"]["sliders"][0]["active"] == 2
    assert at.query_params["step"] == ["2"] or at.query_params["step"] == "2"
    fresh = AppTest.from_file(str(APP_PATH), default_timeout=60)
    fresh.query_params["step"] = "999"  # a step this translation does not have: the chart opens at 0
    fresh.run()
    fresh.switch_page("views/decoding.py")
    fresh.run()
    assert not fresh.exception, fresh.exception
    assert fresh.number_input(key="dec_step").value == 0


class FakeParams:
    """st.query_params as links.write uses it, counting the writes (each one a message to the browser)."""

    def __init__(self, values: dict[str, str] | None = None) -> None:
        self.values = dict(values or {})
        self.writes = 0

    def to_dict(self) -> dict[str, str]:
        return dict(self.values)

    def from_dict(self, values) -> None:  # type: ignore[no-untyped-def]
        self.values = dict(values)
        self.writes += 1


def test_the_url_is_written_only_when_it_changes_and_a_bare_one_is_kept_through_the_first_run() -> None:
    state: dict = {"model": "m", "sentence": "A dog.", "att_layer": 0}
    bare = FakeParams()
    assert not links.write(bare, state) and bare.writes == 0  # a bare URL already reopens the first run's view
    state[links.SETTLED_FLAG] = True
    assert links.write(bare, state) and bare.values == {"model": "m", "text": "A dog.", "layer": "0"}
    assert not links.write(bare, state) and bare.writes == 1  # the same choices again: nothing sent
    state["att_layer"] = 2
    assert links.write(bare, state) and bare.values["layer"] == "2" and bare.writes == 2

    fresh: dict = {"model": "m", "sentence": "A dog.", "att_layer": 0}
    link = FakeParams({"text": "A dog.", "layer": "0", "head": "nonsense"})
    assert links.write(link, fresh) and link.values == {"model": "m", "text": "A dog.", "layer": "0"}  # normalised


def test_a_bare_first_visit_keeps_its_url_and_the_first_change_writes_the_whole_view(models_dir: Path) -> None:  # noqa: F811
    at = AppTest.from_file(str(APP_PATH), default_timeout=60)
    at.switch_page("views/attention.py")
    at.run()
    assert not at.exception, at.exception
    assert dict(at.query_params) == {}
    at.selectbox(key="att_layer").set_value(1).run()
    link = dict(at.query_params)
    assert link["layer"] == "1" and link["kind"] == "encoder.self_attn" and link["text"] and link["model"]
