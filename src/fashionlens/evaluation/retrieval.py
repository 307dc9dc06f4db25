"""Retrieval metrics (consumer-to-shop, text→image) and exact top-k ranking of a gallery by embeddings.

Every metric is computed from one thing per query: the sorted 1-based ranks at which its ground truths appear
in its ranking (`truth_ranks`; inf for a ground truth the ranking does not contain, e.g. a truncated one).

- top-k accuracy: fraction of queries with *any* ground truth in the top k, i.e. a hit rate. This is the
  DeepFashion2 consumer-to-shop protocol ("top-k retrieval accuracy").
- R@k: fraction of a query's ground truths found in its top k, averaged over queries. Equals top-k accuracy
  when every query has exactly one ground truth (text→image with one photo per text).
- mAP: mean over queries of average precision, the mean over a query's ground truths of the precision at the
  rank where each is found; one missing from the ranking contributes precision 0.
- median rank: median over queries of the rank of the first ground truth.

Gallery composition (distractors, whether a query's own image is in the gallery) is the caller's: the metrics
score the rankings they are given. Queries without any ground truth are excluded from every metric and
counted separately (`n_no_truth`): they can be neither right nor wrong.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from fashionlens.evaluation._ids import check_same_ids

if TYPE_CHECKING:
    import torch

#: Ranks of one query's ground truths, sorted ascending, 1-based, inf where a ground truth was not ranked.
Ranks = np.ndarray


def truth_ranks(ranking: Iterable[Hashable], targets: Collection[Hashable]) -> Ranks:
    """Sorted 1-based ranks of the distinct `targets` in `ranking` (first occurrence); inf where absent.

    Works for id rankings and for rows of gallery indices alike, e.g. from `rank_gallery` or
    `np.argsort(-scores, axis=1)` for a precomputed score matrix.
    """
    wanted = set(targets)
    found: dict[Hashable, int] = {}
    for rank, item in enumerate(ranking, start=1):
        if item in wanted and item not in found:
            found[item] = rank
            if len(found) == len(wanted):
                break
    return np.array(sorted(found.values()) + [math.inf] * (len(wanted) - len(found)), dtype=np.float64)


def topk_accuracy(ranks: Sequence[Ranks], k: int) -> float:
    """Fraction of queries with at least one ground truth in the top `k`."""
    return float(np.mean([r[0] <= k for r in _checked(ranks)]))


def recall_at_k(ranks: Sequence[Ranks], k: int) -> float:
    """Fraction of each query's ground truths in its top `k`, averaged over queries."""
    return float(np.mean([np.mean(r <= k) for r in _checked(ranks)]))


def mean_average_precision(ranks: Sequence[Ranks]) -> float:
    """Mean over queries of AP = mean over ground truths of (ground truths up to its rank) / its rank."""
    return float(np.mean([np.mean(np.arange(1, len(r) + 1) / r) for r in _checked(ranks)]))


def median_rank(ranks: Sequence[Ranks]) -> float:
    """Median over queries of the first ground truth's rank (inf when that query's truths are unranked)."""
    return float(np.median([r[0] for r in _checked(ranks)]))


def retrieval_metrics(
    rankings: Mapping[Hashable, Sequence[Hashable]],
    truth: Mapping[Hashable, Collection[Hashable]],
    ks: Sequence[int] = (1, 10, 20),
) -> dict[str, float | int | None]:
    """All retrieval metrics for id rankings (best first) against each query's ground-truth ids.

    Both mappings must have the same query ids. Returns `top{k}` and `r@{k}` for each k, `map`,
    `median_rank` (None when the median query has no ground truth in its ranking), `n` (queries scored) and
    `n_no_truth` (queries with an empty ground-truth set, excluded). All rates are fractions.
    """
    check_same_ids(rankings, truth, "rankings", "ground truth")
    if not ks or any(k < 1 for k in ks):
        raise ValueError(f"cut-offs k must be positive integers, got {list(ks)}")
    scored = [q for q in rankings if truth[q]]
    if not scored:
        raise ValueError(f"none of the {len(rankings)} queries has a ground truth")
    ranks = [truth_ranks(rankings[q], truth[q]) for q in scored]
    metrics: dict[str, float | int | None] = {f"top{k}": topk_accuracy(ranks, k) for k in ks}
    metrics |= {f"r@{k}": recall_at_k(ranks, k) for k in ks}
    median = median_rank(ranks)
    metrics |= {
        "map": mean_average_precision(ranks),
        "median_rank": median if math.isfinite(median) else None,
        "n": len(scored),
        "n_no_truth": len(rankings) - len(scored),
    }
    return metrics


def rank_gallery(
    query_emb: np.ndarray | torch.Tensor,
    gallery_emb: np.ndarray | torch.Tensor,
    k: int,
    chunk_size: int = 4096,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-`k` gallery rows for each query by dot product (cosine for L2-normalised embeddings).

    Scores are computed one block of `chunk_size` queries × `chunk_size` gallery rows at a time and merged
    into a running top-k, so memory stays bounded however big the gallery. Ties go to the lower gallery index.
    Returns (scores [Q, k] float32, indices [Q, k] int64), best first; `k` is clipped to the gallery size.
    """
    import torch

    queries = torch.as_tensor(query_emb).float()
    gallery = torch.as_tensor(gallery_emb).float().to(queries.device)
    if queries.ndim != 2 or gallery.ndim != 2 or queries.shape[1] != gallery.shape[1]:
        raise ValueError(
            f"need [Q, D] queries and [G, D] gallery, got {tuple(queries.shape)} and {tuple(gallery.shape)}"
        )
    if k < 1 or len(gallery) == 0:
        raise ValueError(f"need k >= 1 and a non-empty gallery, got k={k} and {len(gallery)} gallery rows")
    k = min(k, len(gallery))
    all_scores, all_indices = [], []
    with torch.inference_mode():
        for start in range(0, len(queries), chunk_size):
            block = queries[start : start + chunk_size]
            best_scores = block.new_empty((len(block), 0))
            best_indices = torch.empty((len(block), 0), dtype=torch.long, device=block.device)
            for g_start in range(0, len(gallery), chunk_size):
                g_block = gallery[g_start : g_start + chunk_size]
                scores = torch.cat([best_scores, block @ g_block.T], dim=1)
                columns = torch.arange(g_start, g_start + len(g_block), device=block.device)
                indices = torch.cat([best_indices, columns.expand(len(block), -1)], dim=1)
                # A stable sort keeps earlier (lower-index) candidates first among equal scores.
                order = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :k]
                best_scores, best_indices = scores.gather(1, order), indices.gather(1, order)
            all_scores.append(best_scores.cpu())
            all_indices.append(best_indices.cpu())
    if not all_scores:
        return np.zeros((0, k), dtype=np.float32), np.zeros((0, k), dtype=np.int64)
    return torch.cat(all_scores).numpy(), torch.cat(all_indices).numpy()


def _checked(ranks: Sequence[Ranks]) -> Sequence[Ranks]:
    if len(ranks) == 0:
        raise ValueError("no queries to score")
    if any(len(r) == 0 for r in ranks):
        raise ValueError("every query needs at least one ground truth; leave out those without")
    return ranks
