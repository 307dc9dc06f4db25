"""The training loop: one function, run on CPU here and on several GPUs under `accelerate launch`.

Image-encoder features come from the on-disk feature cache (the encoder is frozen), so an epoch costs only
the Q-Former, the projections and the language-model passes. Checkpoints hold the trainable weights, the
optimiser, scheduler and step, and are written atomically, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import time
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from fashionlens.training.config import TrainConfig, resolve_path
from fashionlens.training.data import Photo, epoch_batches, load_photos, steps_per_epoch

CHECKPOINTS = "checkpoints"
STATE_FILE = "trainer_state.json"


@dataclass
class TrainResult:
    out_dir: Path
    steps: int
    best_step: int | None
    best_metric: float | None
    wall_seconds: float


def train(
    config: TrainConfig, *, base: Path, resume: bool = False, max_steps: int | None = None
) -> TrainResult:
    """Train `config.model` on the configured sources; returns where the best and final models are.

    Relative paths in the config (out_dir, feature_cache, dataset roots, a model directory) are taken from
    `base`. `max_steps` stops after that many optimiser steps (smoke runs, a planned interruption) while the
    learning-rate schedule still spans the configured epochs, so `resume` continues on the same curve.
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from transformers import get_cosine_schedule_with_warmup

    from fashionlens.model import create_model
    from fashionlens.model.factory import load_trainable
    from fashionlens.model.feature_cache import FeatureCache

    started = time.perf_counter()
    out_dir = resolve_path(config.out_dir, base)
    if out_dir.exists() and not resume and any((out_dir / CHECKPOINTS).glob("step-*")):
        raise FileExistsError(
            f"{out_dir} already holds checkpoints: pass --resume, or choose another out_dir"
        )
    accelerator = Accelerator(gradient_accumulation_steps=config.grad_accum)
    set_seed(config.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    if accelerator.is_main_process:
        (out_dir / "train_config.json").write_text(json.dumps(config.to_dict(), indent=2))

    model_source = base / config.model if (base / config.model).exists() else config.model
    model = create_model(model_source, **config.model_overrides)
    cache = FeatureCache(resolve_path(config.feature_cache, base))
    photos = load_photos(config.sources, base)
    features = model.image_features([p.image for p in photos], cache=cache)
    dev = _DevSet.build(model, config, base, cache) if config.dev is not None else None

    per_epoch = steps_per_epoch(len(photos), config.batch_size * accelerator.num_processes)
    if per_epoch == 0:
        raise ValueError(f"{len(photos)} training photos are fewer than one batch of {config.batch_size}")
    total_batches = max(config.grad_accum, math.ceil(per_epoch * config.epochs))
    total_steps = total_batches // config.grad_accum
    # max_steps stops early without changing the schedule, so a stopped run resumes onto the same curve.
    stop_batches = total_batches if max_steps is None else min(total_batches, max_steps * config.grad_accum)

    trainable = [
        p
        for name, p in model.named_parameters()
        if p.requires_grad and (not config.train_only or any(fnmatchcase(name, g) for g in config.train_only))
    ]
    if not trainable:
        raise ValueError(f"train_only {config.train_only} matches none of the model's trainable parameters")
    decay = [p for p in trainable if p.ndim >= 2]
    no_decay = [p for p in trainable if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr,
        betas=config.betas,
    )
    scheduler = get_cosine_schedule_with_warmup(optimizer, config.warmup_steps, total_steps)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)

    unwrapped = accelerator.unwrap_model(model)
    state = {"batch": 0, "step": 0, "best_step": None, "best_metric": None}
    if resume:
        latest = _latest_checkpoint(out_dir)
        if latest is None:
            raise FileNotFoundError(f"--resume: no checkpoint under {out_dir / CHECKPOINTS}")
        load_trainable(unwrapped, latest / "model")
        resumable = torch.load(latest / "optimizer.pt", weights_only=False)
        optimizer.load_state_dict(resumable["optimizer"])
        scheduler.load_state_dict(resumable["scheduler"])
        torch.set_rng_state(resumable["torch_rng"])
        state = json.loads((latest / STATE_FILE).read_text())
        accelerator.print(f"resumed from {latest} at step {state['step']}")

    logger = _MetricLogger(out_dir, enabled=accelerator.is_main_process)
    progress = tqdm(
        total=stop_batches // config.grad_accum,
        initial=state["step"],
        desc="train",
        unit="step",
        disable=not accelerator.is_local_main_process,
    )
    model.train()
    batch_index = 0
    for epoch in range(math.ceil(total_batches / max(per_epoch, 1)) + 1):
        for indices, texts in epoch_batches(
            photos, config.batch_size * accelerator.num_processes, config.seed, epoch
        ):
            if batch_index >= stop_batches:
                break
            batch_index += 1
            if batch_index <= state["batch"]:
                continue  # replaying the deterministic order up to the resume point
            shard = slice(
                accelerator.process_index * config.batch_size,
                (accelerator.process_index + 1) * config.batch_size,
            )
            idx = indices[shard]
            batch = {
                "features": features[idx].to(accelerator.device).float(),
                "texts": texts[shard],
                "attributes": [photos[i].sample.attributes for i in idx],
            }
            with accelerator.accumulate(model):
                losses = model(batch)
                accelerator.backward(losses["loss"])
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(trainable, 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            state["batch"] = batch_index
            if not accelerator.sync_gradients:
                continue
            state["step"] += 1
            progress.update(1)
            step = state["step"]
            row = {k: float(v.detach()) for k, v in losses.items() if torch.is_tensor(v) and v.ndim == 0}
            progress.set_postfix(loss=f"{row['loss']:.3f}")
            if step % config.log_every == 0 or step == total_steps:
                logger.log(step, epoch, {**row, "lr": scheduler.get_last_lr()[0]})
            if dev is not None and (step % config.eval_every == 0 or step == total_steps):
                metrics = dev.evaluate(unwrapped)
                logger.log(step, epoch, {f"dev_{k}": v for k, v in metrics.items()})
                model.train()
                if accelerator.is_main_process and (
                    state["best_metric"] is None or metrics["r10"] > state["best_metric"]
                ):
                    state["best_metric"], state["best_step"] = metrics["r10"], step
                    _atomic_save_model(unwrapped, out_dir / "best")
            if step % config.save_every == 0 or step == total_steps or batch_index >= stop_batches:
                _save_checkpoint(accelerator, unwrapped, optimizer, scheduler, out_dir, state)
        if batch_index >= stop_batches:
            break
    progress.close()
    logger.close()
    if accelerator.is_main_process:
        _atomic_save_model(unwrapped, out_dir / "final")
        if dev is None:
            _atomic_save_model(unwrapped, out_dir / "best")
    return TrainResult(
        out_dir, state["step"], state["best_step"], state["best_metric"], time.perf_counter() - started
    )


class _DevSet:
    """Dev text->image retrieval: each dev photo's caption queries the dev photos (R@1, R@10)."""

    def __init__(self, photos: list[Photo], features: torch.Tensor) -> None:
        self.photos = photos
        self.features = features

    @classmethod
    def build(cls, model: Any, config: TrainConfig, base: Path, cache: Any) -> _DevSet:
        photos = load_photos([config.dev], base)
        return cls(photos, model.image_features([p.image for p in photos], cache=cache))

    @torch.no_grad()
    def evaluate(self, model: Any) -> dict[str, float]:
        from fashionlens.evaluation.retrieval import rank_gallery, topk_accuracy, truth_ranks

        model.eval()
        images = model.embed_image_features(self.features.float())
        texts = model.embed_texts([p.texts[0] for p in self.photos])
        _, ranked = rank_gallery(texts, images, k=10)
        ranks = [truth_ranks(row, {i}) for i, row in enumerate(ranked)]
        return {"r1": topk_accuracy(ranks, 1), "r10": topk_accuracy(ranks, 10)}


class _MetricLogger:
    """Metrics to CSV (one row per log, flushed at once) and TensorBoard."""

    def __init__(self, out_dir: Path, enabled: bool) -> None:
        self.enabled = enabled
        if not enabled:
            return
        from torch.utils.tensorboard import SummaryWriter

        self.path = out_dir / "metrics.csv"
        self.file = self.path.open("a", newline="")
        self.writer = SummaryWriter(str(out_dir / "tensorboard"))

    def log(self, step: int, epoch: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        for name, value in values.items():
            self.writer.add_scalar(name, value, step)
            csv.writer(self.file).writerow([step, epoch, name, f"{value:.6g}"])
        self.file.flush()

    def close(self) -> None:
        if self.enabled:
            self.file.close()
            self.writer.close()


def _latest_checkpoint(out_dir: Path) -> Path | None:
    steps = sorted((out_dir / CHECKPOINTS).glob("step-*"), key=lambda p: int(p.name.split("-")[1]))
    complete = [p for p in steps if (p / STATE_FILE).is_file()]
    return complete[-1] if complete else None


def _atomic_save_model(model: Any, target: Path) -> None:
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)


def _save_checkpoint(
    accelerator: Any,
    model: Any,
    optimizer: Any,
    scheduler: Any,
    out_dir: Path,
    state: dict[str, Any],
    keep: int = 2,
) -> None:
    """Write step-N/ fully in a temp dir, then rename: a crash mid-write never leaves a half checkpoint.
    Only trainable weights are saved (the frozen encoder and LLM are rebuilt from the model config)."""
    root = out_dir / CHECKPOINTS
    target = root / f"step-{state['step']}"
    tmp = root / f".step-{state['step']}.tmp"
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        model.save_pretrained(tmp / "model")
        torch.save(
            {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "torch_rng": torch.get_rng_state(),
            },
            tmp / "optimizer.pt",
        )
        (tmp / STATE_FILE).write_text(json.dumps(state))
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        for old in sorted(root.glob("step-*"), key=lambda p: int(p.name.split("-")[1]))[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
