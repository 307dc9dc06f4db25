"""Model configs: the registry parses, round-trips, and rejects typos instead of ignoring them."""

from __future__ import annotations

import pytest

from fashionlens.model import ModelConfig, get_config, list_models


@pytest.mark.parametrize("name", list_models())
def test_registered_configs_round_trip(name: str) -> None:
    config = get_config(name)
    assert config.name == name
    assert ModelConfig.from_dict(config.to_dict()) == config


def test_overrides_merge_into_nested_sections() -> None:
    config = get_config("tiny-random", qformer={"num_hidden_layers": 3}, finetune={"mode": "qformer"})
    assert config.qformer.num_hidden_layers == 3 and config.finetune.mode == "qformer"
    assert config.qformer.hidden_size == get_config("tiny-random").qformer.hidden_size


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"qformer": {"hiden_size": 8}}, r"qformer: unknown field\(s\) \['hiden_size'\]"),
        ({"finetune": {"mode": "full"}}, r"finetune.mode: 'full' is not one of \['lora', 'qformer'\]"),
        ({"itc_pooling": "sum"}, r"config.itc_pooling: 'sum' is not one of \['max', 'mean'\]"),
        ({"loss_weights": {"itc": 1.0, "lm": 1.0}}, r"loss_weights must give exactly"),
        ({"embed_dims": 8}, r"config: unknown field"),
    ],
)
def test_invalid_configs_are_rejected_with_the_field_named(overrides: dict, message: str) -> None:
    data = get_config("tiny-random").to_dict()
    for key, value in overrides.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) and key != "loss_weights" else value
    with pytest.raises(ValueError, match=message):
        ModelConfig.from_dict(data)
