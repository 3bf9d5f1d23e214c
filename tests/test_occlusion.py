"""Known answers for occlusion sensitivity: hand-computed maps on linear models, and captum's Occlusion."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from xaibook.saliency import METHODS, Occlusion, class_score, predicted_class


class Linear(nn.Module):
    """score_k = sum(w_k * x) + b_k on the flattened input: occluding a window with baseline 0 changes
    score k by exactly the sum of w_k * x over the window (all channels)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)  # (K, C, *S)
        self.bias = nn.Parameter(torch.zeros(weight.shape[0]) if bias is None else bias)

    def forward(self, x):
        return x.flatten(1) @ self.weight.flatten(1).T + self.bias


def small_convnet(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 6, 3, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3))


def test_hand_computed_map_with_a_cut_edge_window():
    # one row of 6 pixels, two channels; patch 3, stride 2 -> windows [0,3), [2,5), [4,6) (cut at the edge)
    x = torch.tensor([[[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]], [[1.0, 1.0, 1.0, 1.0, 1.0, 1.0]]]])
    w = torch.tensor([[[[1.0, -1.0, 2.0, 0.5, 1.0, -2.0]], [[1.0, 1.0, 1.0, 1.0, 1.0, 1.0]]]])
    c = [1 + 1, -2 + 1, 6 + 1, 2 + 1, 5 + 1, -12 + 1]  # w * x summed over channels: 2, -1, 7, 3, 6, -11
    v0, v1, v2 = c[0] + c[1] + c[2], c[2] + c[3] + c[4], c[4] + c[5]  # 8, 16, -5
    expected = torch.tensor([[[v0, v0, (v0 + v1) / 2, v1, (v1 + v2) / 2, v2]]])
    net = Linear(w, torch.tensor([0.3]))
    got = Occlusion(net, patch=(1, 3), stride=(1, 2)).attribute(x, class_score(0))
    torch.testing.assert_close(got, expected)
    rise = Occlusion(net, patch=(1, 3), stride=(1, 2), sign="rise").attribute(x, class_score(0))
    torch.testing.assert_close(rise, -expected)


def test_hand_computed_map_2d_with_baseline():
    # 3x3 ones, weights 1, baseline 0.5, patch 2 stride 1: each 2x2 window lowers the score by 4 * 0.5 = 2
    x = torch.ones(1, 1, 3, 3)
    net = Linear(torch.ones(1, 1, 3, 3))
    got = Occlusion(net, patch=2, stride=1, baseline=0.5).attribute(x, class_score(0))
    torch.testing.assert_close(got, torch.full((1, 3, 3), 2.0))


def test_predicted_class_is_frozen_at_the_unoccluded_input():
    # class 0 = sum(x) = 4, class 1 = constant 1: occluding everything makes class 1 the argmax, but
    # the change is still read on class 0 (4 - 0 = 4, not 4 - 1 = 3), as captum with a fixed target
    w = torch.stack([torch.ones(1, 2, 2), torch.zeros(1, 2, 2)])
    net = Linear(w, torch.tensor([0.0, 1.0]))
    got = Occlusion(net, patch=2, stride=1).attribute(torch.ones(1, 1, 2, 2), predicted_class)
    torch.testing.assert_close(got, torch.full((1, 2, 2), 4.0))


def test_patch_longer_than_the_input_occludes_it_whole():
    x = torch.randn(2, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    net = small_convnet()
    got = Occlusion(net).attribute(x, class_score(1))  # default patch 11 > 5
    with torch.no_grad():
        expected = net(x)[:, 1] - net(torch.zeros_like(x))[:, 1]
    torch.testing.assert_close(got, expected[:, None, None].expand(2, 5, 5))


@pytest.mark.parametrize("size,patch,stride", [(9, 3, 1), (9, 3, 2), (9, 4, 3), (10, 5, 2), (10, 3, 3)])
def test_matches_captum_occlusion(size, patch, stride):
    """captum 0.9: windows start at 0, s, ..., ceil((D - P)/s) s, the last one cut at the far edge;
    (9, 4, 3) and (10, 5, 2) do not tile exactly. Its value is original minus occluded (sign="drop")."""
    from captum.attr import Occlusion as CaptumOcclusion

    net = small_convnet(1)
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    ref = CaptumOcclusion(net).attribute(x, sliding_window_shapes=(3, patch, patch), strides=(3, stride, stride),
                                         baselines=0, target=[0, 2], perturbations_per_eval=50)
    got = Occlusion(net, patch=patch, stride=stride).attribute(x, class_score([0, 2]))
    # captum attributes the window's change to every channel; our map is the per-pixel value
    torch.testing.assert_close(ref[:, 0], ref[:, 2])
    torch.testing.assert_close(got, ref[:, 0], rtol=1e-5, atol=1e-6)


def test_video_windows_over_time_match_captum():
    from captum.attr import Occlusion as CaptumOcclusion

    torch.manual_seed(2)
    net = nn.Sequential(nn.Conv3d(2, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool3d(1), nn.Flatten(),
                        nn.Linear(4, 2))
    x = torch.randn(1, 2, 5, 6, 6, generator=torch.Generator().manual_seed(3))
    ref = CaptumOcclusion(net).attribute(x, sliding_window_shapes=(2, 2, 3, 3), strides=(2, 1, 2, 2), target=1,
                                         baselines=0)
    got = Occlusion(net, patch=(2, 3, 3), stride=(1, 2, 2)).attribute(x, class_score(1))
    assert got.shape == (1, 5, 6, 6)
    torch.testing.assert_close(got, ref[:, 0], rtol=1e-5, atol=1e-6)


class BatchRecorder(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.sizes: list[int] = []

    def forward(self, x):
        self.sizes.append(x.shape[0])
        return self.net(x)


def test_batch_size_does_not_change_maps_and_bounds_memory():
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(4))
    maps = {}
    for batch_size in (1, 7, 1000):
        net = BatchRecorder(small_convnet(2))
        maps[batch_size] = Occlusion(net, patch=3, stride=2, batch_size=batch_size).attribute(x, class_score(1))
        # one pass on the 2 originals, then 2 x 4 x 4 = 32 occluded inputs, never more than batch_size at once
        assert net.sizes[0] == 2 and sum(net.sizes[1:]) == 32
        assert max(net.sizes[1:]) == min(batch_size, 32)
    torch.testing.assert_close(maps[1], maps[7], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(maps[1], maps[1000], rtol=1e-6, atol=1e-6)


def test_model_and_input_untouched():
    net = small_convnet(3)
    net.train()
    net[1].eval()
    flags = [m.training for m in net.modules()]
    state = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(1, 3, 6, 6, requires_grad=True)
    before = x.detach().clone()
    METHODS.get("occlusion")(net, None, patch=3, stride=1).attribute(x, class_score(0))
    assert x.grad is None and torch.equal(x.detach(), before)
    assert [m.training for m in net.modules()] == flags
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())
    assert all(p.grad is None for p in net.parameters())


@pytest.mark.parametrize("options,match", [({"patch": 2, "stride": 3}, "may not exceed"),
                                           ({"patch": (3, 3, 3)}, "one per spatial axis"),
                                           ({"patch": 0}, "positive int"), ({"patch": 3, "stride": (1, 0)}, "positive int"),
                                           ({"sign": "up"}, "sign must be"), ({"batch_size": 0}, "batch_size")])
def test_bad_options_fail_loudly(options, match):
    net = small_convnet()
    with pytest.raises(ValueError, match=match):
        Occlusion(net, **options).attribute(torch.randn(1, 3, 6, 6), class_score(0))
