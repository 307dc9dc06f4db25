"""Tokenizers: BERT WordPiece for the Q-Former text branch, the LLM's own tokenizer for captions."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from fashionlens.model.hub import resolve


def load_tokenizer(source: str) -> PreTrainedTokenizerBase:
    """A tokenizer by Hugging Face id or path (offline packages preferred, see `hub.resolve`)."""
    return AutoTokenizer.from_pretrained(resolve(source))


def end_token_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """The token that ends a caption: EOS, or [SEP] for a BERT-style tokenizer (tiny-random's LLM)."""
    token_id = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id
    if token_id is None:
        raise ValueError(f"tokenizer {tokenizer.name_or_path!r} has neither an EOS nor a SEP token")
    return int(token_id)


def encode_texts(
    tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_tokens: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Q-Former text input: ([CLS] text [SEP]) ids and attention mask, right-padded, [N, L]."""
    encoded = tokenizer(
        list(texts), padding="longest", truncation=True, max_length=max_tokens, return_tensors="pt"
    )
    return encoded["input_ids"], encoded["attention_mask"]


def encode_captions(
    tokenizer: PreTrainedTokenizerBase, captions: Sequence[str], max_tokens: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """LM targets: caption tokens followed by the end token, right-padded, ids and mask [N, L]."""
    end = end_token_id(tokenizer)
    pieces = tokenizer(list(captions), add_special_tokens=False, truncation=True, max_length=max_tokens - 1)
    rows = [[*ids, end] for ids in pieces["input_ids"]]
    length = max(len(row) for row in rows)
    ids = torch.full((len(rows), length), end, dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return ids, mask


def encode_prompt(tokenizer: PreTrainedTokenizerBase, prompt: str, prepend_bos: bool) -> torch.Tensor:
    """Token ids [P] of the text prompt after the soft prompt (optionally after BOS, as OPT expects)."""
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"] if prompt else []
    if prepend_bos:
        if tokenizer.bos_token_id is None:
            raise ValueError(f"prepend_bos is set but tokenizer {tokenizer.name_or_path!r} has no BOS token")
        ids = [tokenizer.bos_token_id, *ids]
    return torch.tensor(ids, dtype=torch.long)


def encode_prompted_captions(
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    captions: Sequence[str],
    max_tokens: int,
    prepend_bos: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """LM input after the soft prompt: each text prompt then its caption and the end token, right-padded.

    Returns ids, attention mask and caption mask [N, L] (1 on the caption and end tokens: the scored ones).
    """
    caption_ids, caption_mask = encode_captions(tokenizer, captions, max_tokens)
    prompt_ids = {p: encode_prompt(tokenizer, p, prepend_bos) for p in set(prompts)}
    pairs = zip(prompts, caption_ids, caption_mask, strict=True)
    rows = [(prompt_ids[p], ids[mask.bool()]) for p, ids, mask in pairs]
    length = max(len(a) + len(b) for a, b in rows)
    ids = torch.full((len(rows), length), end_token_id(tokenizer), dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    scored = torch.zeros((len(rows), length), dtype=torch.long)
    for i, (prompt, caption) in enumerate(rows):
        ids[i, : len(prompt) + len(caption)] = torch.cat([prompt, caption])
        mask[i, : len(prompt) + len(caption)] = 1
        scored[i, len(prompt) : len(prompt) + len(caption)] = 1
    return ids, mask, scored
