"""Turn runs/study/results.json into docs/results.md tables and the loss-curve figure."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

ROWS = ("a", "b", "c", "d", "raw", "ship")
TOPK = [("top-1", "top1"), ("top-10", "top10"), ("top-20", "top20")]
#: Retrieval tables: (title, task key in results.json, [(column header, metric key)]).
RETRIEVAL = [
    (
        "Text → image on dev product photos (each description finds its photo)",
        "text_to_image",
        [("R@1", "top1"), ("R@10", "top10"), ("mAP", "map")],
    ),
    ("Street garment → catalogue product (same subcategory and main colour)", "street_to_shop", TOPK),
    ("Consumer-to-shop proxy (augmented dev photo → its original among dev photos)", "consumer_proxy", TOPK),
    ("Synthetic consumer-to-shop (consumer render → its item's shop render)", "synthetic_c2s", TOPK),
]


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def table(results: dict, columns: list[tuple[str, str, str]]) -> str:
    """Markdown table: one row per variant, columns given as (header, task key, metric key)."""
    lines = ["| model | " + " | ".join(h for h, _, _ in columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for key in ROWS:
        row = results.get(key)
        if not row:
            continue
        cells = [pct((row.get(task) or {}).get(metric)) for _, task, metric in columns]
        if all(c == "–" for c in cells):
            continue
        lines.append(f"| {row['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def caption_table(results: dict) -> str:
    lines = [
        "| model | BLEU-4 | ROUGE-L | METEOR | CIDEr | category named | main colour named |",
        "|---|---|---|---|---|---|---|",
    ]
    for key in ROWS:
        metrics = (results.get(key) or {}).get("captions")
        if not metrics:
            continue
        attrs = metrics["attributes"]
        lines.append(
            f"| {results[key]['name']} | {pct(metrics['bleu4'])} | {pct(metrics['rouge_l'])} | "
            f"{pct(metrics['meteor'])} | {pct(metrics['cider'])} | "
            f"{pct(attrs['category'])} | {pct(attrs['color'])} |"
        )
    return "\n".join(lines)


def loss_curves(run_dirs: dict[str, Path], out_png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for label, run in run_dirs.items():
        series: dict[str, list[tuple[int, float]]] = defaultdict(list)
        path = run / "metrics.csv"
        if not path.exists():
            continue
        with path.open() as f:
            for step, _epoch, name, value in csv.reader(f):
                series[name].append((int(step), float(value)))
        for name, axis in (("loss", axes[0]), ("dev_r10", axes[1])):
            if series[name]:
                steps, values = zip(*series[name], strict=True)
                axis.plot(steps, values, label=label)
    axes[0].set(title="training loss (ITC + ITM + LM)", xlabel="step")
    axes[1].set(title="dev text->image R@10", xlabel="step")
    for axis in axes:
        axis.legend()
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)


def retrieval_grid(results: dict, out_png: Path, thumb: int = 112) -> None:
    """Figure 4.2 style: for each model, each street query photo followed by its top-5 dev product photos."""
    from PIL import Image, ImageDraw

    from fashionlens.images import load_image

    rows = [(key, ex) for key in ROWS for ex in (results.get(key) or {}).get("examples", [])]
    if not rows:
        return
    sheet = Image.new("RGB", (thumb * 6 + 8, thumb * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (key, example) in enumerate(rows):
        for c, path in enumerate([example["query"], *example["ranked"]]):
            image = load_image(path)
            image.thumbnail((thumb - 4, thumb - 4))
            sheet.paste(image, (c * thumb + (8 if c else 0) + 2, r * thumb + 2))
        draw.text((4, r * thumb + 4), f"({key})", fill="red")
    sheet.save(out_png)


def write_report(results: dict, out: Path, docs: Path) -> str:
    """Markdown of every measured row (also written to runs/study/tables.md for docs/results.md)."""
    figures = docs / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    repo = docs.parent
    loss_curves(
        {"(a)": repo / "runs/mini-descriptions", "(b)": repo / "runs/mini-mixed"}, figures / "loss.png"
    )
    grid_rows = {k: v for k, v in results.items() if k in ("ship", "d", "raw")}
    # Made of the shared photos, which never enter the repository: drawn under runs/, not docs/.
    retrieval_grid(grid_rows, out / "retrieval_grid.png")
    parts = ["### Captions vs dev descriptions (×100)\n\n" + caption_table(results)]
    parts += [
        f"### {title}\n\n" + table(results, [(h, task, m) for h, m in columns])
        for title, task, columns in RETRIEVAL
    ]
    text = "\n\n".join(parts) + "\n"
    (out / "tables.md").write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    write_report(
        json.loads((root / "runs/study/results.json").read_text()), root / "runs/study", root / "docs"
    )
