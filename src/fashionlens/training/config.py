"""Training recipe as a typed dataclass, loaded from YAML (`configs/*.yaml`).

Defaults follow the thesis (section 3.2): AdamW with betas (0.9, 0.98), weight decay 0.01, 224 px inputs,
no augmentation, LoRA rank 8 on query/key. Unknown keys are errors, so a typo never silently trains
with a default.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import yaml

CaptionKind = Literal["description", "template"]


@dataclass
class SourceConfig:
    """One caption source mixed into training.

    `kind: description` is the natural one-sentence caption (the thesis's "public" data);
    `kind: template` is the template caption built from the LLM-generated tags (the "generated" data).
    `weight` is the source's share of sampled pairs.
    """

    kind: CaptionKind
    weight: float = 1.0
    dataset: str = "clothing"
    root: str = "../shared/data/clothing"
    split: str | None = "train"
    #: Restrict to photos from these label `source`s (e.g. product photos only); empty = all.
    photo_sources: list[str] = field(default_factory=list)


@dataclass
class TrainConfig:
    """Everything one training run needs; written next to its checkpoints for reproducibility."""

    model: str = "fashionlens-mini"
    #: Keyword overrides passed to create_model (e.g. finetune: qformer, loss weights).
    model_overrides: dict[str, Any] = field(default_factory=dict)
    sources: list[SourceConfig] = field(default_factory=lambda: [SourceConfig(kind="description")])
    #: Dev split used for periodic evaluation (text->image retrieval on dev descriptions).
    dev: SourceConfig | None = field(default_factory=lambda: SourceConfig(kind="description", split="dev"))
    out_dir: str = "runs/default"
    feature_cache: str = ".cache/features"
    seed: int = 0
    batch_size: int = 32
    grad_accum: int = 1
    epochs: float = 5.0
    lr: float = 1e-4
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)
    warmup_steps: int = 50
    eval_every: int = 100
    save_every: int = 100
    log_every: int = 10
    num_workers: int = 0
    #: Glob patterns of parameter names; when given, the optimiser updates only these (the model's other
    #: trainable weights keep their values and are still saved), e.g. a caption phase that trains the LLM's
    #: LoRA and the language projection and leaves the retrieval space exactly as it was.
    train_only: list[str] = field(default_factory=list)

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        _reject_unknown(cls, data, "training config")
        data = dict(data)
        if "sources" in data:
            data["sources"] = [_source(s) for s in data["sources"]]
        if data.get("dev") is not None:
            data["dev"] = _source(data["dev"])
        if "betas" in data:
            data["betas"] = tuple(data["betas"])
        config = cls(**data)
        if not config.sources:
            raise ValueError("training config: `sources` must name at least one caption source")
        if any(s.weight <= 0 for s in config.sources):
            raise ValueError("training config: every source weight must be > 0")
        return config

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        data = asdict(self)
        data["betas"] = list(self.betas)
        return data


def resolve_path(path: str, base: Path) -> Path:
    """Paths in a recipe (out_dir, feature_cache, dataset roots) are relative to `base`, not the process's
    current directory, so one recipe works from anywhere."""
    resolved = Path(path)
    return resolved if resolved.is_absolute() else (base / resolved).resolve()


def _source(data: dict[str, Any]) -> SourceConfig:
    _reject_unknown(SourceConfig, data, "source")
    return SourceConfig(**data)


def _reject_unknown(cls: type, data: dict[str, Any], what: str) -> None:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{what}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
