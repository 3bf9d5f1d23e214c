"""The keras-resnet3d port (chapter 03_lung_sliding): shapes, padding, blocks and parameter counts by hand."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from xaibook.models import build
from xaibook.models.resnet3d import ResNet3D, SameConv3d, SameMaxPool3d, l2_param_groups, same_padding


def test_tensorflow_same_padding():
    # out = ceil(n / s); total = (out - 1) s + k - n; the odd pixel goes after
    assert same_padding(60, 7, 2) == (2, 3)      # out 30, total 5
    assert same_padding(30, 3, 2) == (0, 1)      # out 15, total 1
    assert same_padding(15, 3, 2) == (1, 1)      # out 8, total 2
    assert same_padding(8, 3, 1) == (1, 1) and same_padding(1, 3, 2) == (1, 1)


def test_same_conv_matches_an_explicit_asymmetric_pad():
    conv = SameConv3d(1, 1, 3, 2)
    x = torch.randn(1, 1, 6, 5, 4, generator=torch.Generator().manual_seed(0))
    # per axis: 6 -> (0, 1), 5 -> (1, 1), 4 -> (0, 1); F.pad lists the last axis first
    want = nn.functional.conv3d(nn.functional.pad(x, (0, 1, 1, 1, 0, 1)), conv.weight, conv.bias, stride=2)
    torch.testing.assert_close(conv(x), want)
    assert conv(x).shape[2:] == (3, 3, 2)


def test_same_max_pool_ignores_padding():
    x = -torch.ones(1, 1, 2, 2, 2)              # a zero pad would win the max
    assert float(SameMaxPool3d(3, 2)(x).max()) == -1.0


@pytest.fixture(scope="module")
def resnet18():
    return ResNet3D(18)      # He-normal initialisation of 33M weights takes seconds: build it once


def test_resnet18_on_a_60x30x30_clip_ends_at_2x1x1(resnet18):
    model = resnet18.eval()
    shapes = {}
    handles = [getattr(model, name).register_forward_hook(
        lambda m, i, o, name=name: shapes.__setitem__(name, tuple(o.shape)))
        for name in ("stem", "layer1", "layer2", "layer3", "layer4")]
    with torch.no_grad():
        out = model(torch.randn(2, 1, 60, 30, 30))
    for h in handles:
        h.remove()
    assert out.shape == (2, 1)
    assert shapes == {"stem": (2, 64, 15, 8, 8), "layer1": (2, 64, 15, 8, 8), "layer2": (2, 128, 8, 4, 4),
                      "layer3": (2, 256, 4, 2, 2), "layer4": (2, 512, 2, 1, 1)}


def _conv(cin: int, cout: int, k: int) -> int:
    return cin * cout * k ** 3 + cout


def _bn(c: int) -> int:
    return 2 * c


def expected_parameters(depth: int) -> int:
    """keras-resnet3d's trainable parameters, counted from its source."""
    kind, reps = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)), 50: ("bottleneck", (3, 4, 6, 3))}[depth]
    total = _conv(1, 64, 7) + _bn(64)
    cin, filters = 64, 64
    for i, r in enumerate(reps):
        for j in range(r):
            first_of_first = i == 0 and j == 0
            if kind == "basic":
                cout = filters
                total += (0 if first_of_first else _bn(cin)) + _conv(cin, filters, 3) + _bn(filters) + _conv(filters, filters, 3)
            else:
                cout = 4 * filters
                total += ((0 if first_of_first else _bn(cin)) + _conv(cin, filters, 1) + _bn(filters)
                          + _conv(filters, filters, 3) + _bn(filters) + _conv(filters, cout, 1))
            if (j == 0 and i > 0) or cin != cout:
                total += _conv(cin, cout, 1)
            cin = cout
        filters *= 2
    return total + _bn(cin) + cin * 1 + 1


@pytest.mark.parametrize("depth", [18, 34, 50])
def test_parameter_count_matches_the_keras_source(depth):
    with torch.device("meta"):          # counting needs no initialised weights
        model = build(f"resnet3d_{depth}", 1)
    assert sum(p.numel() for p in model.parameters()) == expected_parameters(depth)


@pytest.mark.parametrize("depth", [18, 34, 50])
def test_the_convolutions_that_stride_are_keras_resnet3ds(depth):
    """keras-resnet3d strides in the stem's 7x7x7 convolution and in the FIRST convolution of each stage's
    first block (``init_strides`` goes to the block's first ``_bn_relu_conv3d``): the 3x3x3 one of a basic
    block, the 1x1x1 one of a bottleneck (not the 3x3x3, as torchvision's 'v1.5' does). Shapes and the
    parameter count cannot tell the two apart; this list by hand can."""
    with torch.device("meta"):
        model = build(f"resnet3d_{depth}", 1)
    strided = {name: (tuple(m.kernel_size), tuple(m.stride)) for name, m in model.named_modules()
               if isinstance(m, SameConv3d) and max(m.stride) > 1}
    first = (1, 1, 1) if depth == 50 else (3, 3, 3)
    assert strided == {"stem.0": ((7, 7, 7), (2, 2, 2)),
                       **{f"layer{k}.0.conv1": (first, (2, 2, 2)) for k in (2, 3, 4)}}


def test_keras_batch_norm_first_block_and_initialisation(resnet18):
    model = resnet18
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm3d)]
    assert all(m.eps == 1e-3 and m.momentum == 0.01 for m in bns)
    assert isinstance(model.layer1[0].pre1, nn.Identity) and not isinstance(model.layer1[1].pre1, nn.Identity)
    assert model.layer1[0].shortcut.conv is None and model.layer2[0].shortcut.conv is not None
    w = model.stem[0].weight
    std = math.sqrt(2 / w[0].numel())
    w = w.detach()
    assert float(w.abs().max()) <= 2 * std / 0.8796 + 1e-6 and abs(float(w.std()) - std) < 0.1 * std
    assert all(float(m.bias.abs().max()) == 0 for m in model.modules() if isinstance(m, nn.Conv3d))


def test_l2_goes_to_kernels_only_as_twice_the_factor(resnet18):
    model = resnet18
    kernels, rest = l2_param_groups(model, 1e-4)
    assert kernels["weight_decay"] == 2e-4 and rest["weight_decay"] == 0.0
    n_kernels = sum(1 for m in model.modules() if isinstance(m, (nn.Conv3d, nn.Linear)))
    assert len(kernels["params"]) == n_kernels
    assert len(kernels["params"]) + len(rest["params"]) == len(list(model.parameters()))


def test_no_pretrained_weights_exist():
    with pytest.raises(ValueError, match="no pretrained weights"):
        build("resnet3d_18", 1, pretrained=True)
