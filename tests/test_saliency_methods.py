"""Known answers and cross-checks for VanillaGrad, DeepLift, SmoothGrad, Score-CAM and the
normalisations of Lorentz et al. 2021 (chapter 04_steel_defects)."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import nn

from xaibook._utils.hooks import eval_mode
from xaibook.saliency import (METHODS, NORMALISATIONS, DeepLift, GradCAM, ScoreCAM, SmoothGrad, VanillaGrad,
                              class_score, gaussian_blur, normalise, predicted_class)
from xaibook.saliency.scorecam import class_selection


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks for m in model.modules())


class OneUnit(nn.Module):
    """x (1, 1, 1, 2) -> z = x1 + 2 x2 - 1 -> h = ReLU(z) -> logits (3h, -h): everything by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, (1, 2))
        self.relu = nn.ReLU()
        self.head = nn.Linear(1, 2, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([[[[1.0, 2.0]]]]))
            self.conv.bias.fill_(-1.0)
            self.head.weight.copy_(torch.tensor([[3.0], [-1.0]]))

    def forward(self, x):
        return self.head(self.relu(self.conv(x)).flatten(1))


X_UNIT = torch.tensor([[[[2.0, 1.0]]]])  # z = 3, h = 3; zero reference: z' = -1, h' = 0


def small_net(seed: int = 0, dims: int = 2) -> nn.Sequential:
    """No reused modules and no two hooked nonlinearities back to back (see the captum test)."""
    torch.manual_seed(seed)
    conv = {2: nn.Conv2d, 3: nn.Conv3d}[dims]
    pool = {2: nn.MaxPool2d, 3: nn.MaxPool3d}[dims]
    avg = {2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}[dims]
    return nn.Sequential(conv(3, 6, 3, padding=1), nn.ReLU(), conv(6, 6, 1), pool(2), conv(6, 5, 3, padding=1),
                         nn.Tanh(), conv(5, 4, 1), nn.Sigmoid(), avg(1), nn.Flatten(), nn.Linear(4, 8), nn.ELU(),
                         nn.Linear(8, 3))


# --- VanillaGrad --------------------------------------------------------------------------------

def test_vanillagrad_hand_computed():
    # dS/dx = 3 * ReLU'(z) * (1, 2) with z = 3 > 0
    x = X_UNIT.clone()
    got = VanillaGrad(OneUnit()).attribute(x, class_score(0))
    torch.testing.assert_close(got, torch.tensor([[[3.0, 6.0]]]))
    channels = VanillaGrad(OneUnit()).attribute_channels(x, class_score(0))  # public too: x stays a plain tensor
    assert not x.requires_grad and x.grad is None and channels.shape == x.shape


def test_vanillagrad_sums_signed_gradients_over_channels_and_matches_captum():
    from captum.attr import Saliency

    net = small_net()
    x = torch.randn(3, 3, 8, 8, generator=gen(0))
    ref = Saliency(net).attribute(x, target=1, abs=False).sum(1)
    got = VanillaGrad(net, None).attribute(x, class_score(1))
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-8)
    assert (got < 0).any() and (got > 0).any()  # raw, signed


# --- DeepLift -----------------------------------------------------------------------------------

def test_deeplift_hand_computed():
    # Rescale: m = (h - h') / (z - z') = 3 / 4; R_i = 3 * m * w_i * x_i = (4.5, 4.5), sum 9 = 3h - 3h'
    got = DeepLift(OneUnit()).attribute(X_UNIT, class_score(0))
    torch.testing.assert_close(got, torch.tensor([[[4.5, 4.5]]]))


def completeness_gap(model: nn.Module, method: DeepLift, x: torch.Tensor, k: int) -> torch.Tensor:
    attributions = method.attribute(x, class_score(k))
    with eval_mode(model), torch.no_grad():
        delta = model(x)[:, k] - model(method.reference(x))[:, k]
    return attributions.flatten(1).sum(1) - delta


@pytest.mark.parametrize("baseline", ["zero", "blur"])
@pytest.mark.parametrize("dims,shape", [(2, (3, 3, 8, 8)), (3, (2, 3, 4, 6, 6))])
def test_deeplift_sums_to_delta_images_and_videos(baseline, dims, shape):
    net = small_net(dims=dims).double()
    x = torch.randn(shape, generator=gen(1), dtype=torch.float64)
    gap = completeness_gap(net, DeepLift(net, baseline=baseline, sigma=1.5), x, 2)
    torch.testing.assert_close(gap, torch.zeros_like(gap), rtol=0, atol=1e-12)


@pytest.mark.parametrize("baseline", ["zero", "blur"])
def test_deeplift_equals_captum(baseline):
    """captum 0.9 on a net where it is right: no reused modules, no two hooked nonlinearities in a row
    (with a ReLU feeding a MaxPool directly, captum's hooks read stale gradients, captum issue #1104),
    and a non-overlapping pool (captum's max_unpool overwrites where overlapping windows share an argmax)."""
    from captum.attr import DeepLift as CaptumDeepLift

    net = small_net(3)
    x = torch.randn(3, 3, 8, 8, generator=gen(2))
    ours = DeepLift(net, baseline=baseline, sigma=1.5)
    expected = CaptumDeepLift(net).attribute(x, baselines=ours.reference(x), target=2)
    torch.testing.assert_close(ours.attribute_channels(x, class_score(2)), expected.detach(), rtol=1e-5, atol=1e-7)


def test_deeplift_relu_into_maxpool_matches_the_rule_by_hand():
    # Conv -> ReLU -> MaxPool(2) -> Linear, the multipliers written out: linear weights, the maxpool rule
    # ((dy)+ to the input's argmax, (dy)- to the reference's, divided by dx), rescale at the ReLU, conv.
    torch.manual_seed(4)
    conv, lin = nn.Conv2d(3, 4, 3, padding=1), nn.Linear(4 * 3 * 3, 3)
    net = nn.Sequential(conv, nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), lin).double()
    x = torch.randn(2, 3, 6, 6, generator=gen(3), dtype=torch.float64)
    with torch.no_grad():
        pre, pre_ref = conv(x), conv(torch.zeros_like(x))
        a, a_ref = pre.relu(), pre_ref.relu()
        y, idx = F.max_pool2d(a, 2, return_indices=True)
        y_ref, idx_ref = F.max_pool2d(a_ref, 2, return_indices=True)
        g = lin.weight[1].reshape(1, 4, 3, 3)
        dy, da = y - y_ref, (a - a_ref).flatten(2)
        contrib = torch.zeros_like(da)
        contrib.scatter_add_(2, idx.flatten(2), (g * dy.clamp_min(0)).flatten(2).expand(2, -1, -1))
        contrib.scatter_add_(2, idx_ref.flatten(2), (g * dy.clamp_max(0)).flatten(2).expand(2, -1, -1))
        m_pool = torch.where(da != 0, contrib / torch.where(da != 0, da, 1), 0).reshape(a.shape)
        m_relu = (a - a_ref) / (pre - pre_ref)
    xx = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad((conv(xx) * m_pool * m_relu).sum(), xx)
    got = DeepLift(net).attribute_channels(x, class_score(1))
    torch.testing.assert_close(got, grad * x, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("baseline", ["zero", "blur"])
def test_deeplift_sums_to_delta_on_resnet18(baseline):
    """torchvision's BasicBlock calls one in-place ReLU twice and the stem has an overlapping 3x3/2
    max-pool: the two cases captum's DeepLift gets wrong."""
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=4)
    net.train()
    state = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(1, 3, 32, 32, generator=gen(5))
    method = DeepLift(net, baseline=baseline, sigma=2.0)
    method.attribute(x, class_score(3))
    assert all(m.training for m in net.modules()) and net.layer1[0].relu.inplace and no_hooks(net)
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())
    gap = completeness_gap(net, method, x, 3)
    assert float(gap.abs().max()) < 1e-4  # float32 through 18 layers; the logits differ by ~0.1


def test_deeplift_runs_input_and_reference_in_one_forward_of_batch_2n():
    net = small_net()
    batches = []
    net.register_forward_pre_hook(lambda _m, inputs: batches.append(inputs[0].shape[0]))
    DeepLift(net, baseline="blur").attribute(torch.randn(3, 3, 8, 8), class_score(0))
    assert batches == [6]


def test_deeplift_predicted_class_is_the_inputs_class():
    # the reference half may predict another class: the score must follow the input's prediction
    net = small_net(5)
    x = torch.randn(4, 3, 8, 8, generator=gen(6))
    method = DeepLift(net)
    with torch.no_grad():
        classes = net(x).argmax(1)
    torch.testing.assert_close(method.attribute(x, predicted_class), method.attribute(x, class_score(classes)))


def test_deeplift_rejects_an_unknown_baseline():
    with pytest.raises(ValueError, match="baseline"):
        DeepLift(small_net(), baseline="noise")


@pytest.mark.parametrize("shape,sigma", [((2, 3, 9, 11), 1.3), ((1, 2, 5, 6, 7), (0.0, 1.0, 2.5)),
                                         ((1, 1, 4, 4), 10.0)])  # a kernel wider than the image
def test_gaussian_blur_matches_scipy(shape, sigma):
    x = torch.randn(shape, generator=gen(7), dtype=torch.float64)
    spatial = len(shape) - 2
    sigmas = (sigma,) * spatial if isinstance(sigma, float) else sigma
    expected = ndimage.gaussian_filter(x.numpy(), sigma=(0, 0, *sigmas), mode="nearest", truncate=4.0)
    np.testing.assert_allclose(gaussian_blur(x, sigma).numpy(), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("sigma", [(1.0,), (1.0, -0.5), (math.nan, 1.0)])
def test_gaussian_blur_refuses_a_wrong_count_or_a_negative_or_nan_sigma(sigma):
    with pytest.raises(ValueError, match="sigma"):
        gaussian_blur(torch.zeros(1, 1, 4, 4), sigma)


# --- SmoothGrad ---------------------------------------------------------------------------------

class FirstPixels(nn.Module):
    """Logits = the first three input values: SmoothGrad's clean forward pass needs a model."""

    def forward(self, x):
        return x.flatten(1)[:, :3]


class Probe:
    """A 'method' whose map is the first input channel, so SmoothGrad's average exposes the noise."""

    preprocess = device = None          # the model sees the inputs as given, where they are

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.model = FirstPixels()

    def attribute(self, inputs, target):
        self.batches.append(inputs.shape[0])
        return inputs[:, 0].clone()


def test_smoothgrad_noise_is_scaled_by_each_samples_range():
    x = torch.zeros(2, 1, 40, 40)
    x[0, 0, 0, 0] = 1.0  # range 1
    x[1, 0, 0, 0] = 10.0  # range 10
    probe = Probe()
    method = SmoothGrad(probe, n_samples=1, noise=0.1)
    noise = method.attribute(x, predicted_class) - x[:, 0]
    std = noise.flatten(1).std(1)
    torch.testing.assert_close(std, torch.tensor([0.1, 1.0]), rtol=0.1, atol=0)


@pytest.mark.parametrize("batch_size", [2, 3, 7])
def test_smoothgrad_batched_equals_unbatched(batch_size):
    net = small_net()
    x = torch.randn(3, 3, 8, 8, generator=gen(8))
    target = class_score([0, 2, 1])  # per-sample classes must survive the B x N batch
    unbatched = SmoothGrad(VanillaGrad(net), n_samples=7, noise=0.1, batch_size=None, seed=3)
    batched = SmoothGrad(VanillaGrad(net), n_samples=7, noise=0.1, batch_size=batch_size, seed=3)
    torch.testing.assert_close(batched.attribute(x, target), unbatched.attribute(x, target), rtol=1e-5, atol=1e-8)


def test_smoothgrad_batches_and_averages_as_told():
    probe = Probe()
    x = torch.randn(2, 1, 5, 5, generator=gen(9))
    out = SmoothGrad(probe, n_samples=5, noise=0.0, batch_size=2).attribute(x, predicted_class)
    assert probe.batches == [4, 4, 2]  # copies x samples per pass: 2+2+1 copies of 2 samples
    torch.testing.assert_close(out, x[:, 0])  # no noise: the mean of five identical maps
    probe.batches.clear()
    SmoothGrad(probe, n_samples=5, noise=0.0).attribute(x, predicted_class)
    assert probe.batches == [2] * 5  # unbatched: one noisy copy of the batch per pass


def test_smoothgrad_is_deterministic_per_seed():
    net = small_net()
    x = torch.randn(2, 3, 8, 8, generator=gen(10))
    a = SmoothGrad(VanillaGrad(net), 4, seed=1).attribute(x, class_score(0))
    torch.manual_seed(123)  # the global RNG plays no part
    b = SmoothGrad(VanillaGrad(net), 4, seed=1).attribute(x, class_score(0))
    c = SmoothGrad(VanillaGrad(net), 4, seed=2).attribute(x, class_score(0))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_absolute_smoothgrad_averages_each_copys_magnitude_as_tf_keras_vis():
    """The probe returns its (noisy) input: the absolute variant is the mean of |x + sigma eps_j| over the
    copies, drawn exactly as noise_copies draws them; the signed mean, whose noise cancels, is smaller."""
    from xaibook.saliency.cam import noise_copies, noise_scale

    x = torch.zeros(1, 1, 6, 6)
    x[0, 0, 0, 0] = 1.0
    n = 6
    out = SmoothGrad(Probe(), n_samples=n, noise=0.5, seed=4, absolute=True).attribute(x, predicted_class)
    draws = noise_copies(x, 4)
    expected = sum((x + noise_scale(x, 0.5) * next(draws)).abs()[:, 0] for _ in range(n)) / n
    torch.testing.assert_close(out, expected)
    signed = SmoothGrad(Probe(), n_samples=n, noise=0.5, seed=4).attribute(x, predicted_class)
    assert float(signed.abs().mean()) < float(out.mean())
    quiet = SmoothGrad(Probe(), n_samples=3, noise=0.0, absolute=True).attribute(x - 0.5, predicted_class)
    torch.testing.assert_close(quiet, (x - 0.5)[:, 0].abs())          # no noise: |map|
    from xaibook.saliency import describe
    assert "absolute values of finished" in describe("smoothgrad", method="vanillagrad", absolute=True)


@pytest.mark.parametrize("kwargs", [dict(n_samples=0), dict(n_samples=2, noise=-1.0), dict(n_samples=2, batch_size=0)])
def test_smoothgrad_rejects_bad_options(kwargs):
    with pytest.raises(ValueError):
        SmoothGrad(Probe(), **kwargs)


# --- Score-CAM ----------------------------------------------------------------------------------

class TwoChannel(nn.Module):
    """A = (x, -x) by a 1x1 conv, logits = (mean A_1, mean A_2) = (mu, -mu): Score-CAM by hand."""

    def __init__(self, dims: int = 2) -> None:
        super().__init__()
        conv = {2: nn.Conv2d, 3: nn.Conv3d}[dims]
        self.features = conv(1, 2, 1, bias=False)
        with torch.no_grad():
            self.features.weight.copy_(torch.tensor([1.0, -1.0]).reshape(2, 1, *([1] * dims)))

    def forward(self, x):
        return self.features(x).flatten(2).mean(2)


def expected_scorecam(x: torch.Tensor, k: int, variant: str) -> torch.Tensor:
    """Masks H_1 = minmax(x), H_2 = minmax(-x); masked mean mu_j = mean(x H_j) gives logits (mu_j, -mu_j)."""
    flat = x.flatten()
    masks = [(flat - flat.min()) / (flat.max() - flat.min()), (flat.max() - flat) / (flat.max() - flat.min())]
    mus = [float((flat * h).mean()) for h in masks]
    sign = 1 if k == 0 else -1
    if variant == "wang2020":  # softmax over the two classes: sigmoid(+-2 mu)
        w = [1 / (1 + math.exp(-2 * sign * mu)) for mu in mus]
    else:  # softmax over the two channels of the raw logit +-mu
        e = [math.exp(sign * mu) for mu in mus]
        w = [ej / sum(e) for ej in e]
    return (w[0] - w[1]) * x[0, 0]


@pytest.mark.parametrize("variant", ["wang2020", "pytorch-grad-cam"])
@pytest.mark.parametrize("dims,shape", [(2, (1, 1, 2, 3)), (3, (1, 1, 2, 2, 3))])
@pytest.mark.parametrize("k", [0, 1])
def test_scorecam_hand_computed(variant, dims, shape, k):
    x = torch.rand(shape, generator=gen(12), dtype=torch.float64) + 0.5
    net = TwoChannel(dims).double()
    cam = ScoreCAM(net, net.features, variant=variant).attribute(x, class_score(k), normalize=False, relu=False)
    torch.testing.assert_close(cam[0], expected_scorecam(x, k, variant))
    relu_cam = ScoreCAM(net, net.features, variant=variant).attribute(x, class_score(k), normalize=False)
    torch.testing.assert_close(relu_cam[0], expected_scorecam(x, k, variant).clamp_min(0))


def full_res_net(seed: int = 0) -> nn.Sequential:
    # target layer net[2] keeps the input's size: no upsampling, whose conventions differ between
    # implementations (pytorch-grad-cam: align_corners=True; the authors and we: False)
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))


def test_scorecam_matches_pytorch_grad_cam():
    """pytorch-grad-cam 1.5.7: softmax over channels of the raw logit; 1e-8 in the masks' and 1e-7 in the
    maps' min-max; a conv output has no constant channel, so its blank-input scores do not arise."""
    import pytorch_grad_cam
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    net = full_res_net()
    x = torch.randn(4, 3, 9, 9, generator=gen(13))
    classes = [0, 1, 2, 1]
    ref = pytorch_grad_cam.ScoreCAM(model=net, target_layers=[net[2]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = ref(input_tensor=x, targets=[ClassifierOutputTarget(c) for c in classes])
    got = ScoreCAM(net, net[2], variant="pytorch-grad-cam").attribute(x, class_score(classes)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)


def authors_scorecam(net: nn.Module, layer: nn.Module, x: torch.Tensor, classes: torch.Tensor,
                     upsample: bool = False) -> torch.Tensor:
    """haofanwang/Score-CAM ``scorecam_batch.py``: a loop over channels, softmax probability of the class
    as weight, zero weight for a constant channel, ReLU of the weighted sum, min-max. ``upsample``: as its
    ``scorecam.py`` does, each channel is first upsampled to the input size (bilinear, align_corners=False)
    and THEN min-max scaled to a mask, and the upsampled channel is what the probability weighs."""
    store = {}
    handle = layer.register_forward_hook(lambda _m, _i, out: store.update(a=out))
    with torch.no_grad():
        net(x)
        handle.remove()
        acts = store["a"]
        if upsample:
            acts = F.interpolate(acts, size=x.shape[2:], mode="bilinear", align_corners=False)
        cam = torch.zeros(x.shape[0], *x.shape[2:])
        for k in range(acts.shape[1]):
            a = acts[:, k]
            lo, hi = a.flatten(1).min(1).values, a.flatten(1).max(1).values
            mask = (a - lo[:, None, None]) / (hi - lo)[:, None, None]
            prob = net(x * mask[:, None]).softmax(1).gather(1, classes[:, None])[:, 0]
            cam += torch.where(hi > lo, prob, 0)[:, None, None] * a
        cam = cam.relu().flatten(1)
        lo, hi = cam.min(1, keepdim=True).values, cam.max(1, keepdim=True).values
    return ((cam - lo) / (hi - lo)).reshape(x.shape[0], *x.shape[2:])


def test_scorecam_matches_the_authors_code():
    net = full_res_net(1)
    x = torch.randn(3, 3, 9, 9, generator=gen(14))
    classes = torch.tensor([2, 0, 1])
    got = ScoreCAM(net, net[2]).attribute(x, class_score(classes))
    torch.testing.assert_close(got, authors_scorecam(net, net[2], x, classes), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dims,shape", [(2, (2, 3, 12, 12)), (3, (2, 3, 4, 8, 8))])
def test_scorecam_batch_sizes_give_the_same_maps_images_and_videos(dims, shape):
    net = small_net(dims=dims)
    x = torch.randn(shape, generator=gen(15))
    # net[4] sits after the 2x max-pool: masks are upsampled bilinearly (images) or trilinearly (videos)
    maps = [ScoreCAM(net, net[4], batch_size=b).attribute(x, class_score(1)) for b in (1, 25, 4)]
    assert maps[0].shape == (shape[0], *shape[2:])
    torch.testing.assert_close(maps[1], maps[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(maps[2], maps[0], rtol=1e-5, atol=1e-6)


def test_scorecam_skips_constant_channels():
    net = full_res_net(2)
    with torch.no_grad():  # channel 3 of the target conv becomes its bias, a constant map
        net[2].weight[3] = 0.0
    forwards = []
    net.register_forward_pre_hook(lambda _m, inputs: forwards.append(inputs[0].shape[0]))
    x = torch.randn(2, 3, 6, 6, generator=gen(16))
    ScoreCAM(net, net[2], batch_size=5).attribute(x, class_score(0))
    assert forwards == [2, 5, 5, 4]  # the unmasked pass, then 2 x 7 valid channels


def test_scorecam_rejects_nonlinear_targets_and_single_logits():
    net = full_res_net()
    x = torch.randn(1, 3, 6, 6)
    with pytest.raises(ValueError, match="linear"):
        ScoreCAM(net, net[2]).attribute(x, lambda z: z.softmax(1)[:, 0])
    single = nn.Sequential(nn.Conv2d(3, 2, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 1))
    with pytest.raises(ValueError, match="two classes"):
        ScoreCAM(single, single[0]).attribute(x, class_score(0))


def test_class_selection_is_one_hot_for_the_predicted_class():
    logits = torch.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 1.0]])
    torch.testing.assert_close(class_selection(predicted_class, logits), torch.tensor([[0.0, 1, 0], [1, 0, 0]]))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_class_selection_accepts_low_precision_logits_with_float32_scores(dtype):
    # CUDA autocast runs sum() in float32 but keeps gather()'s float16: the linearity check then compared a
    # float16 tensor with a float32 one and raised "Half did not match Float" (seen on an H200, 2026-12-04)
    logits = torch.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 1.0]], dtype=dtype)
    got = class_selection(lambda z: z[:, 1].float(), logits)
    assert got.dtype == dtype
    torch.testing.assert_close(got.float(), torch.tensor([[0.0, 1, 0], [0, 1, 0]]))
    with pytest.raises(ValueError, match="nonlinear target"):       # the check itself still bites
        class_selection(lambda z: z.float().softmax(1)[:, 1], logits)


# --- GradCAM before the ReLU --------------------------------------------------------------------

def test_gradcam_relu_false_keeps_negative_evidence():
    # HandNet of test_saliency with w = (1, -2), v = (1, 3): weights (1/4, 3/4), CAM = (1/4 - 3/2) x = -5/4 x
    net = nn.Sequential(nn.Conv2d(1, 2, 1, bias=False), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([1.0, -2.0]).reshape(2, 1, 1, 1))
        net[3].weight.copy_(torch.tensor([[1.0, 3.0]]))
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    method = GradCAM(net, net[0])
    signed = method.attribute(x, class_score(0), normalize=False, upsample=False, relu=False)
    torch.testing.assert_close(signed[0], -1.25 * x[0, 0])
    torch.testing.assert_close(method.attribute(x, class_score(0), normalize=False, upsample=False)[0],
                               torch.zeros(2, 2))


# --- normalisations -----------------------------------------------------------------------------

MAP = torch.tensor([[-2.0, -1.0, 0.0, 1.0, 3.0]])
# 99th percentile, numpy's linear rule: position 0.99 * 4 = 3.96 in the sorted values
EXPECTED = {
    "All-100": [0, 1 / 5, 2 / 5, 3 / 5, 1],
    "Abs-100": [2 / 3, 1 / 3, 0, 1 / 3, 1],
    "ReLU-100": [0, 0, 0, 1 / 3, 1],
    "All-99": [0, 1 / 4.92, 2 / 4.92, 3 / 4.92, 1],  # q = 1 + 0.96 * 2 = 2.92, range 4.92
    "Abs-99": [2 / 2.96, 1 / 2.96, 0, 1 / 2.96, 1],  # sorted |x| = 0 1 1 2 3, q = 2.96
    "ReLU-99": [0, 0, 0, 1 / 2.92, 1],  # sorted 0 0 0 1 3, q = 2.92
}


@pytest.mark.parametrize("name", NORMALISATIONS)
def test_normalise_hand_computed(name):
    torch.testing.assert_close(normalise(MAP, name), torch.tensor([EXPECTED[name]]))


@pytest.mark.parametrize("name", NORMALISATIONS)
def test_normalise_constant_map_is_zero_and_nan_free(name):
    maps = torch.stack([torch.full((3, 3), -2.0), torch.zeros(3, 3)])
    out = normalise(maps, name)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, torch.zeros(2, 3, 3))


def test_normalise_single_extreme_outlier():
    # 0..199 and one 1e6: the true max squashes the map, the 99th percentile (sorted[198] = 198) clips it
    values = torch.cat([torch.arange(200.0), torch.tensor([1e6])])[None]
    torch.testing.assert_close(normalise(values, "ReLU-100"), values / 1e6)
    capped = normalise(values, "ReLU-99")
    torch.testing.assert_close(capped[0, :199], torch.arange(199.0) / 198)
    torch.testing.assert_close(capped[0, 199:], torch.ones(2))


def test_normalise_outlier_above_a_flat_percentile_is_one():
    # 99th percentile equals the minimum: only what lies above it is salient, and no division by zero
    values = torch.zeros(1, 300)
    values[0, 7] = 5.0
    out = normalise(values, "All-99")
    assert float(out[0, 7]) == 1.0 and float(out.sum()) == 1.0


def test_normalise_is_per_sample_and_dimension_agnostic():
    video = torch.randn(1, 3, 4, 5, generator=gen(17))
    both = torch.cat([video, 10 * video - 3])
    for name in NORMALISATIONS[:1] + NORMALISATIONS[3:4]:  # All: an affine change leaves the map as is
        out = normalise(both, name)
        assert out.shape == (2, 3, 4, 5)
        torch.testing.assert_close(out[1], out[0], rtol=1e-5, atol=1e-6)


def test_normalise_percentile_matches_numpy():
    maps = torch.randn(3, 17, 19, generator=gen(18), dtype=torch.float64)
    q = np.percentile(maps.numpy().reshape(3, -1), 99, axis=1)
    lo = maps.numpy().reshape(3, -1).min(1)
    expected = np.clip((maps.numpy() - lo[:, None, None]) / (q - lo)[:, None, None], 0, 1)
    np.testing.assert_allclose(normalise(maps, "All-99").numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("maps,name,match", [(MAP, "abs-100", "unknown"),
                                             (torch.tensor([[0.0, math.nan]]), "All-100", "NaN")])
def test_normalise_fails_loudly(maps, name, match):
    with pytest.raises(ValueError, match=match):
        normalise(maps, name)


# --- every registered method --------------------------------------------------------------------

@pytest.mark.parametrize("name", METHODS.names())
def test_every_method_maps_videos_to_the_input_shape(name):
    # seeded here, not by whatever tests ran before; large enough that SLIC's 50 superpixels are not one voxel
    # each (on 4 x 6 x 5 they were, hiding changed nothing and LIME's weights were rounding noise)
    with torch.random.fork_rng():
        torch.manual_seed(19)
        net = nn.Sequential(nn.Conv3d(2, 4, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool3d(1),
                            nn.Flatten(), nn.Linear(4, 3))
    x = torch.randn(2, 2, 6, 10, 8, generator=gen(19))
    maps = METHODS.get(name)(net, net[1]).attribute(x, class_score(2))
    assert maps.shape == (2, 6, 10, 8)
    assert torch.isfinite(maps).all() and maps.abs().max() > 0


# --- one-logit (sigmoid) models and the class SmoothGrad fixes ---------------------------------

def test_predicted_class_of_one_logit_is_the_score_of_the_predicted_side():
    # z > 0: "positive", score z; z <= 0: "negative", score -z (the logit of 1 - sigmoid(z))
    logits = torch.tensor([[2.0], [-3.0], [0.0]])
    torch.testing.assert_close(predicted_class(logits), torch.tensor([2.0, 3.0, 0.0]))
    torch.testing.assert_close(class_selection(predicted_class, logits), torch.tensor([[1.0], [-1.0], [-1.0]]))


def test_vanillagrad_of_a_negative_one_logit_prediction_shows_the_negative_evidence():
    net = nn.Sequential(nn.Flatten(), nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor([[1.0, -2.0]]))
    x = torch.tensor([[[[1.0, 0.0]]], [[[0.0, 1.0]]]])  # z = 1 (positive), z = -2 (negative)
    maps = VanillaGrad(net).attribute(x)                 # default target: predicted_class
    torch.testing.assert_close(maps, torch.tensor([[[1.0, -2.0]], [[-1.0, 2.0]]]))


class Shift(nn.Module):
    """logits (s, -s) with s the sum of the first channel: the class flips with the input's offset."""

    def forward(self, x):
        s = x[:, 0].flatten(1).sum(1)
        return torch.stack([s, -s], 1)


class PreprocessingProbe:
    """A method whose model sees ``preprocess(x)`` (as LIME's does); its map is the target score everywhere."""

    def __init__(self) -> None:
        self.model = Shift()
        self.preprocess = lambda x: x - 1.0
        self.device = None

    def attribute(self, inputs, target):
        score = target(self.model(self.preprocess(inputs)))
        return score.reshape(-1, *([1] * (inputs.ndim - 2))).expand(-1, *inputs.shape[2:]).clone()


def test_smoothgrad_fixes_the_class_through_the_wrapped_methods_preprocess():
    # raw x = 0.75 predicts class 0 (s = 3); the model the method runs sees x - 1 and predicts
    # class 1 (s = -1, score +1). Fixed on the raw input, class 0 would score -1 everywhere.
    x = torch.full((1, 1, 2, 2), 0.75)
    maps = SmoothGrad(PreprocessingProbe(), n_samples=3, noise=0.0).attribute(x, predicted_class)
    torch.testing.assert_close(maps, torch.ones(1, 2, 2))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_smoothgrad_fixes_the_class_on_the_wrapped_methods_device():
    from xaibook.saliency import Lime

    net = nn.Sequential(nn.Conv2d(3, 2, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten()).cuda()
    lime = Lime(net, num_samples=8, segmentation=lambda img: np.arange(img.shape[0] * img.shape[1]).reshape(
        img.shape[:2]) // 8, device="cuda")
    maps = SmoothGrad(lime, n_samples=2, noise=0.0).attribute(torch.rand(1, 3, 4, 4), predicted_class)
    assert maps.shape == (1, 4, 4)


# --- Score-CAM: upsampled masks and constant channels ---------------------------------------------

def test_scorecam_with_upsampling_matches_the_authors_code():
    """The target layer follows a ReLU and a 2x max-pool (8x8 -> 4x4): its channels are non-negative and the
    weights are probabilities, so the ReLU of the low-resolution sum is a no-op and bilinear upsampling
    commutes with the weighted sum: our map (ReLU, then upsample) equals the authors' (upsample, then ReLU)
    exactly. The masks must be min-max scaled AFTER upsampling, as the authors' code and Wang et al. do."""
    torch.manual_seed(7)
    net = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 4, 3, padding=1),
                        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    with torch.no_grad():
        net[-1].weight.mul_(30.0)       # probabilities far from uniform, so the channel weights differ
    x = torch.randn(3, 3, 8, 8, generator=gen(20))
    classes = torch.tensor([0, 2, 1])
    got = ScoreCAM(net, net[2]).attribute(x, class_score(classes))
    torch.testing.assert_close(got, authors_scorecam(net, net[2], x, classes, upsample=True), rtol=1e-5, atol=1e-6)


class ThreeChannel(TwoChannel):
    """TwoChannel with a third, dead channel: A = (x, -x, 0); logits = (mean A_1, mean A_2) as before."""

    def __init__(self) -> None:
        nn.Module.__init__(self)
        self.features = nn.Conv2d(1, 3, 1, bias=False)
        with torch.no_grad():
            self.features.weight.copy_(torch.tensor([1.0, -1.0, 0.0]).reshape(3, 1, 1, 1))

    def forward(self, x):
        return self.features(x).flatten(2).mean(2)[:, :2]


@pytest.mark.parametrize("variant", ["wang2020", "pytorch-grad-cam"])
@pytest.mark.parametrize("k", [0, 1])
def test_scorecam_a_dead_channel_changes_no_weight(variant, k):
    """A constant channel (a dead ReLU channel is common) is left out: weight 0, and in the
    pytorch-grad-cam form it takes no share of the softmax over channels, so the two live channels get
    exactly TwoChannel's hand-computed weights (counted with a score of 0, it would add e^0 = 1 to the
    softmax's denominator and shrink both)."""
    x = torch.rand(1, 1, 2, 3, generator=gen(21), dtype=torch.float64) + 0.5
    net = ThreeChannel().double()
    cam = ScoreCAM(net, net.features, variant=variant).attribute(x, class_score(k), normalize=False, relu=False)
    torch.testing.assert_close(cam[0], expected_scorecam(x, k, variant))


@pytest.mark.parametrize("pool", [nn.MaxPool2d(2, stride=2, ceil_mode=True), nn.MaxPool2d(2, stride=1, dilation=2),
                                  nn.MaxPool2d(3, stride=2, padding=1)])
def test_deeplift_sums_to_delta_through_pools_with_ceil_mode_dilation_and_padding(pool):
    # the rule re-runs the pool to find each window's argmax: it must be the module's own pool, options included
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Tanh(), pool, nn.Flatten(), nn.LazyLinear(3)).double()
    x = torch.randn(2, 3, 9, 9, generator=gen(3), dtype=torch.float64)
    net(x)
    gap = completeness_gap(net, DeepLift(net), x, 1)
    assert float(gap.abs().max()) < 1e-10


def test_deeplift_maxpool_passes_the_plain_gradient_where_input_and_reference_agree():
    """Input [[5, 1], [0, 0]] against reference [[5, 0], [0, -1]] under a 2x2 max-pool: both windows' argmax
    is the top-left 5, where the difference is 0. The rule has nothing to divide there and keeps the max-pool's
    own gradient, 1 at that pixel (and 0 elsewhere)."""
    from xaibook.saliency.gradients import maxpool_rule

    x = torch.tensor([[[[5.0, 1.0], [0.0, 0.0]]], [[[5.0, 0.0], [0.0, -1.0]]]], dtype=torch.float64, requires_grad=True)
    pool = nn.MaxPool2d(2)
    y = maxpool_rule(pool, x, pool(x), eps=1e-10)
    torch.testing.assert_close(y.detach(), pool(x).detach())
    (grad,) = torch.autograd.grad(y[0].sum(), x)
    torch.testing.assert_close(grad[0, 0], torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=torch.float64))
