"""Model registry: every chapter builds its networks here (STYLE 3)."""
from __future__ import annotations

from typing import Callable

import torchvision
from torch import nn

from .registry import Registry

MODELS: Registry[Callable[..., nn.Module]] = Registry("model")


class PretrainedWeightsUnavailable(RuntimeError):
    """ImageNet weights were asked for but could not be loaded (no internet, no cache)."""


@MODELS.register("resnet18")
def resnet18(num_classes: int, *, pretrained: bool = False) -> nn.Module:
    """torchvision's ResNet-18 (He et al. 2016) with a ``num_classes`` head.

    ``pretrained=True`` loads ImageNet weights (downloaded once to ``$TORCH_HOME``), then
    replaces the head. Used in chapters 01_foam, 02_cauliflower and 04_steel_defects.
    """
    if not pretrained:
        return torchvision.models.resnet18(weights=None, num_classes=num_classes)
    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    try:
        model = torchvision.models.resnet18(weights=weights)
    except (OSError, RuntimeError) as err:   # URLError is an OSError
        raise PretrainedWeightsUnavailable(
            f"could not load ImageNet weights for ResNet-18 ({err}). Connect to the internet once "
            f"(they are cached in $TORCH_HOME), or run with pretrained=False; the fast profile trains "
            f"from scratch.") from err
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model


def _resnet3d(depth: int) -> Callable[..., nn.Module]:
    def make(num_classes: int, *, pretrained: bool = False, in_channels: int = 1, width: int = 64) -> nn.Module:
        """keras-resnet3d's 3D ResNet (:mod:`xaibook.resnet3d`); ``num_classes=1``: one sigmoid logit.

        No pretrained weights exist for it (the paper trained from scratch). Used in chapter 03_lung_sliding.
        """
        if pretrained:
            raise ValueError(f"resnet3d_{depth} has no pretrained weights (Kolarik et al. train from scratch)")
        from .resnet3d import ResNet3D

        return ResNet3D(depth, num_classes, in_channels, width)

    return make


for _depth in (18, 34, 50):
    MODELS.add(f"resnet3d_{_depth}", _resnet3d(_depth))


def build(name: str, num_classes: int, *, pretrained: bool = False, **options) -> nn.Module:
    return MODELS.get(name)(num_classes, pretrained=pretrained, **options)
