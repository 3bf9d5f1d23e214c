r"""A PyTorch port of keras-resnet3d (JihongJu), the 3D ResNets of Kolarik et al. (chapter 03_lung_sliding).

The paper trained ``Resnet3DBuilder.build_resnet_{18,34,50}`` from keras-resnet3d; torchvision's
``r3d_18``, MONAI's and kenshohara's 3D ResNets are post-activation or stride differently, so none
is that model. This port follows ``resnet3d/resnet3d.py`` line by line:

* stem: 7x7x7 convolution, 64 filters, stride 2, then BN-ReLU, then 3x3x3 max-pool, stride 2,
  ``padding="same"``;
* four stages of 64, 128, 256, 512 filters; the first block of stages 2-4 strides (2, 2, 2), the
  time axis included (a 60x30x30 clip ends at 2x1x1 before pooling);
* pre-activation blocks (BN-ReLU-conv): basic (two 3x3x3 convolutions) for depths 18 and 34,
  bottleneck (1x1x1, 3x3x3, 1x1x1 with 4x filters) for 50; the first block of stage 1 skips its
  first BN-ReLU (the stem has just applied one);
* the shortcut is the raw block input, or a 1x1x1 'valid' convolution with stride
  ``ceil(in / out)`` per axis when the shape changes;
* head: BN-ReLU, global average pooling, one dense layer (one logit for a sigmoid output);
* every convolution and the dense layer have a bias and He-normal kernels (Keras' truncated
  normal); Keras batch norm (epsilon 1e-3, momentum 0.99, i.e. PyTorch ``momentum=0.01``);
  ``kernel_regularizer=l2(1e-4)`` on every kernel, which :func:`l2_param_groups` turns into Adam
  weight decay (Keras adds :math:`\lambda \sum w^2` to the loss, so the gradient gets
  :math:`2\lambda w`).

TensorFlow's 'same' padding is asymmetric for even totals (the extra pixel goes after), and its
'same' max-pool ignores the padding; both are reproduced here. Inputs are (N, C, T, H, W).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

KERAS_BN = {"eps": 1e-3, "momentum": 0.01}
DEPTHS = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)), 50: ("bottleneck", (3, 4, 6, 3))}


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding of one axis: (before, after), the odd pixel after."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel: Sequence[int], stride: Sequence[int], value: float = 0.0) -> torch.Tensor:
    pads: list[int] = []
    for size, k, s in reversed(list(zip(x.shape[2:], kernel, stride))):   # F.pad wants the last axis first
        pads += same_padding(size, k, s)
    return F.pad(x, pads, value=value) if any(pads) else x


def _triple(v: int | Sequence[int]) -> tuple[int, int, int]:
    return (v, v, v) if isinstance(v, int) else tuple(v)  # type: ignore[return-value]


class SameConv3d(nn.Conv3d):
    """``Conv3D(padding="same")`` of Keras: TF's asymmetric zero padding, then a valid convolution."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Sequence[int],
                 stride: int | Sequence[int] = 1) -> None:
        super().__init__(in_channels, out_channels, _triple(kernel_size), _triple(stride), padding=0, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(_pad_same(x, self.kernel_size, self.stride))


class SameMaxPool3d(nn.Module):
    """``MaxPooling3D(padding="same")``: padded positions never win (they are -inf)."""

    def __init__(self, kernel_size: int = 3, stride: int = 2) -> None:
        super().__init__()
        self.kernel_size, self.stride = _triple(kernel_size), _triple(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool3d(_pad_same(x, self.kernel_size, self.stride, value=-math.inf), self.kernel_size, self.stride)


def bn_relu(channels: int) -> nn.Sequential:
    return nn.Sequential(nn.BatchNorm3d(channels, **KERAS_BN), nn.ReLU())


class Shortcut3d(nn.Module):
    """keras-resnet3d's ``_shortcut3d``: identity, or a 1x1x1 'valid' conv with stride ceil(in/out) per axis."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv: nn.Conv3d | None = None
        if stride > 1 or in_channels != out_channels:
            self.conv = nn.Conv3d(in_channels, out_channels, 1, stride=1, bias=True)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        strides = [math.ceil(a / b) for a, b in zip(x.shape[2:], residual.shape[2:])]
        if self.conv is None:
            if any(s > 1 for s in strides):
                raise RuntimeError(f"shortcut without a convolution got input {tuple(x.shape)} and residual "
                                   f"{tuple(residual.shape)}")
            return x + residual
        # the stride depends on the input's size per axis (ceil(in / out)), as in Keras
        return F.conv3d(x, self.conv.weight, self.conv.bias, stride=tuple(strides)) + residual


class BasicBlock3d(nn.Module):
    """Two pre-activated 3x3x3 convolutions and a shortcut (``basic_block``)."""

    expansion = 1

    def __init__(self, in_channels: int, filters: int, stride: int, first_of_first: bool) -> None:
        super().__init__()
        self.pre1 = nn.Identity() if first_of_first else bn_relu(in_channels)
        self.conv1 = SameConv3d(in_channels, filters, 3, stride)
        self.pre2 = bn_relu(filters)
        self.conv2 = SameConv3d(filters, filters, 3)
        self.shortcut = Shortcut3d(in_channels, filters, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x, self.conv2(self.pre2(self.conv1(self.pre1(x)))))


class Bottleneck3d(nn.Module):
    """Pre-activated 1x1x1, 3x3x3 and 1x1x1 (4x filters) convolutions and a shortcut (``bottleneck``)."""

    expansion = 4

    def __init__(self, in_channels: int, filters: int, stride: int, first_of_first: bool) -> None:
        super().__init__()
        self.pre1 = nn.Identity() if first_of_first else bn_relu(in_channels)
        self.conv1 = SameConv3d(in_channels, filters, 1, stride)
        self.pre2 = bn_relu(filters)
        self.conv2 = SameConv3d(filters, filters, 3)
        self.pre3 = bn_relu(filters)
        self.conv3 = SameConv3d(filters, 4 * filters, 1)
        self.shortcut = Shortcut3d(in_channels, 4 * filters, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(self.pre1(x))
        h = self.conv2(self.pre2(h))
        return self.shortcut(x, self.conv3(self.pre3(h)))


class ResNet3D(nn.Module):
    """keras-resnet3d's ``Resnet3DBuilder.build`` (module docstring). Saliency hooks: ``layer1``-``layer4``.

    Args:
        depth: 18, 34 or 50.
        num_outputs: 1 for the paper's single sigmoid unit (the model returns its logit).
        in_channels: 1 for grey ultrasound clips.
        width: filters of the stem and the first stage (64 in keras-resnet3d; each later stage doubles
            it). The fast profile narrows the network to fit a CPU budget; the paper profile keeps 64.
    """

    def __init__(self, depth: int = 18, num_outputs: int = 1, in_channels: int = 1, width: int = 64) -> None:
        super().__init__()
        if depth not in DEPTHS:
            raise ValueError(f"depth must be one of {sorted(DEPTHS)}, got {depth}")
        kind, repetitions = DEPTHS[depth]
        block = BasicBlock3d if kind == "basic" else Bottleneck3d
        if width < 1:
            raise ValueError(f"width must be a positive number of filters, got {width}")
        self.depth, self.width = depth, width
        self.stem = nn.Sequential(SameConv3d(in_channels, width, 7, 2), bn_relu(width), SameMaxPool3d(3, 2))
        channels, filters = width, width
        for i, reps in enumerate(repetitions):
            blocks = []
            for j in range(reps):
                stride = 2 if (j == 0 and i > 0) else 1
                blocks.append(block(channels, filters, stride, first_of_first=(i == 0 and j == 0)))
                channels = filters * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            filters *= 2
        self.head = bn_relu(channels)
        self.fc = nn.Linear(channels, num_outputs)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Keras' He-normal kernels (truncated at two standard deviations) and zero biases."""
        for m in self.modules():
            if isinstance(m, (nn.Conv3d, nn.Linear)):
                fan_in = m.weight[0].numel()
                std = math.sqrt(2.0 / fan_in) / 0.87962566103423978    # Keras' truncated-normal correction
                nn.init.trunc_normal_(m.weight, std=std, a=-2 * std, b=2 * std)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.head(x).mean(dim=(2, 3, 4)))


def l2_param_groups(model: nn.Module, l2: float = 1e-4) -> list[dict]:
    r"""Adam parameter groups giving Keras' ``l2(l2)`` kernel regularizer as weight decay :math:`2\,l2`.

    Keras regularises convolution and dense kernels only (not biases, not batch norm).
    """
    kernels = [m.weight for m in model.modules() if isinstance(m, (nn.Conv3d, nn.Linear))]
    ids = {id(p) for p in kernels}
    rest = [p for p in model.parameters() if id(p) not in ids]
    return [{"params": kernels, "weight_decay": 2 * l2}, {"params": rest, "weight_decay": 0.0}]
