"""The Q-Former: transformers' `Blip2QFormerModel` with the text branch on (`use_qformer_text_input`), its
`Blip2TextEmbeddings`, and the learned query tokens; plus the weight mappings that initialise it.

Key names follow transformers' `Blip2ForImageTextRetrieval` (`qformer.*`, `embeddings.*`, `query_tokens`),
so BLIP-2 checkpoints load by name. Each Q-Former layer has one self-attention shared by queries and text,
a cross-attention to the image tokens (every `cross_attention_frequency` layers, queries only), and two
FFNs: `intermediate_query`/`output_query` for queries, `intermediate`/`output` for text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import nn
from transformers import Blip2QFormerConfig, Blip2QFormerModel
from transformers.models.blip_2.modeling_blip_2 import Blip2TextEmbeddings

from fashionlens.model.config import QFormerConfig

INIT_STD = 0.02  # BERT's initializer_range


def hf_qformer_config(config: QFormerConfig, encoder_hidden_size: int) -> Blip2QFormerConfig:
    return Blip2QFormerConfig(
        vocab_size=config.vocab_size,
        hidden_size=config.hidden_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        intermediate_size=config.intermediate_size,
        max_position_embeddings=config.max_position_embeddings,
        cross_attention_frequency=config.cross_attention_frequency,
        encoder_hidden_size=encoder_hidden_size,
        use_qformer_text_input=True,
        initializer_range=INIT_STD,
    )


def build_qformer(
    config: QFormerConfig, encoder_hidden_size: int
) -> tuple[Blip2QFormerModel, Blip2TextEmbeddings, nn.Parameter]:
    """Randomly initialised (BERT-style) Q-Former, text embeddings and query tokens [1, Q, H]."""
    hf_config = hf_qformer_config(config, encoder_hidden_size)
    qformer = Blip2QFormerModel(hf_config)
    embeddings = Blip2TextEmbeddings(hf_config)
    for table in (embeddings.word_embeddings, embeddings.position_embeddings):
        nn.init.normal_(table.weight, std=INIT_STD)
    query_tokens = nn.Parameter(torch.empty(1, config.num_query_tokens, config.hidden_size))
    nn.init.normal_(query_tokens, std=INIT_STD)
    return qformer, embeddings, query_tokens


_BERT_LAYER = re.compile(r"^encoder\.layer\.(\d+)\.(.+)$")
#: BERT layer sub-keys -> Q-Former layer sub-keys. The FFN goes to both the text FFN and the query FFN.
_BERT_LAYER_MAP: dict[str, tuple[str, ...]] = {
    "attention.self.": ("attention.attention.",),
    "attention.output.": ("attention.output.",),
    "intermediate.": ("intermediate.", "intermediate_query."),
    "output.": ("output.", "output_query."),
}


def qformer_state_from_bert(bert: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map BERT (BertModel) weights onto the Q-Former, as BLIP-2 initialises its Q-Former from BERT-base.

    Self-attention and the FFN of every layer (copied to both the text and the query FFN), word embeddings,
    position embeddings with BERT's token-type-0 embedding folded in (the Q-Former has no token types), and
    BERT's embedding LayerNorm as `qformer.layernorm` (applied to text and query embeddings alike).
    Cross-attention has no BERT counterpart and keeps its random init. The pooler is dropped.
    """
    state = {
        "embeddings.word_embeddings.weight": bert["embeddings.word_embeddings.weight"],
        "embeddings.position_embeddings.weight": bert["embeddings.position_embeddings.weight"]
        + bert["embeddings.token_type_embeddings.weight"][0],
        "qformer.layernorm.weight": bert["embeddings.LayerNorm.weight"],
        "qformer.layernorm.bias": bert["embeddings.LayerNorm.bias"],
    }
    for key, value in bert.items():
        match = _BERT_LAYER.match(key)
        if match is None:
            continue
        layer, rest = match.groups()
        prefix = next(p for p in _BERT_LAYER_MAP if rest.startswith(p))
        for target in _BERT_LAYER_MAP[prefix]:
            state[f"qformer.encoder.layer.{layer}.{target}{rest[len(prefix) :]}"] = value
    return state


#: Parameters of a Blip2ForImageTextRetrieval (stage-1) checkpoint that the OPT checkpoints lack.
_TEXT_BRANCH = re.compile(
    r"^(embeddings\.(word|position)_embeddings\.|qformer\.encoder\.layer\.\d+\.(intermediate|output)\.|"
    r"vision_projection\.|text_projection\.|itm_head\.)"
)
#: Parameters taken from a Blip2ForConditionalGeneration (stage-2) checkpoint; it has no text branch.
_QUERY_PATH = ("query_tokens", "language_projection.", "qformer.")


def state_from_blip2(
    generation: Mapping[str, torch.Tensor], retrieval: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Q-Former and heads from BLIP-2's two checkpoints: the query path (queries, self- and cross-attention,
    query FFN, LayerNorm) and language projection from the OPT checkpoint, the text branch (text embeddings,
    text FFN, vision/text projections, ITM head) from the stage-1 retrieval checkpoint."""
    state = {key: value for key, value in generation.items() if key.startswith(_QUERY_PATH)}
    state.update({key: value for key, value in retrieval.items() if _TEXT_BRANCH.match(key)})
    return state
