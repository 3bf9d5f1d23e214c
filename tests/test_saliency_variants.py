"""Known answers for the formula variants the papers used: Grad-CAM++'s two published forms,
Smooth Grad-CAM++ (Omeiza) against map averaging, SmoothGrad's fixed target, half precision,
hooks that refuse ambiguous captures, and closed forms on video."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from xaibook._utils.hooks import capture, eval_mode
from xaibook.saliency import (METHODS, GradCAM, GradCAMpp, SmoothGrad, SmoothGradCAMpp, VanillaGrad, build_method,
                              class_score, gradcampp_weights, predicted_class)


class SpatialReadout(nn.Module):
    """x (1, 1, H, W) -> A = [w_k x] (1x1 conv) -> S = sum_kab U_kab A_kab.

    dS/dA_kab = U_kab varies over space, so the two Grad-CAM++ forms differ (as at an inner layer).
    """

    def __init__(self, u: torch.Tensor, w=(1.0, 2.0)) -> None:
        super().__init__()
        self.features = nn.Conv2d(1, 2, 1, bias=False)
        self.u = u
        with torch.no_grad():
            self.features.weight.copy_(torch.tensor(w).reshape(2, 1, 1, 1))

    def forward(self, x):
        a = self.features(x)
        return (a * self.u).flatten(1).sum(1, keepdim=True)


U = torch.tensor([[[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]], [[-2.0, 1.0, 0.75], [0.5, 3.0, 1.0]]])
X = torch.tensor([[[[1.0, 2.0, 0.5], [3.0, 1.5, 2.5]]]])


def hand_gradcampp(x: np.ndarray, u: np.ndarray, w=(1.0, 2.0), *, per_pixel_sum: bool, exp_s: float = 1.0):
    """The two forms of Grad-CAM++ written out with numpy loops, each with its source's epsilon:
    pytorch-grad-cam 1.5.7 adds 1e-6 (alpha = 0 where g = 0), pytorch-gradcam 0.2.1 replaces zero
    denominators by 1, then adds 1e-7."""
    cam = np.zeros_like(x)
    for k in range(2):
        a, g = w[k] * x, u[k]
        weight = 0.0
        for i in range(x.shape[0]):
            for j in range(x.shape[1]):
                extra = (a * g ** 3).sum() if per_pixel_sum else a.sum() * g[i, j] ** 3
                denom = 2 * g[i, j] ** 2 + extra
                if per_pixel_sum:
                    alpha = g[i, j] ** 2 / ((denom if denom != 0 else 1.0) + 1e-7)
                else:
                    alpha = g[i, j] ** 2 / (denom + 1e-6) if g[i, j] != 0 else 0.0
                weight += alpha * max(exp_s * g[i, j], 0.0)
        cam += weight * a
    return np.maximum(cam, 0)


@pytest.mark.parametrize("scale", [1.0, 1e-3])     # at 1e-3, g^2 ~ 1e-6: the sources' epsilons matter
@pytest.mark.parametrize("variant,per_pixel", [("chattopadhay", False), ("gradcam-pytorch", True)])
def test_gradcampp_forms_by_hand_with_spatially_varying_gradients(variant, per_pixel, scale):
    u = U.double() * scale
    net = SpatialReadout(u).double()
    x = X.double()
    s = float(net(x).detach())
    got = GradCAMpp(net, net.features, variant=variant).attribute(x, class_score(0), normalize=False, upsample=False)
    exp_s = math.exp(s) if variant == "gradcam-pytorch" else 1.0
    want = hand_gradcampp(x[0, 0].numpy(), u.numpy(), per_pixel_sum=per_pixel, exp_s=exp_s)
    np.testing.assert_allclose(got[0].numpy(), want, rtol=1e-9, atol=1e-12 * np.abs(want).max())


def pytorch_gradcam_021(model: nn.Module, layer: nn.Module, x: torch.Tensor, class_idx: int) -> torch.Tensor:
    """``gradcam.GradCAMpp.forward`` of PyPI ``pytorch-gradcam`` 0.2.1 (1Konny's GradCAM-Pytorch,
    the code Austerjost et al. 2021 used), transcribed statement by statement; the package itself
    imports OpenCV at import time, which this project does not install. One image, (1, C, H, W)."""
    store = {}
    h1 = layer.register_forward_hook(lambda m, i, o: store.__setitem__("activations", o))
    h2 = layer.register_full_backward_hook(lambda m, gi, go: store.__setitem__("gradients", go[0]))
    try:
        b, c, h, w = x.size()
        logit = model(x)
        score = logit[:, class_idx].squeeze()
        model.zero_grad()
        score.backward()
    finally:
        h1.remove()
        h2.remove()
    gradients, activations = store["gradients"], store["activations"].detach()
    b, k, u, v = gradients.size()
    alpha_num = gradients.pow(2)
    alpha_denom = gradients.pow(2).mul(2) + \
        activations.mul(gradients.pow(3)).view(b, k, u * v).sum(-1, keepdim=True).view(b, k, 1, 1)
    alpha_denom = torch.where(alpha_denom != 0.0, alpha_denom, torch.ones_like(alpha_denom))
    alpha = alpha_num.div(alpha_denom + 1e-7)
    positive_gradients = torch.relu(score.exp() * gradients)
    weights = (alpha * positive_gradients).view(b, k, u * v).sum(-1).view(b, k, 1, 1)
    saliency_map = torch.relu((weights * activations).sum(1, keepdim=True))
    saliency_map = torch.nn.functional.interpolate(saliency_map, size=(h, w), mode="bilinear", align_corners=False)
    lo, hi = saliency_map.min(), saliency_map.max()
    return (saliency_map - lo).div(hi - lo).detach()[:, 0]


def inner_layer_net(grad_scale: float) -> nn.Sequential:
    """Two conv blocks, GAP, linear head: at net[1] the gradient varies over space and is signed."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))
    with torch.no_grad():
        net[2].weight.mul_(20.0 * grad_scale ** 0.5)
        net[-1].weight.mul_(20.0 * grad_scale ** 0.5)
    return net


@pytest.mark.parametrize("grad_scale", [1.0, 1e-4])     # 1e-4: squared gradients near the epsilons
def test_gradcam_pytorch_form_equals_its_source(grad_scale):
    """Our ``"gradcam-pytorch"`` form against the source's own statements, image by image (its
    min-max runs over the whole batch), including where its 1e-7 dominates small denominators."""
    net = inner_layer_net(grad_scale)
    x = torch.randn(3, 3, 9, 9, generator=torch.Generator().manual_seed(1))
    for i, c in enumerate([0, 2, 1]):
        ref = pytorch_gradcam_021(net, net[1], x[i:i + 1], c)
        got = GradCAMpp(net, net[1], variant="gradcam-pytorch").attribute(x[i:i + 1], class_score(c))
        np.testing.assert_allclose(got.numpy(), ref.numpy(), atol=2e-5)


@pytest.mark.parametrize("grad_scale", [1.0, 1e-4])
def test_chattopadhay_form_equals_pytorch_grad_cam_at_any_gradient_scale(grad_scale):
    """pytorch-grad-cam 1.5.7 adds eps = 1e-6 to alpha's denominator; so do we, so the maps agree
    to float rounding even where squared gradients are of the order of that eps."""
    import pytorch_grad_cam
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    net = inner_layer_net(grad_scale)
    x = torch.randn(3, 3, 9, 9, generator=torch.Generator().manual_seed(1))
    classes = [0, 2, 1]
    ref = pytorch_grad_cam.GradCAMPlusPlus(model=net, target_layers=[net[1]])(
        input_tensor=x, targets=[ClassifierOutputTarget(c) for c in classes])
    got = GradCAMpp(net, net[1]).attribute(x, class_score(classes)).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-5)     # their min-max adds 1e-7 to the range
    other = GradCAMpp(net, net[1], variant="gradcam-pytorch").attribute(x, class_score(classes)).numpy()
    assert np.abs(other - ref).max() > 1e-3          # the other form is a different map here (100x the tolerance)


def test_conditioning_counts_negative_and_near_zero_denominators():
    """Channel 1: gradients (1, -1) over two pixels, activations (1, 3): the per-pixel sum is
    1 - 3 = -2, so both denominators are 2 - 2 = 0 (replaced by 1: alpha = 1 / (1 + 1e-7), twice
    the largest alpha a well-posed pixel can have). Channel 2, gradients and activations (1, 1):
    2 + 2 = 4, alpha = 1/4. With activations (1, 4) the sum is -3 and alpha = 1 / (-1 + 1e-7) < 0."""
    from xaibook.saliency._core import gradcampp_conditioning

    acts = torch.tensor([[[[1.0, 3.0]], [[1.0, 1.0]]]])
    grads = torch.tensor([[[[1.0, -1.0]], [[1.0, 1.0]]]])
    c = gradcampp_conditioning(acts, grads, "gradcam-pytorch")
    assert (c.channels, c.near_zero) == (2, 1)
    assert c.negative == 0 and c.alpha_max == pytest.approx(1 / (1 + 1e-7))
    acts2 = torch.tensor([[[[1.0, 4.0]]]])
    c2 = gradcampp_conditioning(acts2, grads[:, :1], "gradcam-pytorch")
    assert (c2.channels, c2.negative) == (1, 1) and c2.alpha_min == pytest.approx(-1 / (1 - 1e-7))
    healthy = gradcampp_conditioning(acts.abs(), grads.abs(), "chattopadhay")
    assert (healthy.negative, healthy.near_zero) == (0, 0) and 0 < healthy.alpha_max <= 0.5


def test_the_two_forms_differ_with_varying_gradients_and_agree_with_constant_ones():
    acts = torch.stack([X[0, 0], 2 * X[0, 0]])[None]
    share = {}                          # each channel's share of the weight: what decides the map
    for name, u in (("varying", U), ("constant", torch.stack([torch.full((2, 3), 3.0), torch.full((2, 3), 1.0)]))):
        for variant in ("chattopadhay", "gradcam-pytorch"):
            w = gradcampp_weights(acts, u[None], torch.zeros(1), variant=variant, exp_score=False)[0]
            share[name, variant] = float(w[0] / w.sum())
    assert abs(share["varying", "chattopadhay"] - share["varying", "gradcam-pytorch"]) > 0.05
    assert share["constant", "chattopadhay"] == pytest.approx(share["constant", "gradcam-pytorch"])


def test_gradcampp_weights_survive_half_precision():
    g = torch.Generator().manual_seed(0)
    acts = (torch.rand(2, 4, 5, 5, generator=g) * 3).half()
    grads = ((torch.rand(2, 4, 5, 5, generator=g) - 0.3) * 2e-3).half()   # g^3 ~ 1e-9: zero in float16
    assert (grads.pow(3) == 0).all()
    for variant in ("chattopadhay", "gradcam-pytorch"):
        got = gradcampp_weights(acts, grads, torch.zeros(2), variant=variant)
        want = gradcampp_weights(acts.double(), grads.double(), torch.zeros(2), variant=variant)
        assert got.dtype in (torch.float32, torch.float64)
        torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=0)


# --- Smooth Grad-CAM++ (Omeiza) and map averaging ---------------------------------------------

class Squares(nn.Module):
    """A = conv1x1(x); S = sum U * A^2 / 2: dS/dA = U * A depends on the input, so noise matters."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Conv2d(1, 2, 1, bias=False)
        with torch.no_grad():
            self.features.weight.copy_(torch.tensor([1.0, -0.5]).reshape(2, 1, 1, 1))

    def forward(self, x):
        a = self.features(x)
        return torch.stack([(U * a ** 2 / 2).flatten(1).sum(1), torch.zeros(x.shape[0])], 1)


def noisy_copies(x: torch.Tensor, n: int, noise: float, seed: int) -> list[torch.Tensor]:
    """The documented noise: copy j adds noise * range(x_i) * e_j, e_j ~ N(0, 1) of one sample's shape."""
    gen = torch.Generator().manual_seed(seed)
    rng = (x.flatten(1).amax(1) - x.flatten(1).amin(1)).reshape(-1, 1, 1, 1)
    return [x + noise * rng * torch.randn(x.shape[1:], generator=gen)[None] for _ in range(n)]


def test_smooth_gradcampp_averages_gradient_powers_then_forms_one_map():
    net = Squares()
    n, noise = 6, 0.3
    a_clean = net.features(X).detach()[0].numpy().astype(float)
    d = [np.zeros_like(a_clean) for _ in range(3)]
    for xn in noisy_copies(X, n, noise, seed=4):
        g = U.numpy() * net.features(xn).detach()[0].numpy()          # dS/dA = U * A at the copy
        for k in range(3):
            d[k] += g ** (k + 1) / n
    cam = np.zeros(a_clean.shape[1:])
    for k in range(2):
        alpha = d[1][k] / (2 * d[1][k] + (a_clean[k] * d[2][k]).sum())
        cam += (alpha * np.maximum(d[0][k], 0)).sum() * a_clean[k]
    got = SmoothGradCAMpp(net, net.features, n_samples=n, noise=noise, batch_size=4, seed=4).attribute(
        X, class_score(0), normalize=False, upsample=False)
    np.testing.assert_allclose(got[0].numpy(), np.maximum(cam, 0), rtol=1e-5, atol=1e-6)


def test_map_averaging_is_the_mean_of_finished_maps_and_is_not_smooth_gradcampp():
    net = Squares()
    n, noise = 5, 0.3
    want = torch.stack([GradCAMpp(net, net.features).attribute(xn, class_score(0))
                        for xn in noisy_copies(X, n, noise, seed=2)]).mean(0)
    averaged = build_method("smoothgrad", net, net.features, method="gradcampp", n_samples=n, noise=noise,
                            seed=2).attribute(X, class_score(0))
    torch.testing.assert_close(averaged, want)
    omeiza = SmoothGradCAMpp(net, net.features, n_samples=n, noise=noise, seed=2, variant="chattopadhay")
    assert (omeiza.attribute(X, class_score(0)) - averaged).abs().max() > 0.05


def test_smooth_gradcampp_without_noise_is_gradcampp():
    net = Squares()
    smooth = SmoothGradCAMpp(net, net.features, n_samples=3, noise=0.0, variant="chattopadhay")
    torch.testing.assert_close(smooth.attribute(X, class_score(0)), GradCAMpp(net, net.features).attribute(X, class_score(0)))


class SignOfSum(nn.Module):
    """logits = (sum x, -sum x): class 0 when the sum is positive; dS_0/dx = +1, dS_1/dx = -1."""

    def forward(self, x):
        s = x.flatten(1).sum(1)
        return torch.stack([s, -s], 1)


def test_smoothgrad_fixes_the_predicted_class_on_the_clean_input():
    x = torch.full((1, 3, 4, 4), 0.001)
    x[0, 0, 0, 0] = 1.0                     # sum slightly above 0: class 0; noise of 0.5 x range flips it often
    net = SignOfSum()
    noisy = [xn for xn in noisy_copies(x, 20, 0.5, seed=0)]
    assert {int(net(xn).argmax()) for xn in noisy} == {0, 1}          # copies disagree on the class
    maps = SmoothGrad(VanillaGrad(net), n_samples=20, noise=0.5).attribute(x, predicted_class)
    torch.testing.assert_close(maps, torch.full((1, 4, 4), 3.0))     # always class 0: +1 on each of 3 channels


# --- hooks ---------------------------------------------------------------------------------------

def test_capture_refuses_a_layer_that_runs_twice():
    conv = nn.Conv2d(3, 3, 1)
    net = nn.Sequential(conv, nn.ReLU(), conv, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 2))
    with pytest.raises(RuntimeError, match="ran 2 times"):
        GradCAM(net, conv).attribute(torch.randn(1, 3, 4, 4), class_score(0))


def test_capture_refuses_an_output_changed_in_place():
    net = nn.Sequential(nn.Conv2d(3, 3, 1), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(3, 2))
    with pytest.raises(RuntimeError, match="modified in place"):
        GradCAM(net, net[0]).attribute(torch.randn(1, 3, 4, 4), class_score(0))
    GradCAM(net, net[1]).attribute(torch.randn(1, 3, 4, 4), class_score(0))   # hooking after it is fine


def test_capture_names_a_layer_that_saw_no_pass():
    net = nn.Sequential(nn.Conv2d(3, 3, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 2))
    with pytest.raises(RuntimeError, match="saw no forward pass"):
        GradCAM(net, nn.Conv2d(3, 3, 1)).attribute(torch.randn(1, 3, 4, 4), class_score(0))


class CustomTrain(nn.Sequential):
    """A model whose own train() does more than set flags (it would freeze BN, move buffers ...)."""

    calls = 0

    def train(self, mode: bool = True):
        CustomTrain.calls += 1
        return super().train(mode)


def test_eval_mode_sets_flags_directly_and_restores_them():
    net = CustomTrain(nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3), nn.Flatten())
    net.train()
    net[1].eval()
    CustomTrain.calls = 0
    flags = [m.training for m in net.modules()]
    with eval_mode(net):
        assert not any(m.training for m in net.modules())
    assert [m.training for m in net.modules()] == flags and CustomTrain.calls == 0


def test_no_hook_survives_an_error_inside_capture():
    net = nn.Sequential(nn.Conv2d(3, 3, 1))
    with pytest.raises(ValueError, match="inside"):
        with capture(net[0]):
            raise ValueError("inside")
    assert not net[0]._forward_hooks


# --- video: closed forms ---------------------------------------------------------------------------

class HandVideo(nn.Module):
    """x (N, 1, T, H, W) -> A = [w_k x] -> S = v . mean(A): dS/dA_k = v_k / Z, dS/dx = (v . w) / Z."""

    def __init__(self, w=(1.0, 2.0), v=(3.0, 1.0)) -> None:
        super().__init__()
        self.features = nn.Conv3d(1, 2, 1, bias=False)
        self.head = nn.Linear(2, 1, bias=False)
        with torch.no_grad():
            self.features.weight.copy_(torch.tensor(w).reshape(2, 1, 1, 1, 1))
            self.head.weight.copy_(torch.tensor([v]))

    def forward(self, x):
        return self.head(self.features(x).mean((2, 3, 4)))


def test_gradcam_on_video_by_hand():
    # weights v_k / Z; CAM = (3/Z) x + (1/Z) 2x = 5x / Z, Z = 2 * 3 * 4 = 24
    x = torch.rand(2, 1, 2, 3, 4, generator=torch.Generator().manual_seed(0))
    net = HandVideo()
    cam = GradCAM(net, net.features).attribute(x, class_score(0), normalize=False, upsample=False)
    torch.testing.assert_close(cam, 5 * x[:, 0] / 24)
    shown = GradCAM(net, net.features).attribute(x, class_score(0))      # min-max of 5x/24 = min-max of x
    lo = x[:, 0].flatten(1).amin(1).reshape(2, 1, 1, 1)
    hi = x[:, 0].flatten(1).amax(1).reshape(2, 1, 1, 1)
    torch.testing.assert_close(shown, (x[:, 0] - lo) / (hi - lo))


def test_vanillagrad_on_video_by_hand():
    x = torch.rand(2, 1, 2, 3, 4, generator=torch.Generator().manual_seed(1))
    got = VanillaGrad(HandVideo()).attribute(x, class_score(0))
    torch.testing.assert_close(got, torch.full((2, 2, 3, 4), 5 / 24))


def test_every_method_states_its_output_contract():
    from xaibook.saliency import CONTRACTS

    for name in METHODS.names():
        cls = METHODS.get(name)
        assert cls.name and cls.paper and cls.contract in CONTRACTS, name


@pytest.mark.parametrize("name", ["gradcam", "gradcampp", "vanillagrad", "deeplift"])
def test_a_nan_weight_raises_instead_of_a_blank_map(name):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    with torch.no_grad():
        net[2].weight[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        build_method(name, net, net[3]).attribute(torch.randn(2, 3, 6, 6), class_score(0))


def test_minmax_refuses_nan():
    from xaibook.saliency import minmax

    with pytest.raises(ValueError, match="NaN"):
        minmax(torch.tensor([[0.0, float("nan"), 1.0]]))


def test_conditioning_of_a_method_gathers_every_batch():
    """Two batches of the SpatialReadout net: the counts over both equal those of one batch of both."""
    net = SpatialReadout(U)
    cam = GradCAMpp(net, net.features, variant="gradcam-pytorch")
    x = torch.cat([X, 2 * X, -X])
    classes = torch.zeros(3, dtype=torch.long)
    whole = cam.conditioning([(x, classes)])
    split = cam.conditioning([(x[:1], classes[:1]), (x[1:], classes[1:])])
    assert whole == split and whole.channels == 2


@pytest.mark.parametrize("variant", ["chattopadhay", "gradcam-pytorch"])
def test_smooth_gradcampp_without_noise_is_gradcampp_of_the_same_form(variant):
    # at an inner layer the two forms give different maps (see above): the smooth method must use the form it
    # is given (chapter 05 passes "chattopadhay", not the default), not fall back to its default
    net = inner_layer_net(1.0)
    x = torch.randn(2, 3, 9, 9, generator=torch.Generator().manual_seed(1))
    smooth = {v: SmoothGradCAMpp(net, net[1], n_samples=2, noise=0.0, variant=v).attribute(x, class_score([0, 2]))
              for v in ("chattopadhay", "gradcam-pytorch")}
    plain = GradCAMpp(net, net[1], variant=variant).attribute(x, class_score([0, 2]))
    torch.testing.assert_close(smooth[variant], plain, atol=1e-5, rtol=1e-4)
    assert (smooth["chattopadhay"] - smooth["gradcam-pytorch"]).abs().max() > 1e-3


def test_conditioning_by_hand_with_gradients_other_than_one():
    """Gradients of 2 and 1/2 tell g^2 from g^3 apart. Channel: activations (1, 2), gradients (2, 1/2).
    gradcam-pytorch: sum A g^3 = 8 + 1/4; alpha = 4 / (8 + 8.25), 1/4 / (1/2 + 8.25).
    chattopadhay: sum A = 3; alpha = 4 / (8 + 3 * 8), 1/4 / (1/2 + 3/8)."""
    from xaibook.saliency._core import gradcampp_conditioning

    acts, grads = torch.tensor([[[[1.0], [2.0]]]]), torch.tensor([[[[2.0], [0.5]]]])
    c = gradcampp_conditioning(acts, grads, "gradcam-pytorch")
    assert (c.channels, c.negative, c.near_zero) == (1, 0, 0)
    assert (c.alpha_min, c.alpha_max) == pytest.approx((0.25 / 8.75, 4 / 16.25), rel=1e-5)
    c = gradcampp_conditioning(acts, grads, "chattopadhay")
    assert (c.alpha_min, c.alpha_max) == pytest.approx((4 / 32, 0.25 / 0.875), rel=1e-5)


def test_conditioning_near_zero_threshold_is_a_thousandth_of_two_g_squared():
    """gradcam-pytorch, gradients (2, -2) down a column, activations (1, 2 - d): every pixel's denominator is
    2 g^2 + sum A g^3 = 8 + 8 - 8 (2 - d) = 8 d, against a threshold of 1e-3 * 2 * 4 = 0.008: d = 0.0007
    (0.0056) is near zero, d = 0.0013 (0.0104) is not (a factor of 3 for 2, 0.012, would count it). Two
    identical samples count each channel once."""
    from xaibook.saliency._core import gradcampp_conditioning

    acts = torch.tensor([[[1.0], [2 - 0.0007]], [[1.0], [2 - 0.0013]]], dtype=torch.float64)[None].repeat(2, 1, 1, 1)
    grads = torch.tensor([[[2.0], [-2.0]]], dtype=torch.float64)[None].repeat(2, 2, 1, 1)
    c = gradcampp_conditioning(acts, grads, "gradcam-pytorch")
    assert (c.channels, c.negative, c.near_zero) == (2, 0, 1)
    assert c.alpha_max == pytest.approx(4 / (8 * 0.0007 + 1e-7), rel=1e-6)


@pytest.mark.parametrize("q", [0, 7.5, 50, 99, 99.9, 100])
def test_percentile_is_numpys_linear_percentile_up_to_the_maximum(q):
    from xaibook.saliency.normalise import percentile

    flat = torch.randn(3, 101, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    want = np.percentile(flat.numpy(), q, axis=1)[:, None]
    np.testing.assert_allclose(percentile(flat, q).numpy(), want, rtol=1e-12)


def test_noise_copies_draw_every_channel_independently_in_the_seeded_stream():
    from xaibook.saliency.cam import noise_copies

    x = torch.zeros(4, 3, 5, 6)
    draws = noise_copies(x, seed=11)
    gen = torch.Generator().manual_seed(11)
    for _ in range(2):                       # copy j is the generator's j-th (C, H, W) draw
        got = next(draws)
        assert got.shape == (1, 3, 5, 6)
        torch.testing.assert_close(got[0], torch.randn(3, 5, 6, generator=gen))
    assert not torch.equal(got[0, 0], got[0, 1])
