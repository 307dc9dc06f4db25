"""BLIP-2's objectives on one batch of matching (image, text) pairs: image-text contrastive (ITC),
image-text matching with hard negatives (ITM); the caption LM loss is the LLM's own (see `FashionBlip2`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fashionlens.model.config import Pooling

#: BLIP-2 clamps its learnable temperature to this range.
TEMPERATURE_RANGE = (0.001, 0.5)


def pool_queries(query_embeddings: torch.Tensor) -> torch.Tensor:
    """Retrieval image embedding [N, D] from L2-normalised projected query outputs [N, Q, D]: the
    L2-normalised mean over queries. The one pooling used for indexing, search and evaluation."""
    return F.normalize(query_embeddings.mean(dim=1), dim=-1)


def image_text_similarity(
    query_embeddings: torch.Tensor, text_embeddings: torch.Tensor, pooling: Pooling
) -> torch.Tensor:
    """Cosine similarity [N_images, N_texts] of normalised query outputs [N, Q, D] and texts [M, D]:
    BLIP-2's max over queries, or the similarity of the mean-pooled retrieval embedding."""
    if pooling == "mean":
        return pool_queries(query_embeddings) @ text_embeddings.t()
    return torch.einsum("iqd,td->itq", query_embeddings, text_embeddings).amax(dim=-1)


def itc_loss(similarity: torch.Tensor, temperature: torch.Tensor, same_text: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE over a square similarity matrix whose diagonal holds the matching pairs.

    `same_text[i, j]` marks pairs with identical captions (common with template captions): they count as
    positives too, with the target probability spread evenly over them, instead of as false negatives.
    """
    logits = similarity / temperature.clamp(*TEMPERATURE_RANGE)
    targets = same_text.float() / same_text.sum(dim=1, keepdim=True)
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.t(), targets)) / 2


def hard_negatives(similarity: torch.Tensor, same_text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For each image a negative text, and for each text a negative image, sampled in proportion to their
    softmaxed ITC similarity (hard negatives, as BLIP-2); pairs with the same caption are never drawn.
    A row with no valid candidate (every caption in the batch is the same) falls back to the next item."""
    with torch.no_grad():
        weights = similarity.float().softmax(dim=1).masked_fill(same_text, 0)
        weights_t = similarity.float().t().softmax(dim=1).masked_fill(same_text, 0)
        n = similarity.shape[0]
        fallback = torch.roll(torch.eye(n, dtype=weights.dtype, device=weights.device), 1, dims=1)
        weights = torch.where(weights.sum(1, keepdim=True) > 0, weights, fallback)
        weights_t = torch.where(weights_t.sum(1, keepdim=True) > 0, weights_t, fallback)
        return torch.multinomial(weights, 1).squeeze(1), torch.multinomial(weights_t, 1).squeeze(1)


def itm_loss(positive_logits: torch.Tensor, negative_logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the 2-way match head: label 1 for matching pairs, 0 for the mined negatives."""
    logits = torch.cat([positive_logits, negative_logits])
    labels = torch.cat(
        [
            torch.ones(len(positive_logits), dtype=torch.long, device=logits.device),
            torch.zeros(len(negative_logits), dtype=torch.long, device=logits.device),
        ]
    )
    return F.cross_entropy(logits, labels)
