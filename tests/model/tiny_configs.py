"""Tiny architectures of the real checkpoints' parts, shared by the model tests."""

TINY_VISION = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}
TINY_QFORMER = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 64,
    "cross_attention_frequency": 1,
    "vocab_size": 30522,
    "max_position_embeddings": 64,
}
TINY_OPT = {
    "model_type": "opt",
    "vocab_size": 30522,
    "hidden_size": 32,
    "word_embed_proj_dim": 32,
    "ffn_dim": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "max_position_embeddings": 128,
}
