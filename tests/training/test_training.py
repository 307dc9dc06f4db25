"""Training recipe parsing, caption-source mixing, and the loop end to end on tiny-random."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from fashionlens.data.synthetic import generate_catalogue
from fashionlens.jsonl import read_jsonl, write_jsonl
from fashionlens.model import create_model
from fashionlens.training.config import SourceConfig, TrainConfig
from fashionlens.training.data import epoch_batches, load_photos
from fashionlens.training.loop import train


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 synthetic photos whose "description" is the product title, unlike their template caption."""
    folder = tmp_path_factory.mktemp("synthetic")
    manifest = generate_catalogue(24, folder, seed=3, consumer_per_item=0, size=64)
    write_jsonl(manifest, [{**r, "caption": r["title"]} for r in read_jsonl(manifest)])
    return manifest


def recipe(catalogue: Path, out_dir: Path, **overrides) -> TrainConfig:
    source = {"dataset": "manifest", "root": str(catalogue), "split": None}
    return TrainConfig.from_dict(
        {
            "model": "tiny-random",
            "sources": [{"kind": "description", **source}, {"kind": "template", "weight": 3.0, **source}],
            "dev": {"kind": "description", **source},
            "out_dir": str(out_dir),
            "feature_cache": str(out_dir.parent / "features"),
            "batch_size": 8,
            "epochs": 2,
            "warmup_steps": 1,
            "eval_every": 3,
            "save_every": 3,
            "log_every": 1,
            **overrides,
        }
    )


def test_unknown_keys_are_errors() -> None:
    with pytest.raises(ValueError, match=r"unknown key.*learning_rate"):
        TrainConfig.from_dict({"learning_rate": 1e-4})
    with pytest.raises(ValueError, match=r"unknown key.*wieght"):
        TrainConfig.from_dict({"sources": [{"kind": "description", "wieght": 2}]})


def test_yaml_recipes_in_repo_parse() -> None:
    for path in sorted(Path(__file__).resolve().parents[2].glob("configs/*.yaml")):
        config = TrainConfig.from_yaml(path)
        assert config.betas == (0.9, 0.98) and config.weight_decay == 0.01, path


def test_sources_mix_by_weight_and_order_is_reproducible(catalogue: Path) -> None:
    config = recipe(catalogue, Path("unused"))
    photos = load_photos(config.sources, Path.cwd())
    assert len(photos) == 24 and all(len(p.texts) == 2 for p in photos)
    first = list(epoch_batches(photos, 8, seed=0, epoch=0))
    assert first == list(epoch_batches(photos, 8, seed=0, epoch=0))
    assert first != list(epoch_batches(photos, 8, seed=0, epoch=1))
    assert sorted(i for indices, _ in first for i in indices) == list(range(24))  # each photo once
    templates = sum(
        text == photos[i].texts[1]
        for epoch in range(40)
        for indices, texts in epoch_batches(photos, 8, seed=0, epoch=epoch)
        for i, text in zip(indices, texts, strict=True)
    )
    assert 0.68 < templates / (40 * 24) < 0.82  # weight 3:1 -> 75 % template captions


def test_missing_source_kind_rejected() -> None:
    with pytest.raises(TypeError):
        SourceConfig()  # type: ignore[call-arg]


def test_train_writes_metrics_models_and_resumes_exactly(catalogue: Path, tmp_path: Path) -> None:
    straight = train(recipe(catalogue, tmp_path / "straight"), base=tmp_path)
    assert straight.steps == 6
    out = tmp_path / "straight"
    names = {row[2] for row in csv.reader((out / "metrics.csv").open())}
    assert {"loss", "itc", "itm", "lm", "lr", "dev_r1", "dev_r10"} <= names
    assert (out / "best" / "model.safetensors").is_file() and (out / "final" / "config.json").is_file()
    assert any((out / "tensorboard").iterdir())

    interrupted = recipe(catalogue, tmp_path / "resumed")
    first = train(interrupted, base=tmp_path, max_steps=3)
    assert first.steps == 3
    with pytest.raises(FileExistsError):
        train(interrupted, base=tmp_path)
    resumed = train(interrupted, base=tmp_path, resume=True)
    assert resumed.steps == 6
    expected = load_file(str(out / "final" / "model.safetensors"))
    got = load_file(str(tmp_path / "resumed" / "final" / "model.safetensors"))
    assert expected.keys() == got.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], msg=name)


def test_train_only_updates_just_the_named_parameters(catalogue: Path, tmp_path: Path) -> None:
    config = recipe(catalogue, tmp_path / "run", epochs=1, train_only=["language_projection.*"], dev=None)
    train(config, base=tmp_path)
    before = load_file(str(tmp_path / "run" / "checkpoints" / "step-3" / "model" / "model.safetensors"))
    start = create_model("tiny-random")
    initial = {n: p.detach() for n, p in start.named_parameters() if p.requires_grad}
    assert before.keys() == initial.keys()  # every trainable weight is still saved
    for name, value in before.items():
        changed = not torch.equal(value, initial[name])
        assert changed == name.startswith("language_projection."), name
