"""Caption metrics: equal to pycocoevalcap's own scorers on a toy set, hand-checkable extremes, and the Java
failure modes the wrappers exist for."""

from __future__ import annotations

import pytest

from fashionlens.evaluation import captions as captions_module
from fashionlens.evaluation.captions import CaptionMetricError, caption_metrics, ptb_tokenize

# Several references per id, punctuation, capitals, a contraction, non-ASCII text: what the PTB step handles.
PREDICTIONS = {
    "1": "A red dress with long sleeves.",
    "2": "Blue jeans, slim fit!",
    "3": "a white t-shirt with a round neck",
    "4": "A beige café-au-lait trench coat.",
    "5": "A black leather jacket with a zip.",
    "6": "a green skirt",
}
REFERENCES = {
    "1": ["A red long-sleeved dress.", "A long-sleeved dress in red with a round neckline."],
    "2": ["Slim blue denim jeans with five pockets."],
    "3": ["A plain white cotton T-shirt with a round neck.", "White tee, round neck.", "A white t-shirt."],
    "4": ["A beige trench coat with a belt."],
    "5": ["A black biker jacket in leather with a diagonal zip.", "Black leather jacket, zipped."],
    "6": ["A pleated green midi skirt.", "The woman's skirt is green and pleated."],
}


def pycocoevalcap_scores(predictions: dict[str, str], references: dict[str, list[str]]) -> dict[str, float]:
    """The numbers pycocoevalcap itself gives: its PTBTokenizer, Bleu(4), Meteor, Rouge and Cider classes."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    gts = PTBTokenizer().tokenize({i: [{"caption": c} for c in refs] for i, refs in references.items()})
    res = PTBTokenizer().tokenize({i: [{"caption": c}] for i, c in predictions.items()})
    meteor = Meteor()
    try:
        meteor_score = meteor.compute_score(gts, res)[0]
    finally:
        del meteor
    return {
        "bleu4": Bleu(4).compute_score(gts, res, verbose=0)[0][3],
        "rouge_l": Rouge().compute_score(gts, res)[0],
        "meteor": meteor_score,
        "cider": Cider().compute_score(gts, res)[0],
    }


@pytest.fixture(scope="module")
def toy_metrics() -> dict[str, float]:
    return caption_metrics(PREDICTIONS, REFERENCES)


@pytest.mark.integration
def test_toy_set_equals_pycocoevalcap(toy_metrics: dict[str, float]) -> None:
    expected = pycocoevalcap_scores(PREDICTIONS, REFERENCES)
    for name, value in expected.items():
        assert toy_metrics[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
    assert toy_metrics["n"] == len(PREDICTIONS)
    # Not a degenerate toy set: every metric is strictly between its extremes.
    assert all(0 < toy_metrics[name] < 1 for name in ("bleu4", "rouge_l", "meteor"))
    assert toy_metrics["cider"] > 0


def test_identical_captions_score_perfectly(toy_metrics: dict[str, float]) -> None:
    references = {i: [c] for i, c in PREDICTIONS.items()}
    metrics = caption_metrics(PREDICTIONS, references)
    assert metrics["bleu4"] == pytest.approx(1.0, abs=1e-6)  # pycocoevalcap adds a tiny smoothing epsilon
    assert metrics["rouge_l"] == pytest.approx(1.0)
    assert metrics["meteor"] == pytest.approx(1.0)
    # CIDEr-D of a perfect match is 10 (its x10 scale) when each id's n-grams are unique to that id.
    assert metrics["cider"] == pytest.approx(10.0, rel=0.05)
    assert metrics["cider"] > toy_metrics["cider"]


def test_disjoint_captions_score_zero() -> None:
    predictions = {"a": "one two three four", "b": "five six seven eight"}
    references = {"a": ["nine ten eleven twelve"], "b": ["red green blue white"]}
    metrics = caption_metrics(predictions, references)
    assert metrics["bleu4"] == pytest.approx(0.0, abs=1e-6)
    assert metrics["rouge_l"] == 0.0
    assert metrics["meteor"] == 0.0
    assert metrics["cider"] == 0.0


def test_ptb_tokenize_matches_pycocoevalcap_tokenizer() -> None:
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    texts = ["A Woman's RED dress, (long)!", "Naïve café-au-lait blouse’s hem...", "T-shirt; size: M?"]
    expected = PTBTokenizer().tokenize({str(k): [{"caption": t}] for k, t in enumerate(texts)})
    assert ptb_tokenize(texts) == [expected[str(k)][0] for k in range(len(texts))]
    # pycocoevalcap's quirk, kept: brackets become "-lrb-"/"-rrb-" (its filter lists them in upper case).
    assert ptb_tokenize(["a (long) dress."]) == ["a -lrb- long -rrb- dress"]


def test_ptb_tokenize_keeps_outputs_aligned_with_inputs() -> None:
    tokens = ptb_tokenize(["first", "", "line\nbreak\u2028and\rseparators", "c|||d", "last"])
    assert tokens[:3] == ["first", "", "line break and separators"]
    assert "|||" not in tokens[3]  # Meteor's field separator cannot survive tokenisation
    assert tokens[4] == "last"


def test_ids_missing_on_either_side_are_listed() -> None:
    with pytest.raises(ValueError, match=r"in predictions but not in references 1: 'x'") as error:
        caption_metrics({"x": "a", "1": "b"}, {"1": ["b"], "y": ["c"], "z": ["d"]})
    assert "in references but not in predictions 2: 'y', 'z'" in str(error.value)


def test_empty_reference_list_is_an_error() -> None:
    with pytest.raises(ValueError, match="non-empty list"):
        caption_metrics({"1": "a dress"}, {"1": []})


def test_missing_java_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CaptionMetricError, match="need Java"):
        caption_metrics({"1": "a red dress"}, {"1": ["a red dress"]})


@pytest.mark.integration
def test_meteor_survives_a_foreign_locale_and_a_dead_jvm(
    monkeypatch: pytest.MonkeyPatch, toy_metrics: dict[str, float]
) -> None:
    # Under a German JVM locale pycocoevalcap's Meteor dies with InputMismatchException (issue #15 et al.);
    # JAVA_TOOL_OPTIONS reaches every JVM started from here, the kept one is killed so a new one starts.
    monkeypatch.setenv("JAVA_TOOL_OPTIONS", "-Duser.language=de -Duser.country=DE")
    kept = captions_module._meteor
    assert kept is not None
    kept.process.kill()
    kept.process.wait()
    assert caption_metrics(PREDICTIONS, REFERENCES)["meteor"] == pytest.approx(toy_metrics["meteor"])
    assert captions_module._meteor is not kept


def test_meteor_start_failure_quotes_the_jvm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(captions_module, "METEOR_HEAP_SIZES", ("lots",))
    with pytest.raises(
        CaptionMetricError, match=r"Meteor could not start; -Xmxlots: .*Invalid maximum heap size"
    ):
        captions_module._Meteor.start()


@pytest.mark.integration
def test_meteor_falls_back_to_a_smaller_heap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(captions_module, "METEOR_HEAP_SIZES", ("lots", "1G"))
    meteor = captions_module._Meteor.start()
    try:
        assert meteor.score(["a red dress"], [["a red dress"]]) == pytest.approx(1.0)
    finally:
        meteor.close()
