"""fashionlens.model: a BLIP-2-style model that captions clothing photos and embeds images and texts.

    from fashionlens.model import create_model, list_models
    model = create_model("fashionlens-mini").eval()
    model.embed_images(images)   # [N, D] L2-normalised; model.embed_texts(texts) in the same space
    model.caption(images)        # one caption per image

See `blip2.FashionBlip2` for the architecture and the one retrieval pooling used everywhere.
"""

from fashionlens.model.blip2 import FashionBlip2
from fashionlens.model.config import ModelConfig
from fashionlens.model.factory import create_model, get_config, list_models
from fashionlens.model.feature_cache import FeatureCache

__all__ = ["FashionBlip2", "FeatureCache", "ModelConfig", "create_model", "get_config", "list_models"]
