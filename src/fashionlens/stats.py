"""Caption length statistics: words per caption, per file (thesis Figure 3.6: public vs generated captions).

Reads caption files (`caption`), label files (`description`) and reference files (`captions`, a list).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fashionlens.jsonl import read_jsonl


def record_texts(record: Mapping[str, Any]) -> list[str]:
    """The texts of one record: its `caption`, else its `description`, else its `captions` list."""
    for key in ("caption", "description"):
        if isinstance(record.get(key), str):
            return [record[key]]
    captions = record.get("captions")
    return [c for c in captions if isinstance(c, str)] if isinstance(captions, list) else []


@dataclass(frozen=True)
class WordStats:
    """Words per text (whitespace-separated tokens, as the thesis counts them) in one file."""

    path: Path
    counts: tuple[int, ...]

    @property
    def n(self) -> int:
        return len(self.counts)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.counts)

    @property
    def median(self) -> float:
        return float(statistics.median(self.counts))


def word_stats(path: str | Path) -> WordStats:
    """Word counts of every text in a JSONL file; a file without any text is an error, not an empty stat."""
    counts = tuple(len(text.split()) for record in read_jsonl(path) for text in record_texts(record))
    if not counts:
        raise ValueError(f"{path}: no caption, description or captions field in any line")
    return WordStats(Path(path), counts)


def plot_word_histograms(files: Sequence[str | Path], out_png: str | Path) -> None:
    """Overlaid word-count histograms, one per file, as fractions so files of any size compare."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stats = [word_stats(path) for path in files]
    bins = range(min(min(s.counts) for s in stats), max(max(s.counts) for s in stats) + 2)
    fig, ax = plt.subplots(figsize=(7, 4))
    for s in stats:
        weights = [1 / s.n] * s.n
        label = f"{s.path.name} (n={s.n}, mean {s.mean:.1f}, median {s.median:g})"
        ax.hist(s.counts, bins=bins, weights=weights, alpha=0.5, label=label)
    ax.set_xlabel("Number of words in caption")
    ax.set_ylabel("Fraction of captions")
    ax.legend()
    fig.tight_layout()
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=120)
    plt.close(fig)
