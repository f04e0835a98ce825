"""The Streamlit app, run headless by AppTest on a tiny model: every page, odd sentences, and the widgets."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from app_helpers import APP_PATH, PAGES, TINY_MODEL_NAME, models_dir  # noqa: F401  (models_dir is a fixture)
from streamlit.testing.v1 import AppTest

from model.data.checkpoint import load_pretrained
from model.nn.names import HeadRef
from model.pipeline import MAX_INPUT_CHARS, Translator

MARKUP = "<b>hi</b> <script>alert(1)</script> 🙂"
NORMAL = "A brown dog is running through the grass with a ball in its mouth."
CHART_PAGES = ("translate", "embeddings", "positional", "attention", "decoding")
CHART_BOX_STYLE = re.compile(
    r"<style>\.st-key-chart-box-[\w-]+ \{ overflow-x: auto; \} "
    r'\.st-key-chart-box-[\w-]+ \[data-testid="stElementContainer"\] \{ min-width: \d+px; \}</style>'
)
RAW_MARKUP = re.compile(r"(?<!\\)<\s*/?\s*(b|script)\b", re.IGNORECASE)  # an unescaped tag


def new_app() -> AppTest:
    at = AppTest.from_file(str(APP_PATH), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def set_sentence(at: AppTest, text: str) -> AppTest:
    at.text_area(key="sentence").set_value(text).run()
    return at


def open_page(at: AppTest, page: str) -> AppTest:
    at.switch_page(f"views/{page}.py")
    at.run()
    return at


def chart_specs(at: AppTest) -> list[dict]:
    return [json.loads(element.proto.spec) for element in at.get("plotly_chart")]


def chart_titles(at: AppTest) -> list[str]:
    return [spec["layout"].get("title", {}).get("text", "") for spec in chart_specs(at)]


def assert_clean(at: AppTest, page: str) -> None:
    assert not at.exception, f"{page}: {[e.value for e in at.exception]}"
    assert not at.error, f"{page}: {[e.value for e in at.error]}"


def messages(at: AppTest) -> str:
    return " ".join(str(m.value) for m in [*at.info, *at.warning])


@pytest.fixture(scope="module")
def sentence_limits(models_dir: Path) -> tuple[str, str]:  # noqa: F811
    """(longest sentence the tiny model takes, the same plus one word), built from repeated words."""
    translator = Translator(load_pretrained(models_dir / TINY_MODEL_NAME))
    words = ["dog"]
    while True:
        longer = [*words, "dog"]
        if len(translator.tokenizer.encode(" ".join(longer))) > translator.max_source_tokens:
            break
        words = longer
    at_limit, over = " ".join(words), " ".join([*words, "dog"])
    assert len(translator.source_ids(at_limit)) >= translator.max_source_tokens - 2
    assert len(at_limit) <= MAX_INPUT_CHARS
    return at_limit, over


def test_app_opens_on_the_tiny_model(models_dir: Path) -> None:  # noqa: F811
    at = new_app()
    assert at.selectbox(key="model").value == TINY_MODEL_NAME
    assert at.text_area(key="sentence").value  # an example sentence is filled in
    assert_clean(at, "translate")
    assert chart_specs(at)


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_runs_on_a_normal_sentence(models_dir: Path, page: str) -> None:  # noqa: F811
    at = set_sentence(new_app(), NORMAL)
    open_page(at, page)
    assert_clean(at, page)
    assert at.title, f"{page} has no title"
    if page in CHART_PAGES:
        titles = chart_titles(at)
        assert titles and all(titles), f"{page}: charts without titles {titles}"


def test_empty_sentence_shows_a_notice_on_every_page(models_dir: Path) -> None:  # noqa: F811
    at = set_sentence(new_app(), "   ")
    for page in PAGES:
        open_page(at, page)
        assert_clean(at, page)
        assert "empty" in messages(at), f"{page}: {messages(at)!r}"


def test_longest_sentence_runs_and_one_word_more_is_refused(
    models_dir: Path,  # noqa: F811
    sentence_limits: tuple[str, str],
) -> None:
    at_limit, over = sentence_limits
    at = set_sentence(new_app(), at_limit)
    for page in PAGES:
        open_page(at, page)
        assert_clean(at, page)
        assert not re.search(r"this model takes at most", messages(at)), messages(at)
        assert "longer than 99" in messages(at), f"{page}: no warning that the sentence is unusually long"
        assert chart_specs(at), f"{page} drew no chart for the longest sentence"
    set_sentence(at, over)
    for page in ("translate", "attention", "decoding"):
        open_page(at, page)
        assert_clean(at, page)
        assert re.search(r"has \d+ tokens; this model takes at most \d+", messages(at)), messages(at)
        assert not chart_specs(at) or page == "embeddings"


def test_too_many_characters_are_refused(models_dir: Path) -> None:  # noqa: F811
    at = set_sentence(new_app(), "a" * (MAX_INPUT_CHARS + 1))
    assert_clean(at, "translate")
    assert f"limit is {MAX_INPUT_CHARS:,}" in messages(at)


def test_markup_and_emoji_are_shown_as_text_never_as_html(models_dir: Path) -> None:  # noqa: F811
    at = set_sentence(new_app(), MARKUP)
    for page in PAGES:
        open_page(at, page)
        assert_clean(at, page)
        for element in at.get("html"):  # only the constant style rule that lets a wide chart scroll in its box
            assert CHART_BOX_STYLE.fullmatch(element.proto.body), f"{page} renders raw HTML: {element.proto.body!r}"
        for element in [*at.markdown, *at.caption, *at.info, *at.warning, *at.success, *at.title, *at.subheader]:
            assert not getattr(element.proto, "allow_html", False), f"{page}: HTML enabled in {element.value!r}"
            assert not RAW_MARKUP.search(str(element.value)), f"{page}: unescaped markup in {element.value!r}"
        for group in at.get("button_group"):
            for option in group.proto.options:
                assert not RAW_MARKUP.search(option.content), f"{page}: unescaped markup in chip {option.content!r}"
        for spec in chart_specs(at):
            text = json.dumps(spec)
            assert "<script" not in text and "<b>hi" not in text, f"{page}: unescaped markup in a chart"
    open_page(at, "translate")
    chips = [option.content for group in at.get("button_group") for option in group.proto.options]
    assert any("\\<" in chip for chip in chips)  # '<' shown literally (escaped), e.g. the <s> chip
    assert at.text_area(key="sentence").value == MARKUP


def test_attention_widgets_change_the_charts(models_dir: Path) -> None:  # noqa: F811
    at = open_page(set_sentence(new_app(), NORMAL), "attention")
    titles = chart_titles(at)
    assert titles[0].startswith("Encoder self-attention, layer 0")
    at.radio(key="att_kind").set_value("decoder.cross_attn").run()
    assert_clean(at, "attention")
    assert chart_titles(at)[0].startswith("Cross-attention, layer 0")
    at.selectbox(key="att_layer").set_value(1).run()
    assert_clean(at, "attention")
    titles = chart_titles(at)
    assert titles[0] == "Cross-attention, layer 1: the mean and every head"
    at.selectbox(key="att_head").set_value(2).run()
    assert [s.value for s in at.subheader] == ["Layer 1 stage by stage, opened at head 2"]
    at.run()  # the head reruns only its own sections (st.fragment); a full run shows the sidebar again
    at.multiselect(key="att_zero").set_value([HeadRef("decoder.cross_attn", 0, 0)]).run()
    assert_clean(at, "attention")
    assert "Interventions are on" in " ".join(m.value for m in at.markdown)


def test_decoder_self_attention_marks_masked_cells_in_every_weight_chart(models_dir: Path) -> None:  # noqa: F811
    at = open_page(set_sentence(new_app(), NORMAL), "attention")
    at.radio(key="att_kind").set_value("decoder.self_attn").run()
    assert_clean(at, "attention")
    by_title = {spec["layout"]["title"]["text"]: spec for spec in chart_specs(at)}
    weight_charts = [title for title in by_title if title.endswith("the mean and every head") or "every layer" in title]
    assert len(weight_charts) == 2, list(by_title)
    for title in weight_charts:
        names = {trace.get("name") for trace in by_title[title]["data"]}
        assert "masked (−inf)" in names, f"{title}: masked cells have no colour of their own"
    stages = next(spec for title, spec in by_title.items() if "scaled dot-product attention" in title)
    heatmaps = [t for t in stages["data"] if t["type"] == "heatmap"]
    masked = [t for t in heatmaps if t.get("name") == "masked (−inf)"]
    assert len(masked) == 3  # the mask, the scores plus the mask and the softmax weights grey their masked cells
    assert len({t["coloraxis"] for t in heatmaps[:3]}) == 1  # Q, K and V share one scale
    assert len(stages["frames"]) == len(stages["layout"]["sliders"][0]["steps"]) >= 2  # one frame per head


def test_decoding_page_sends_every_step_to_the_browser_once(models_dir: Path) -> None:  # noqa: F811
    at = open_page(set_sentence(new_app(), NORMAL), "decoding")
    assert_clean(at, "decoding")
    assert not at.get("slider") or all(s.key != "dec_step" for s in at.slider)  # no server-side step any more
    specs = chart_specs(at)
    assert len(specs) == 1, "one figure holds every chart of a step"
    (spec,) = specs
    steps = spec["layout"]["sliders"][0]["steps"]
    last = len(steps) - 1
    assert last >= 2 and [frame["name"] for frame in spec["frames"]] == [str(t) for t in range(last + 1)]
    assert all(step["method"] == "animate" for step in steps)
    assert "decoder layer 0, head 0" in spec["layout"]["title"]["text"]
    text = _markdown(at).replace("\\", "")  # the labels are markdown-escaped
    assert f"Decoder input, positions 0 to {last}" in text and f"Output, steps 0 to {last}" in text
    assert "Row t is the decoder input at position t and predicts the token at position t + 1" in text
    assert "never computed while decoding" in text
    assert "end token" in " ".join(str(c.value) for c in at.caption)
    # Layer, head and the number of candidates are new data: a rerun sends the figure again, with the same steps.
    at.selectbox(key="dec_layer").set_value(1).run()
    at.selectbox(key="dec_head").set_value(2).run()
    at.slider(key="dec_topk").set_value(3).run()
    assert_clean(at, "decoding")
    (spec,) = chart_specs(at)
    assert "decoder layer 1, head 2" in spec["layout"]["title"]["text"]
    assert len(spec["frames"]) == last + 1
    assert len(spec["frames"][0]["data"][0]["customdata"]) == 3  # the candidates of step 0


def _lab(at: AppTest) -> AppTest:
    return open_page(at, "heads")


def _markdown(at: AppTest) -> str:
    return " ".join(str(m.value) for m in at.markdown)


def test_head_lab_page(models_dir: Path) -> None:  # noqa: F811
    at = _lab(new_app())
    assert_clean(at, "heads")
    titles = chart_titles(at)
    assert any("Cross-attention" in t for t in titles) and any("Rollout" in t for t in titles)
    assert "Choose one or more heads" in messages(at)
    every = at.multiselect(key="lab_heads").options
    assert len(every) == 3 * 2 * 4  # three kinds, two layers, four heads
    cross = [HeadRef("decoder.cross_attn", layer, head) for layer in range(2) for head in range(4)]
    at.multiselect(key="lab_heads").set_value(cross).run()
    assert_clean(at, "heads")
    assert "Log-probability of each original token" in chart_titles(at)
    assert "With the change" in chart_titles(at)
    for mode in ("uniform", "only"):
        at.radio(key="lab_mode").set_value(mode).run()
        assert_clean(at, f"heads/{mode}")
    at.toggle(key="lab_norm").set_value(True).run()
    assert_clean(at, "heads/norm")
    assert any("norm-based" in t for t in chart_titles(at))


def test_two_sessions_in_the_lab_never_see_each_others_heads(models_dir: Path) -> None:  # noqa: F811
    first, second = _lab(new_app()), _lab(new_app())
    all_cross = [HeadRef("decoder.cross_attn", layer, head) for layer in range(2) for head in range(4)]
    first.multiselect(key="lab_heads").set_value(all_cross).run()
    second.run()
    assert second.multiselect(key="lab_heads").value == []
    assert "Choose one or more heads" in messages(second)
    assert "Log-probability of each original token" not in chart_titles(second)
    assert "Log-probability of each original token" in chart_titles(first)
    second.multiselect(key="lab_heads").set_value([HeadRef("encoder.self_attn", 0, 1)]).run()
    first.run()
    assert first.multiselect(key="lab_heads").value == all_cross
    assert "8 head(s)" in _markdown(first) and "1 head(s)" in _markdown(second)
