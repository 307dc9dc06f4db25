"""Evaluation as in the thesis: caption metrics (COCO protocol), attribute mentions, retrieval metrics."""

from fashionlens.evaluation.captions import (
    CaptionMetricError,
    attribute_mentions,
    caption_attribute_accuracy,
    caption_metrics,
)
from fashionlens.evaluation.retrieval import (
    mean_average_precision,
    median_rank,
    rank_gallery,
    recall_at_k,
    retrieval_metrics,
    topk_accuracy,
    truth_ranks,
)

__all__ = [
    "CaptionMetricError",
    "attribute_mentions",
    "caption_attribute_accuracy",
    "caption_metrics",
    "mean_average_precision",
    "median_rank",
    "rank_gallery",
    "recall_at_k",
    "retrieval_metrics",
    "topk_accuracy",
    "truth_ranks",
]
