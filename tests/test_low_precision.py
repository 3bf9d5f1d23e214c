"""Low precision (issue 18): every registered method under bfloat16/float16, and the sums behind them.

Contract: a method either works on a float16/bfloat16 model (or under ``torch.autocast``),
accumulating its sums in at least float32 and returning maps in the INPUT's dtype (float32 under
autocast, which keeps float32 inputs), or it refuses at once with a ``TypeError``/``ValueError``
naming itself and the dtype (then it is listed in ``REFUSES``). Today every method works.

Agreement is measured against the float32 run of the SAME function: the model with its weights
rounded to the low-precision dtype, on the input rounded to it. Rounding the weights is not the
method's error, and alone it can move a map more than the arithmetic does (a max-pool argmax or a
ReLU flips): on tiny_cnn(1), VanillaGrad's normalised map moves by 0.26 when only the weights are
rounded to bfloat16, and by 0.06 from the bfloat16 arithmetic. What remains is the low-precision
forward and backward pass itself; the tolerances below are its measured size.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from xaibook._utils.precision import accumulation_dtype, at_least_float32, compute_dtype
from xaibook.metrics import energy_inside
from xaibook.metrics.pointing import distance_mask, distance_pointing_game
from xaibook.saliency import METHODS, DeepLift, Occlusion, SmoothGrad, VanillaGrad, class_score, normalise

LOW = {"bfloat16": torch.bfloat16, "float16": torch.float16}


def tiny_cnn(seed: int = 0) -> nn.Sequential:
    """ReLU into max pooling, then tanh: DeepLift's rescale and max-pool rules both run."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 8, 3, padding=1),
                         nn.Tanh(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))


def grid_superpixels(image: np.ndarray) -> np.ndarray:
    """3 x 3 superpixels of 4 x 4 pixels on a 12 x 12 image: LIME without SLIC's sensitivity."""
    h, w = image.shape[:2]
    return (np.arange(h)[:, None] // 4) * 3 + np.arange(w)[None] // 4


# sized for the 12 x 12 inputs below; every other method runs with its defaults
OPTIONS = {"occlusion": {"patch": 3, "stride": 1}, "smoothgrad": {"n_samples": 4},
           "smoothgradcampp": {"n_samples": 4}, "lime": {"num_samples": 64, "segmentation": grid_superpixels}}

# max |M_low - M_32| after All-100 normalisation (maps scaled to [0, 1]), measured on the CPU
# (torch 2.13) over tiny_cnn(s) and inputs(100 + s), s = 0..7, for autocast and for the cast model:
# worst case (median) in the comments, tolerance 1.5 to 2 times the worst. The tests run s = 0.
# CPU float16 autocast, measured the same way, has the float16 model's worst cases to within 0.001.
# bfloat16 keeps 8 significant bits, float16 11. What remains is the low-precision forward pass:
# score differences of rounded logits (occlusion, LIME), max-pool argmaxes and ReLUs that flip
# (gradients, DeepLift), and noisy copies that autocast or the cast rounds (SmoothGrad).
TOLERANCE = {
    "bfloat16": {
        "deeplift": 0.2,          # 0.130 (0.033)
        "gradcam": 0.02,          # 0.013 (0.009)
        "gradcampp": 0.015,       # 0.008 (0.008)
        "lime": 0.4,              # 0.270 (0.080)
        "occlusion": 0.5,         # 0.322 (0.120)
        "scorecam": 0.015,        # 0.009 (0.006)
        "smoothgrad": 0.2,        # 0.120 (0.066)
        "smoothgradcampp": 0.015,  # 0.009 (0.007)
        "vanillagrad": 0.2,       # 0.124 (0.029)
    },
    "float16": {
        "deeplift": 0.025,        # 0.015 (0.005)
        "gradcam": 0.003,         # 0.002 (0.001)
        "gradcampp": 0.004,       # 0.002 (0.001)
        "lime": 0.03,             # 0.018 (0.011)
        "occlusion": 0.04,        # 0.027 (0.021)
        "scorecam": 0.002,        # 0.001 (0.001)
        "smoothgrad": 0.1,        # 0.068 (0.018)
        "smoothgradcampp": 0.004,  # 0.002 (0.001)
        "vanillagrad": 0.02,      # 0.014 (0.001)
    },
}
# a new method must meet these until its own tolerance is measured and entered above
DEFAULT_TOLERANCE = {"bfloat16": 0.05, "float16": 0.01}

#: methods that refuse low precision (they must raise at once, naming themselves and the dtype)
REFUSES: dict[str, type[Exception]] = {}


def build(name: str, model: nn.Module):
    return METHODS.get(name)(model, model[4], **OPTIONS.get(name, {}))


def rounded(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    """The float32 model whose weights are those of ``model.to(dtype)``: the same function, in float32."""
    return copy.deepcopy(model).to(dtype).float()


def inputs(seed: int = 100, dtype: torch.dtype = torch.bfloat16) -> torch.Tensor:
    """(2, 3, 12, 12) images in [0, 1], exactly representable in ``dtype``."""
    return torch.rand(2, 3, 12, 12, generator=torch.Generator().manual_seed(seed)).to(dtype).float()


def agreement(low: torch.Tensor, ref: torch.Tensor) -> float:
    """max |a - b| of the two maps after All-100 normalisation (each scaled to [0, 1])."""
    return float((normalise(low.float(), "All-100") - normalise(ref.float(), "All-100")).abs().max())


def attribute_or_refuse(name: str, model: nn.Module, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor | None:
    """The maps, or None after checking a listed method's refusal names the method and the dtype."""
    if name not in REFUSES:
        return build(name, model).attribute(x, class_score(1))
    with pytest.raises(REFUSES[name]) as refusal:
        build(name, model).attribute(x, class_score(1))
    assert METHODS.get(name).name in str(refusal.value) and str(dtype) in str(refusal.value)
    return None


def check(name: str, low: torch.Tensor, ref: torch.Tensor, dtype_name: str, expected_dtype: torch.dtype) -> None:
    assert low.dtype == expected_dtype, f"{name}: maps in {low.dtype}, expected the input's {expected_dtype}"
    assert low.shape == ref.shape and torch.isfinite(low).all()
    tol = TOLERANCE[dtype_name].get(name, DEFAULT_TOLERANCE[dtype_name])
    gap = agreement(low, ref)
    assert gap <= tol, f"{name} in {dtype_name}: max normalised difference {gap:.4f} to float32 exceeds {tol}"


# --- every registered method, on the CPU ------------------------------------------------------------

@pytest.mark.parametrize("dtype_name", list(LOW))
@pytest.mark.parametrize("name", METHODS.names())
def test_cpu_autocast(name, dtype_name):
    dtype = LOW[dtype_name]
    net, x = tiny_cnn(), inputs(dtype=dtype)
    ref = build(name, rounded(net, dtype)).attribute(x, class_score(1))
    with torch.autocast("cpu", dtype=dtype):
        low = attribute_or_refuse(name, net, x, dtype)
    if low is not None:
        check(name, low, ref, dtype_name, torch.float32)  # autocast keeps the float32 input, and its dtype


@pytest.mark.parametrize("dtype_name", list(LOW))
@pytest.mark.parametrize("name", METHODS.names())
def test_cpu_low_precision_model_and_input(name, dtype_name):
    dtype = LOW[dtype_name]
    net, x = tiny_cnn(), inputs(dtype=dtype)
    ref = build(name, rounded(net, dtype)).attribute(x, class_score(1))
    low = attribute_or_refuse(name, copy.deepcopy(net).to(dtype), x.to(dtype), dtype)
    if low is not None:
        check(name, low, ref, dtype_name, dtype)


# --- the same on a GPU (skipped without one) ------------------------------------------------------

@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype_name", list(LOW))
@pytest.mark.parametrize("name", METHODS.names())
def test_cuda_autocast(name, dtype_name):
    """The CPU tolerances apply (the float32 reference may use TF32 convolutions, at most float16's error
    again); passed on an H200 on 2026-12-04, after the linear-target check was made dtype-safe."""
    dtype = LOW[dtype_name]
    net, x = tiny_cnn().cuda(), inputs(dtype=dtype).cuda()
    ref = build(name, rounded(net, dtype)).attribute(x, class_score(1))
    with torch.autocast("cuda", dtype=dtype):
        low = attribute_or_refuse(name, net, x, dtype)
    if low is not None:
        assert low.device == x.device
        check(name, low.cpu(), ref.cpu(), dtype_name, torch.float32)


# --- known answers that low-precision accumulation gets wrong ----------------------------------------

class TwoUnits(nn.Module):
    """x (1, 1, 1, 2) -> z0 = x1 + 2 x2 - 1, z1 = -1 (weights 0) -> h = ReLU(z) -> logit 3 h0 + 5 h1.

    With a zero reference, z1 = z1' exactly: DeepLift's rescale rule must fall back to the
    derivative there. In float16 an eps of 1e-10 rounds to 0, and 0 / 0 gave NaN."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, (1, 2))
        self.relu = nn.ReLU()
        self.head = nn.Linear(2, 2, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([[[[1.0, 2.0]]], [[[0.0, 0.0]]]]))
            self.conv.bias.copy_(torch.tensor([-1.0, -1.0]))
            self.head.weight.copy_(torch.tensor([[3.0, 5.0], [0.0, 0.0]]))

    def forward(self, x):
        return self.head(self.relu(self.conv(x)).flatten(1))


@pytest.mark.parametrize("dtype_name", list(LOW))
def test_deeplift_equal_input_and_reference_units_in_half_precision(dtype_name):
    # m0 = (3 - 0) / (3 - (-1)) = 3/4: R = 3 * 3/4 * (1, 2) * (2, 1) = (4.5, 4.5), summing to 3 h0 - 3 h0' = 9
    dtype = LOW[dtype_name]
    x = torch.tensor([[[[2.0, 1.0]]]], dtype=dtype)
    got = DeepLift(TwoUnits().to(dtype)).attribute(x, class_score(0))
    assert got.dtype == dtype
    torch.testing.assert_close(got, torch.tensor([[[4.5, 4.5]]], dtype=dtype), rtol=0, atol=0)


@pytest.mark.parametrize("method", [VanillaGrad, DeepLift])
def test_gradient_overflow_in_float16_names_the_method_and_the_dtype(method):
    # the input gradient 300 * 300 = 90000 overflows float16 (max 65504): the maps are infinite, and
    # the message must say why instead of blaming the weights
    net = nn.Sequential(nn.Conv2d(1, 1, 1), nn.ReLU(), nn.Flatten(), nn.Linear(4, 2)).half()
    with torch.no_grad():
        net[0].weight.fill_(300.0)
        net[0].bias.zero_()
        net[3].weight.fill_(300.0)
    with pytest.raises(ValueError, match=rf"{method.name} .*torch\.float16"):
        method(net).attribute(torch.ones(1, 1, 2, 2, dtype=torch.float16), class_score(0))


class ConstantMap:
    """A 'method' whose map is the constant v for every copy: SmoothGrad's mean must be v exactly."""

    preprocess = device = None          # the model sees the inputs as given, where they are

    def __init__(self, value: float, dtype: torch.dtype) -> None:
        self.value, self.dtype = value, dtype
        self.model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2)).to(dtype)

    def attribute(self, inputs, target):
        return torch.full((inputs.shape[0], *inputs.shape[2:]), self.value, dtype=self.dtype)


@pytest.mark.parametrize("dtype_name", list(LOW))
def test_smoothgrad_mean_of_low_precision_maps_is_exact(dtype_name):
    # 1 + 2^-7 is exact in both dtypes; summed in bfloat16 the total stalls (its ulp reaches 2 at 256)
    dtype = LOW[dtype_name]
    v = 1 + 2 ** -7
    x = torch.zeros(1, 1, 2, 2, dtype=dtype)
    got = SmoothGrad(ConstantMap(v, dtype), n_samples=600, batch_size=100).attribute(x, class_score(0))
    assert got.dtype == dtype
    torch.testing.assert_close(got, torch.full((1, 2, 2), v, dtype=dtype), rtol=0, atol=0)


def pixel_sum_model(dtype: torch.dtype) -> nn.Module:
    """Logits (sum of the 16 x 16 pixels, 0): exact in bfloat16 for 0/1 images (integers up to 256)."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(256, 2, bias=False))
    with torch.no_grad():
        net[1].weight.copy_(torch.stack([torch.ones(256), torch.zeros(256)]))
    return net.to(dtype)


@pytest.mark.parametrize("autocast", [False, True])
def test_occlusion_sums_many_windows_exactly_in_bfloat16(autocast):
    # every 11 x 11 window fits a 16 x 16 image (stride 1): each removes 121 from the score, and
    # each pixel averages up to 36 of them, so the map is 121 everywhere. Summed in bfloat16 the
    # partial sums (363, 484, ...) round.
    dtype = torch.float32 if autocast else torch.bfloat16
    x = torch.ones(1, 1, 16, 16, dtype=dtype)
    method = Occlusion(pixel_sum_model(dtype), patch=11, stride=1)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        got = method.attribute(x, class_score(0))
    assert got.dtype == dtype
    torch.testing.assert_close(got, torch.full((1, 16, 16), 121.0, dtype=dtype), rtol=0, atol=0)


# --- the precision helpers and the metrics -----------------------------------------------------------

def test_precision_helpers():
    assert at_least_float32(torch.bfloat16) == at_least_float32(torch.float16) == torch.float32
    assert at_least_float32(torch.float64) == torch.float64 and at_least_float32(torch.int64) == torch.float32
    assert accumulation_dtype("cpu") == torch.float64
    assert accumulation_dtype(torch.device("mps")) == torch.float32  # a descriptor: no MPS device needed
    x = torch.zeros(1)
    assert compute_dtype(x) == torch.float32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert compute_dtype(x) == torch.bfloat16


def test_metrics_score_bfloat16_maps_as_their_float32_values():
    maps = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0)).bfloat16()
    masks = torch.zeros(3, 8, 8, dtype=torch.bool)
    masks[:, 2:5, 3:6] = True
    torch.testing.assert_close(energy_inside(maps, masks), energy_inside(maps.float(), masks))
    torch.testing.assert_close(distance_pointing_game(maps, masks), distance_pointing_game(maps.float(), masks))
    assert distance_mask(masks).dtype == torch.float64


def test_noise_copies_in_half_precision_are_the_float32_draws_rounded():
    """The CPU generator's float16 stream is not float32's rounded: a half-precision SmoothGrad would
    average over other noise than its float32 twin. 3 x 5 x 7 = 105 values, not a multiple of 16."""
    from xaibook.saliency.cam import noise_copies

    x32 = torch.zeros(1, 3, 5, 7)
    for dtype in (torch.float16, torch.bfloat16):
        a, b = noise_copies(x32, 3), noise_copies(x32.to(dtype), 3)
        for _ in range(3):
            torch.testing.assert_close(next(b), next(a).to(dtype), rtol=0, atol=0)
