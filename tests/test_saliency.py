"""Known answers for the CAM methods, on hand-set networks where the maps can be computed by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from xaibook.saliency import METHODS, GradCAM, GradCAMpp, class_score, gradcampp_weights, minmax, normalise


class HandNet(nn.Module):
    """x -> A = [w1 x, w2 x] (1x1 conv, no bias) -> global average -> S = v . mean(A).

    Then dS/dA_k = v_k / Z everywhere (Z = number of spatial positions), so every CAM has a closed form.
    """

    def __init__(self, dims: int = 2, w=(1.0, 2.0), v=(3.0, 1.0)) -> None:
        super().__init__()
        conv = {2: nn.Conv2d, 3: nn.Conv3d}[dims]
        self.features = conv(1, 2, 1, bias=False)
        self.head = nn.Linear(2, 1, bias=False)
        with torch.no_grad():
            self.features.weight.copy_(torch.tensor(w).reshape(2, 1, *([1] * dims)))
            self.head.weight.copy_(torch.tensor([v]))
        self.dims = dims

    def forward(self, x):
        a = self.features(x)
        return self.head(a.mean(dim=tuple(range(2, 2 + self.dims))))


def expected_gradcampp(x: torch.Tensor, w=(1.0, 2.0), v=(3.0, 1.0)) -> torch.Tensor:
    """Closed form for HandNet: g_k = v_k / Z everywhere, alpha_k = g_k^2 / (2 g_k^2 + w_k sum(x) g_k^3 + 1e-6)
    (pytorch-grad-cam's epsilon), weight_k = Z alpha_k g_k."""
    z = x[0, 0].numel()
    s = float(x[0, 0].sum())
    weights = [z * (vk / z) ** 3 / (2 * (vk / z) ** 2 + wk * s * (vk / z) ** 3 + 1e-6) for wk, vk in zip(w, v)]
    return torch.relu(sum(wt * wk for wt, wk in zip(weights, w)) * x[0, 0])


X2 = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])


def test_gradcam_hand_computed():
    # weights (3/4, 1/4) -> CAM = relu(3/4 x + 1/4 * 2x) = 5/4 x
    net = HandNet()
    cam = GradCAM(net, net.features).attribute(X2, class_score(0), normalize=False, upsample=False)
    torch.testing.assert_close(cam[0], 1.25 * X2[0, 0])


def test_gradcampp_hand_computed():
    # channel 1: alpha = (9/16) / (2*9/16 + 10*27/64) = 2/19, w = 4 * 2/19 * 3/4 = 6/19
    # channel 2: alpha = (1/16) / (2/16 + 20/64) = 1/7,       w = 4 * 1/7 * 1/4 = 1/7
    # CAM = (6/19 * 1 + 1/7 * 2) x = 80/133 x (pytorch-grad-cam's 1e-6 in the denominator moves it
    # by 2e-6 relative). A Grad-CAM++ that skips the alpha normalisation (torch-cam's bug) gives 5x.
    net = HandNet()
    cam = GradCAMpp(net, net.features).attribute(X2, class_score(0), normalize=False, upsample=False)
    torch.testing.assert_close(cam[0], 80 / 133 * X2[0, 0], rtol=1e-5, atol=0)


def test_gradcampp_exp_variant_scales_by_exp_score():
    # S = 3 mean(x) + mean(2x) = 12.5; the stefannc variant multiplies every weight by exp(S)
    net = HandNet()
    cam = GradCAMpp(net, net.features, exp_score=True).attribute(X2, class_score(0), normalize=False, upsample=False)
    torch.testing.assert_close(cam[0], math.exp(12.5) * 80 / 133 * X2[0, 0].double(), rtol=1e-5, atol=0)


def test_exp_variant_equals_plain_after_normalisation_even_for_huge_scores():
    # exp(200) overflows float32; the variant is evaluated in float64 and normalises to the same map
    net = HandNet(v=(60.0, 20.0))
    x = X2 * 1.0
    plain = GradCAMpp(net, net.features).attribute(x, class_score(0))
    exp = GradCAMpp(net, net.features, exp_score=True).attribute(x, class_score(0))
    assert torch.isfinite(exp).all()
    torch.testing.assert_close(plain, exp)


@pytest.mark.parametrize("dims,shape", [(2, (1, 1, 3, 5)), (3, (1, 1, 4, 3, 5))])
def test_gradcampp_closed_form_images_and_videos(dims, shape):
    x = torch.rand(shape, generator=torch.Generator().manual_seed(0)) + 0.1
    net = HandNet(dims)
    cam = GradCAMpp(net, net.features).attribute(x, class_score(0), normalize=False, upsample=False)
    torch.testing.assert_close(cam[0], expected_gradcampp(x), rtol=1e-5, atol=1e-6)


def test_gradcampp_weights_zero_gradient_gives_zero_weight():
    acts = torch.ones(1, 2, 2, 2)
    grads = torch.zeros(1, 2, 2, 2)
    torch.testing.assert_close(gradcampp_weights(acts, grads), torch.zeros(1, 2))


def small_convnet(seed: int = 0, head_scale: float = 1.0) -> nn.Sequential:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))
    with torch.no_grad():
        net[-1].weight.mul_(head_scale)
    return net


@pytest.mark.parametrize("ours,theirs", [("gradcam", "GradCAM"), ("gradcampp", "GradCAMPlusPlus")])
def test_matches_pytorch_grad_cam(ours, theirs):
    """pytorch-grad-cam 1.5.7: plain Grad-CAM++ (no exp(S)), eps = 1e-6 added to the alpha denominator
    where we replace zero denominators by one, and 1e-7 added in its min-max. The eps biases alpha
    towards zero when squared gradients are ~1e-6, so the comparison uses a head scaled so that
    gradients are of order one, where both formulas agree."""
    import pytorch_grad_cam
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    net = small_convnet(head_scale=300.0)
    x = torch.randn(4, 3, 9, 9, generator=torch.Generator().manual_seed(1))
    classes = [0, 1, 2, 1]
    ref = getattr(pytorch_grad_cam, theirs)(model=net, target_layers=[net[3]])
    expected = ref(input_tensor=x, targets=[ClassifierOutputTarget(c) for c in classes])
    got = METHODS.get(ours)(net, net[3]).attribute(x, class_score(classes)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_gradcam_matches_captum_layergradcam():
    from captum.attr import LayerGradCam

    net = small_convnet(2)
    x = torch.randn(3, 3, 7, 7, generator=torch.Generator().manual_seed(3))
    ref = LayerGradCam(net, net[3]).attribute(x, target=1, relu_attributions=True)[:, 0]
    got = GradCAM(net, net[3]).attribute(x, class_score(1), normalize=False, upsample=False)
    torch.testing.assert_close(got, ref.detach(), rtol=1e-5, atol=1e-6)


# options that fit the 8x8 test inputs, for methods whose defaults are sized for 224-px images,
# and fewer noisy copies for the smoothing methods (their defaults of 50 only cost time here). LIME's 50 SLIC
# superpixels would be one pixel each on 8x8: hidden by their own mean they change nothing (Lime refuses);
# fewer SLIC segments on noise merge into two, so LIME gets 2x2 blocks
def two_by_two_blocks(image: np.ndarray) -> np.ndarray:
    rows, cols = np.indices(image.shape[:2]) // 2
    return rows * image.shape[1] + cols


SMALL_INPUT_OPTIONS = {"occlusion": {"patch": 3, "stride": 1}, "smoothgrad": {"n_samples": 4},
                       "smoothgradcampp": {"n_samples": 4},
                       "lime": {"segmentation": two_by_two_blocks, "num_samples": 100}}


@pytest.mark.parametrize("name", METHODS.names())
class TestEveryMethod:
    def test_batch_size_does_not_change_maps(self, name):
        net = small_convnet()
        x = torch.randn(5, 3, 8, 8, generator=torch.Generator().manual_seed(4))
        method = METHODS.get(name)(net, net[3], **SMALL_INPUT_OPTIONS.get(name, {}))
        whole = method.attribute(x, class_score(2))
        single = torch.cat([method.attribute(x[i:i + 1], class_score(2)) for i in range(5)])
        torch.testing.assert_close(whole, single, rtol=1e-5, atol=1e-6)

    def test_input_model_and_flags_untouched(self, name):
        net = small_convnet()
        net.train()
        net[0].eval()
        flags = [m.training for m in net.modules()]
        state = {k: v.clone() for k, v in net.state_dict().items()}
        x = torch.randn(2, 3, 8, 8, requires_grad=True)
        x_before = x.detach().clone()
        METHODS.get(name)(net, net[3], **SMALL_INPUT_OPTIONS.get(name, {})).attribute(x, class_score(0))
        assert x.grad is None
        torch.testing.assert_close(x.detach(), x_before)
        assert [m.training for m in net.modules()] == flags
        assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())
        assert all(p.grad is None for p in net.parameters())

    def test_no_hook_survives_an_exception(self, name):
        net = small_convnet()

        def bad_target(logits):
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            METHODS.get(name)(net, net[3]).attribute(torch.randn(1, 3, 8, 8), bad_target)
        # DeepLift also sets forward pre-hooks
        assert all(not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks for m in net.modules())

    def test_randomised_weights_change_the_map(self, name):
        x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(5))
        a, b = small_convnet(0), small_convnet(1)
        # occlusion's default 11-px patch covers the whole 8x8 input, giving a constant map by construction
        options = SMALL_INPUT_OPTIONS.get(name, {})
        # on a common scale: gradient methods return raw maps, whose size says nothing
        ma = normalise(METHODS.get(name)(a, a[3], **options).attribute(x, class_score(0)), "Abs-100")
        mb = normalise(METHODS.get(name)(b, b[3], **options).attribute(x, class_score(0)), "Abs-100")
        assert (ma - mb).abs().max() > 0.1

    def test_maps_are_in_unit_range_and_upsampled(self, name):
        net = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                            nn.Flatten(), nn.Linear(4, 2))
        x = torch.randn(3, 3, 10, 10, generator=torch.Generator().manual_seed(6))
        maps = METHODS.get(name)(net, net[1], **SMALL_INPUT_OPTIONS.get(name, {})).attribute(x, class_score(1))
        assert maps.shape == (3, 10, 10)
        assert torch.isfinite(maps).all()
        # gradient methods return raw signed maps: the unit range holds after the paper's normalisation
        unit = normalise(maps, "ReLU-100")
        assert float(unit.min()) >= 0 and float(unit.max()) <= 1


def test_minmax_constant_map_is_zero_and_nan_free():
    maps = torch.stack([torch.full((3, 3), 2.0), torch.arange(9.0).reshape(3, 3)])
    out = minmax(maps)
    torch.testing.assert_close(out[0], torch.zeros(3, 3))
    torch.testing.assert_close(out[1], torch.arange(9.0).reshape(3, 3) / 8)


def test_minmax_floor_is_relative_small_real_ranges_survive():
    """A map whose values all lie near 1e-18 but vary is normalised like any map (a fixed 1e-12
    floor blanked it); a constant map that carries float rounding stays a constant (zeros)."""
    ramp = torch.arange(9.0, dtype=torch.float64).reshape(3, 3)
    tiny = minmax(ramp[None] * 4e-18)
    torch.testing.assert_close(tiny[0], ramp / 8)
    rounding = torch.full((1, 3, 3), 1.0) + torch.tensor([0.0, 1.2e-7, 0.0]).reshape(1, 3, 1)   # 1 ulp
    torch.testing.assert_close(minmax(rounding), torch.zeros(1, 3, 3))
    half = minmax((ramp[None] * 1e-4).half())          # float16 keeps its own epsilon
    assert float(half.max()) == 1.0


def test_exp_variant_at_a_strongly_negative_logit_is_not_blank():
    """exp(-40) = 4e-18 scales the raw map below the old absolute floor of 1e-12: the map came back
    all zeros with no warning. It is the same map as the plain form."""
    net = HandNet()
    x = -4.0 * X2                                      # S = -50, gradients still positive
    assert float(net(x)) < -40
    exp = GradCAMpp(net, net.features, exp_score=True).attribute(x, class_score(0), relu=False)
    plain = GradCAMpp(net, net.features).attribute(x, class_score(0), relu=False)
    assert float(exp.max()) == 1.0
    torch.testing.assert_close(exp, plain)


def test_gradcam_weights_average_in_float32():
    """2048 half-precision gradients of 1 + 2^-10: float16 sums round at 2048 and lose the mean."""
    from xaibook.saliency._core import gradcam_weights

    g = torch.full((1, 1, 64, 32), 1 + 2 ** -10).half()
    w = gradcam_weights(g)
    assert w.dtype == torch.float32 and float(w) == pytest.approx(1 + 2 ** -10, abs=1e-6)


def test_target_must_give_one_score_per_sample():
    net = HandNet()
    with pytest.raises(ValueError, match="one score per sample"):
        GradCAM(net, net.features).attribute(X2, lambda logits: logits)


@pytest.mark.parametrize("name", list(METHODS))
def test_every_registered_method_has_a_definition_for_the_method_tables(name):
    from xaibook.saliency import describe

    assert len(describe(name)) > 20


def test_describe_names_the_gradcampp_form_and_sampling_from_the_options():
    from xaibook.saliency import GRADCAMPP_SOURCES, describe

    assert describe("gradcampp", variant="gradcam-pytorch") == GRADCAMPP_SOURCES["gradcam-pytorch"]
    assert describe("gradcampp") == GRADCAMPP_SOURCES["chattopadhay"]
    wrapped = describe("smoothgrad", method="gradcampp", variant="gradcam-pytorch", n_samples=7, noise=0.3)
    assert "n = 7" in wrapped and "0.3 x input range" in wrapped and GRADCAMPP_SOURCES["gradcam-pytorch"] in wrapped
    with pytest.raises(KeyError):
        describe("no-such-method")


@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_states_what_its_model_sees_and_where(name):
    """SmoothGrad fixes its class through ``preprocess`` and ``device``: every method must state both."""
    net = small_convnet(0)
    method = METHODS.get(name)(net, net[3], **SMALL_INPUT_OPTIONS.get(name, {}))
    assert method.preprocess is None or callable(method.preprocess)
    assert method.device is None or torch.device(method.device).type in ("cpu", "cuda", "mps")


def test_gradcam_upsampling_by_hand_half_pixel_centres():
    """A stride-2 2x2 conv with weights w_k / 4 is w_k times 2x2 average pooling: on x = P repeated 2x2 the
    layer holds w_k P with P = [[0, 1], [2, 3]], i.e. P(i, j) = 2i + j, and Grad-CAM = (sum_k v_k w_k / 4) P
    = 5/4 P. Bilinear upsampling to 4x4 with half-pixel centres (align_corners=False: the authors', captum's
    and torch-cam's convention) samples a linear P at u = (0, 1/4, 3/4, 1) along each axis (the outer samples
    clamp to the edge); align_corners=True (pytorch-grad-cam) would sample at (0, 1/3, 2/3, 1)."""
    from captum.attr import LayerAttribution

    net = nn.Sequential(nn.Conv2d(1, 2, 2, stride=2, bias=False), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([1.0, 2.0]).reshape(2, 1, 1, 1).expand(2, 1, 2, 2) / 4)
        net[3].weight.copy_(torch.tensor([[3.0, 1.0]]))
    p = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    x = p.repeat_interleave(2, 0).repeat_interleave(2, 1)[None, None]
    low = GradCAM(net, net[0]).attribute(x, class_score(0), normalize=False, upsample=False)
    torch.testing.assert_close(low[0], 1.25 * p)
    u = torch.tensor([0.0, 0.25, 0.75, 1.0])
    up = GradCAM(net, net[0]).attribute(x, class_score(0), normalize=False)
    torch.testing.assert_close(up[0], 1.25 * (2 * u[:, None] + u[None, :]))
    torch.testing.assert_close(up, LayerAttribution.interpolate(low[:, None], (4, 4), "bilinear")[:, 0])
    shown = GradCAM(net, net[0]).attribute(x, class_score(0))          # min-max after upsampling
    torch.testing.assert_close(shown[0], (2 * u[:, None] + u[None, :]) / 3)
