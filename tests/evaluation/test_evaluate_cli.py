"""`fashionlens evaluate captions|retrieval`: JSON outputs, table views, user errors, and the model mode."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from fashionlens.cli import app
from fashionlens.cli import evaluate as evaluate_cli
from fashionlens.evaluation.captions import caption_metrics

runner = CliRunner()


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def run(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def caption_files(tmp_path: Path) -> tuple[Path, Path]:
    pred = write_jsonl(
        tmp_path / "pred.jsonl",
        [
            {"id": 1, "caption": "A red dress with long sleeves."},
            {"id": "2", "caption": "Blue slim jeans."},
            {"id": "3", "caption": "A white t-shirt."},
        ],
    )
    ref = write_jsonl(
        tmp_path / "ref.jsonl",
        [
            {"id": "1", "captions": ["A red long-sleeved dress.", "A long dress in red."]},
            {"id": "2", "caption": "Slim blue denim jeans."},
            {"id": "3", "description": "A plain white cotton T-shirt."},
            {"id": "3", "caption": "White tee."},  # a second line adds a reference
        ],
    )
    return pred, ref


def test_captions_json_equals_the_library(caption_files: tuple[Path, Path]) -> None:
    code, out, _ = run(
        "evaluate", "captions", "--pred", caption_files[0], "--ref", caption_files[1], "--json"
    )
    assert code == 0
    metrics = json.loads(out)
    assert list(metrics) == ["bleu4", "rouge_l", "meteor", "cider", "n"]
    expected = caption_metrics(
        {"1": "A red dress with long sleeves.", "2": "Blue slim jeans.", "3": "A white t-shirt."},
        {
            "1": ["A red long-sleeved dress.", "A long dress in red."],
            "2": ["Slim blue denim jeans."],
            "3": ["A plain white cotton T-shirt.", "White tee."],
        },
    )
    assert metrics == pytest.approx(expected)
    assert metrics["n"] == 3


def test_captions_table_shows_percent(caption_files: tuple[Path, Path]) -> None:
    code, out, _ = run("evaluate", "captions", "--pred", caption_files[0], "--ref", caption_files[1])
    assert code == 0
    _, json_out, _ = run(
        "evaluate", "captions", "--pred", caption_files[0], "--ref", caption_files[1], "--json"
    )
    rows = dict(line.split() for line in out.splitlines() if not line.startswith("("))
    assert float(rows["METEOR"]) == pytest.approx(100 * json.loads(json_out)["meteor"], abs=0.005)
    assert set(rows) == {"BLEU-4", "ROUGE-L", "METEOR", "CIDEr"}


def test_captions_user_errors_exit_2_with_a_message(caption_files: tuple[Path, Path], tmp_path: Path) -> None:
    ref = caption_files[1]
    extra = write_jsonl(tmp_path / "extra.jsonl", [{"id": "9", "caption": "a skirt"}])
    code, _, err = run("evaluate", "captions", "--pred", extra, "--ref", ref)
    assert code == 2
    assert "ids in predictions but not in references 1: '9'" in err
    assert "Traceback" not in err
    duplicate = write_jsonl(
        tmp_path / "dup.jsonl", [{"id": "1", "caption": "a"}, {"id": "1", "caption": "b"}]
    )
    code, _, err = run("evaluate", "captions", "--pred", duplicate, "--ref", ref)
    assert (code, "appears more than once" in err) == (2, True)
    code, _, err = run("evaluate", "captions", "--pred", tmp_path / "missing.jsonl", "--ref", ref)
    assert (code, "missing.jsonl" in err) == (2, True)


def test_retrieval_from_rankings_json(tmp_path: Path) -> None:
    # The hand-made rankings of test_retrieval_metrics: first truths at ranks 2, 1, 4, 2; one query without.
    rankings = {
        "q1": ["a", "b", "c", "d", "e"],
        "q2": ["c", "a", "b"],
        "q3": ["d", "e", "f", "g"],
        "q4": ["a", "b"],
        "q5": ["e", "a", "b", "c"],
    }
    truth = {"q1": ["b", "d"], "q2": ["c"], "q3": ["x", "g"], "q4": [], "q5": ["a", "b", "c"]}
    r = write_jsonl(tmp_path / "r.jsonl", [{"id": q, "ranked": v} for q, v in rankings.items()])
    t = write_jsonl(tmp_path / "t.jsonl", [{"id": q, "targets": v} for q, v in truth.items()])
    code, out, _ = run("evaluate", "retrieval", "--rankings", r, "--truth", t, "--json")
    assert code == 0
    metrics = json.loads(out)
    assert metrics["top1"] == pytest.approx(0.25)
    assert metrics["top10"] == metrics["top20"] == 1.0
    assert metrics["map"] == pytest.approx(163 / 288)
    assert (metrics["n"], metrics["n_no_truth"], metrics["median_rank"]) == (4, 1, 2.0)
    code, out, _ = run("evaluate", "retrieval", "--rankings", r, "--truth", t)
    rows = dict(line.rsplit(maxsplit=1) for line in out.splitlines()[:7])
    assert code == 0
    assert rows == {"top-1": "25.00", "top-10": "100.00", "top-20": "100.00", "R@1": "25.00", "R@10": "87.50",
                    "R@20": "87.50", "mAP": "56.60"}  # fmt: skip
    assert "median rank  2.0" in out


def test_retrieval_needs_one_complete_source(tmp_path: Path) -> None:
    r = write_jsonl(tmp_path / "r.jsonl", [{"id": "q", "ranked": ["a"]}])
    for args in (["--rankings", r], ["--rankings", r, "--truth", r, "--model", "tiny-random"], []):
        code, _, err = run("evaluate", "retrieval", *args)
        assert code == 2 and "give either --rankings and --truth" in err


class ColourModel:
    """Stand-in with the model API: an image's embedding is its mean colour, a text's the colours it names."""

    words = ("red", "green", "blue")

    def eval(self) -> ColourModel:
        return self

    def embed_images(self, images: list[Image.Image]) -> torch.Tensor:
        means = torch.tensor(np.array([np.asarray(im, dtype=np.float32).mean(axis=(0, 1)) for im in images]))
        return torch.nn.functional.normalize(means + 1e-3, dim=1)

    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        named = torch.tensor([[float(w in t) for w in self.words] for t in texts])
        return torch.nn.functional.normalize(named + 1e-3, dim=1)


def colour_image(path: Path, colours: list[tuple[int, int, int]]) -> Path:
    """A 40x40 photo in vertical stripes of the given colours (equal widths)."""
    pixels = np.zeros((40, 40, 3), dtype=np.uint8)
    width = 40 // len(colours)
    for k, colour in enumerate(colours):
        pixels[:, k * width : (k + 1) * width] = colour
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture
def manifests(tmp_path: Path) -> tuple[Path, Path]:
    red, green, blue = (255, 0, 0), (0, 255, 0), (0, 0, 255)
    images = tmp_path / "images"
    images.mkdir()
    for name, colours in {
        "red": [red],
        "green": [green],
        "blue": [blue],
        "street": [red, red, red, blue],
    }.items():
        colour_image(images / f"{name}.png", colours)
    (images / "broken.png").write_bytes(b"not a png")
    gallery = write_jsonl(
        tmp_path / "gallery.jsonl",
        [
            {"id": "g-red", "image": "images/red.png", "item_id": "red"},
            {"id": "g-green", "image": "images/green.png", "item_id": "green"},
            {"id": "g-blue", "image": "images/blue.png", "item_id": "blue"},
            {"id": "g-broken", "image": "images/broken.png", "item_id": "blue"},  # skipped, not fatal
        ],
    )
    queries = write_jsonl(
        tmp_path / "queries.jsonl",
        [
            # Three quarters red, the blue garment in the last quarter: right only when cropped to its box.
            {"id": "q-blue", "image": "images/street.png", "bbox": [30, 0, 40, 40], "item_id": "blue",
             "text": "a blue shirt"},
            {"id": "q-green", "image": "images/green.png", "item_id": "green", "text": "green trousers"},
            {"id": "q-none", "image": "images/red.png", "text": "a red coat"},  # no item_id: no ground truth
        ],
    )  # fmt: skip
    return queries, gallery


@pytest.mark.parametrize(
    ("args", "top1"),
    [
        (["--mode", "image", "--crop"], 1.0),  # the crop finds the blue garment
        (["--mode", "image"], 0.5),  # the full street photo is mostly red: wrong at top-1
        (["--mode", "text"], 1.0),
    ],
)
def test_retrieval_model_mode(
    manifests: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, args: list[str], top1: float
) -> None:
    monkeypatch.setattr(evaluate_cli, "_load_model", lambda name: ColourModel())
    queries, gallery = manifests
    code, out, err = run(
        "evaluate", "retrieval", "--model", "x", "--queries", queries, "--gallery", gallery, *args, "--json"
    )
    assert code == 0, err
    metrics = json.loads(out)
    assert metrics["top1"] == top1
    assert (metrics["n"], metrics["n_no_truth"], metrics["top10"]) == (2, 1, 1.0)
    assert "skipped 1 of 4 gallery: g-broken" in err


def test_retrieval_model_mode_with_tiny_random(manifests: tuple[Path, Path]) -> None:
    try:
        import fashionlens.model  # noqa: F401
    except ImportError:
        pytest.skip("model package not built yet")
    queries, gallery = manifests
    for mode in ("image", "text"):
        code, out, err = run(
            "evaluate", "retrieval", "--model", "tiny-random", "--queries", queries, "--gallery", gallery,
            "--mode", mode, "--crop", "--json", "--batch-size", "2",
        )  # fmt: skip
        assert code == 0, err
        metrics = json.loads(out)
        assert (metrics["n"], metrics["n_no_truth"]) == (2, 1)
        assert metrics["top10"] == 1.0  # three gallery images: every truth is in the top 10
        assert 0 < metrics["map"] <= 1


def test_retrieval_unknown_model_is_a_clear_error(manifests: tuple[Path, Path]) -> None:
    try:
        import fashionlens.model  # noqa: F401
    except ImportError:
        pytest.skip("model package not built yet")
    queries, gallery = manifests
    code, _, err = run(
        "evaluate", "retrieval", "--model", "no-such-model", "--queries", queries, "--gallery", gallery
    )
    assert code == 2 and "cannot load model 'no-such-model'" in err and "Traceback" not in err
