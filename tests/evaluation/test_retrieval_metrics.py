"""Retrieval metrics on hand-made rankings with several ground truths per query; exact top-k ranking."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fashionlens.evaluation.retrieval import (
    mean_average_precision,
    median_rank,
    rank_gallery,
    recall_at_k,
    retrieval_metrics,
    topk_accuracy,
    truth_ranks,
)

# Query -> ranking (best first) and its ground truths. Ranks of the truths, worked out by hand:
#   q1: b at 2, d at 4           AP = (1/2 + 2/4) / 2           = 1/2
#   q2: c at 1                   AP = 1
#   q3: g at 4, x never ranked   AP = (1/4 + 0) / 2             = 1/8
#   q4: no ground truth          left out, counted in n_no_truth
#   q5: a at 2, b at 3, c at 4   AP = (1/2 + 2/3 + 3/4) / 3     = 23/36
RANKINGS = {
    "q1": ["a", "b", "c", "d", "e"],
    "q2": ["c", "a", "b"],
    "q3": ["d", "e", "f", "g"],
    "q4": ["a", "b"],
    "q5": ["e", "a", "b", "c"],
}
TRUTH = {"q1": ["b", "d"], "q2": ["c"], "q3": ["x", "g"], "q4": [], "q5": ["a", "b", "c"]}


def test_hand_made_rankings() -> None:
    metrics = retrieval_metrics(RANKINGS, TRUTH, ks=(1, 3, 5))
    assert metrics["n"] == 4
    assert metrics["n_no_truth"] == 1
    # top-k: any truth in the top k. First truth ranks: q1 2, q2 1, q3 4, q5 2.
    assert metrics["top1"] == pytest.approx(1 / 4)
    assert metrics["top3"] == pytest.approx(3 / 4)
    assert metrics["top5"] == pytest.approx(1.0)
    # R@k: share of each query's truths in its top k, averaged.
    assert metrics["r@1"] == pytest.approx((0 + 1 + 0 + 0) / 4)
    assert metrics["r@3"] == pytest.approx((1 / 2 + 1 + 0 + 2 / 3) / 4)
    assert metrics["r@5"] == pytest.approx((1 + 1 + 1 / 2 + 1) / 4)
    assert metrics["map"] == pytest.approx((1 / 2 + 1 + 1 / 8 + 23 / 36) / 4)
    assert metrics["median_rank"] == 2.0


def test_default_cutoffs_are_the_thesis_ones() -> None:
    metrics = retrieval_metrics(RANKINGS, TRUTH)
    assert {"top1", "top10", "top20", "r@1", "r@10", "r@20", "map", "median_rank", "n", "n_no_truth"} == set(
        metrics
    )
    assert metrics["top10"] == metrics["top20"] == 1.0
    assert metrics["r@10"] == pytest.approx((1 + 1 + 1 / 2 + 1) / 4)  # x is in no ranking


def test_metric_functions_on_truth_ranks() -> None:
    ranks = [truth_ranks(RANKINGS[q], TRUTH[q]) for q in ("q1", "q2", "q3", "q5")]
    np.testing.assert_array_equal(ranks[2], [4, math.inf])
    assert topk_accuracy(ranks, 2) == pytest.approx(3 / 4)
    assert recall_at_k(ranks, 2) == pytest.approx((1 / 2 + 1 + 0 + 1 / 3) / 4)
    assert mean_average_precision(ranks) == pytest.approx(163 / 288)
    assert median_rank(ranks) == 2.0


def test_truth_ranks_counts_first_occurrence_and_distinct_targets() -> None:
    np.testing.assert_array_equal(truth_ranks(["a", "a", "b"], ["b", "a", "a"]), [1, 3])
    # Works on rows of gallery indices too, e.g. numpy ints against Python ints.
    np.testing.assert_array_equal(truth_ranks(np.array([5, 2, 7]), {7, 2}), [2, 3])


def test_one_truth_per_query_makes_recall_equal_accuracy() -> None:
    rankings = {"a": ["1", "2", "3"], "b": ["3", "1", "2"], "c": ["2", "3", "1"]}
    truth = {"a": ["2"], "b": ["3"], "c": ["1"]}
    metrics = retrieval_metrics(rankings, truth, ks=(1, 2))
    assert metrics["top1"] == metrics["r@1"] == pytest.approx(1 / 3)
    assert metrics["top2"] == metrics["r@2"] == pytest.approx(2 / 3)
    assert metrics["map"] == pytest.approx((1 / 2 + 1 + 1 / 3) / 3)  # reciprocal rank with one truth


def test_median_rank_beyond_truncated_rankings_is_none() -> None:
    metrics = retrieval_metrics({"a": ["x"], "b": ["y"], "c": ["z"]}, {"a": ["x"], "b": ["q"], "c": ["q"]})
    assert metrics["median_rank"] is None
    assert metrics["top1"] == pytest.approx(1 / 3)


def test_mismatched_ids_and_empty_truth_are_errors() -> None:
    with pytest.raises(ValueError, match=r"ids in rankings but not in ground truth 1: 'q9'"):
        retrieval_metrics({**RANKINGS, "q9": ["a"]}, TRUTH)
    with pytest.raises(ValueError, match=r"ids in ground truth but not in rankings 1: 'q2'"):
        retrieval_metrics({q: r for q, r in RANKINGS.items() if q != "q2"}, TRUTH)
    with pytest.raises(ValueError, match="none of the 1 queries has a ground truth"):
        retrieval_metrics({"q": ["a"]}, {"q": []})
    with pytest.raises(ValueError, match="positive"):
        retrieval_metrics(RANKINGS, TRUTH, ks=(0,))
    with pytest.raises(ValueError, match="at least one ground truth"):
        topk_accuracy([np.array([1.0]), np.array([])], 1)


@pytest.mark.parametrize("as_torch", [False, True])
def test_rank_gallery_is_exact_with_chunks_and_breaks_ties_by_index(as_torch: bool) -> None:
    rng = np.random.default_rng(0)
    gallery = rng.normal(size=(23, 8)).astype(np.float32)
    gallery /= np.linalg.norm(gallery, axis=1, keepdims=True)  # cosine: a row is its own best match
    gallery[17] = gallery[4]  # a tie: the lower index must come first
    queries = np.concatenate([rng.normal(size=(6, 8)).astype(np.float32), gallery[4:5]])
    expected = np.argsort(-(queries @ gallery.T), axis=1, kind="stable")
    q, g = (torch.from_numpy(queries), torch.from_numpy(gallery)) if as_torch else (queries, gallery)
    for chunk_size in (3, 5, 4096):
        scores, indices = rank_gallery(q, g, k=10, chunk_size=chunk_size)
        assert indices.shape == scores.shape == (7, 10)
        np.testing.assert_array_equal(indices, expected[:, :10])
        np.testing.assert_allclose(
            scores, np.take_along_axis(queries @ gallery.T, expected[:, :10], axis=1), rtol=1e-5
        )
    assert list(indices[-1, :2]) == [4, 17]
    _, full = rank_gallery(q, g, k=100, chunk_size=5)  # k beyond the gallery: the whole gallery, ranked
    np.testing.assert_array_equal(full, expected)


def test_rank_gallery_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match=r"\[Q, D\]"):
        rank_gallery(np.zeros((2, 3)), np.zeros((4, 5)), k=1)
