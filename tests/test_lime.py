"""Known answers and cross-checks for the LIME wrapper (chapter 02_cauliflower).

The registry-wide checks (batch size, untouched input and model, hooks, randomised weights, videos)
run on LIME through ``tests/test_saliency.py`` and ``tests/test_saliency_methods.py``.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from lime import lime_image
from sklearn.linear_model import LinearRegression
from torch import nn

from xaibook.saliency import METHODS, Lime, class_score
from xaibook.saliency.lime import renumber, segment_means


def grid_segments(image: np.ndarray, block: int = 4) -> np.ndarray:
    """Square superpixels of ``block`` pixels, numbered row by row (known by construction)."""
    h, w = image.shape[:2]
    rows, cols = np.mgrid[:h, :w] // block
    return rows * (w // block) + cols


class PixelLinear(nn.Module):
    """logits = (sum(weight * x), -sum(weight * x)): linear in the superpixel switches when hidden ones are 0."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)

    def forward(self, x):
        s = (self.weight * x).flatten(1).sum(1)
        return torch.stack([s, -s], 1)


def region_weight(shape=(3, 16, 16), region=(slice(4, 12), slice(4, 12)), negative=None) -> torch.Tensor:
    """Mean over a square region (and minus the mean over ``negative``), as a pixel weight."""
    w = torch.zeros(shape, dtype=torch.float64)
    w[:, region[0], region[1]] = 1 / w[:, region[0], region[1]].numel()
    if negative is not None:
        w[:, negative[0], negative[1]] = -1 / w[:, negative[0], negative[1]].numel()
    return w


def smooth_image(seed: int = 0, size: int = 16) -> torch.Tensor:
    """(1, 3, size, size) image in [0.2, 1] made of coloured 4x4 blocks (something for SLIC to find)."""
    g = torch.Generator().manual_seed(seed)
    blocks = 0.2 + 0.8 * torch.rand(1, 3, size // 4, size // 4, generator=g, dtype=torch.float64)
    return blocks.repeat_interleave(4, 2).repeat_interleave(4, 3)


def small_convnet(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 6, 3, padding=1), nn.Tanh(),
                         nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(24, 2))


def test_registered():
    assert METHODS.get("lime") is Lime


def test_linear_model_gives_exact_superpixel_contributions():
    """With hidden superpixels set to 0 the logit is sum_j z_j c_j, c_j = sum over superpixel j of w * x:
    least squares recovers c exactly, the intercept is 0 and the fit perfect."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 16, 16, generator=g, dtype=torch.float64)
    w = torch.randn(3, 16, 16, generator=g, dtype=torch.float64)
    lime = Lime(PixelLinear(w), segmentation=grid_segments, hide=0.0, output="logit", num_samples=200)
    explanations = lime.explain(x, class_score(0))
    for xi, e in zip(x, explanations):
        seg = torch.as_tensor(grid_segments(np.zeros((16, 16))))
        expected = torch.zeros(16, dtype=torch.float64).index_add_(0, seg.flatten(), (w * xi).sum(0).flatten())
        np.testing.assert_allclose(e.weights, expected.numpy(), rtol=1e-9, atol=1e-10)
        assert abs(e.intercept) < 1e-9 and e.r2 == pytest.approx(1.0)
        assert e.local_pred == pytest.approx(float((w * xi).sum()))
    maps = lime.attribute(x, class_score(0))
    np.testing.assert_allclose(maps[0].numpy(), explanations[0].weights[explanations[0].segments])
    # the other class's logit is minus the first: the map flips sign
    torch.testing.assert_close(lime.attribute(x, class_score(1)), -maps)


def test_region_superpixels_get_the_highest_and_signed_weights():
    """Score = mean of a central square minus the mean of a corner square, SLIC superpixels."""
    x = smooth_image()
    region, corner = (slice(4, 12), slice(4, 12)), (slice(12, 16), slice(0, 4))
    model = PixelLinear(region_weight(region=region, negative=corner))
    e = Lime(model, hide=0.0, output="logit", num_samples=300).explain(x, class_score(0))[0]
    seg = e.segments
    in_region, in_corner = np.zeros((16, 16), bool), np.zeros((16, 16), bool)
    in_region[region], in_corner[corner] = True, True
    features = range(len(e.weights))
    only_in = [f for f in features if in_region[seg == f].all()]
    only_corner = [f for f in features if in_corner[seg == f].all()]
    untouched = [f for f in features if not (in_region | in_corner)[seg == f].any()]
    assert only_in and only_corner and untouched
    assert e.weights.argmax() in only_in
    assert (e.weights[only_in] > 0).all() and (e.weights[only_corner] < 0).all()  # signed
    np.testing.assert_allclose(e.weights[untouched], 0, atol=1e-10)


def test_region_wins_with_probabilities():
    """The surrogate regresses the (nonlinear) class probability; SLIC superpixels. Hidden superpixels are
    set to 0: with lime's default (their own mean) a superpixel inside one flat colour block cannot change
    the score when hidden, and gets weight 0."""
    x = smooth_image(2).float()
    model = PixelLinear(region_weight().float() * 4)
    e = Lime(model, num_samples=300, hide=0.0).explain(x, class_score(0))[0]
    in_region = np.zeros((16, 16), bool)
    in_region[4:12, 4:12] = True
    share_inside = np.array([in_region[e.segments == f].mean() for f in range(len(e.weights))])
    ranking = np.argsort(-e.weights)
    # the superpixels wholly inside the region come first, those wholly outside last
    n_in = (share_inside == 1).sum()
    assert n_in > 0 and (share_inside[ranking[:n_in]] == 1).all()
    assert (share_inside[ranking[-(share_inside == 0).sum():]] == 0).all()


def test_same_seed_same_map_other_seed_other_map():
    net, x = small_convnet(), torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    a = Lime(net, num_samples=100, seed=5).attribute(x, class_score(0))
    b = Lime(net, num_samples=100, seed=5, batch_size=7).attribute(x, class_score(0))
    c = Lime(net, num_samples=100, seed=6).attribute(x, class_score(0))
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    assert (a - c).abs().max() > 0.05 * a.abs().max()


def lime_reference(net, image: np.ndarray, segments: np.ndarray, **options) -> np.ndarray:
    """lime's own explain_instance on the same superpixels, scoring the class-0 probability."""

    def classifier_fn(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net(torch.as_tensor(batch).permute(0, 3, 1, 2)).softmax(1).numpy()

    explainer = lime_image.LimeImageExplainer(kernel_width=0.25, feature_selection="none", random_state=0)
    exp = explainer.explain_instance(image, classifier_fn, labels=(0,), top_labels=None, num_samples=150,
                                     batch_size=16, segmentation_fn=lambda _: segments, random_seed=0, **options)
    weights = np.zeros(segments.max() + 1)
    for f, w in exp.local_exp[0]:
        weights[f] = w
    return weights


@pytest.mark.parametrize("surrogate,hide,options", [
    ("linear", "mean", dict(model_regressor=LinearRegression())),
    ("ridge", "mean", dict()),  # lime's default surrogate, Ridge(alpha=1)
    ("linear", 0.0, dict(model_regressor=LinearRegression(), hide_color=0.0)),
])
def test_equals_lime_explain_instance(surrogate, hide, options):
    # float64 throughout: in float32 the two sides' forward passes (lime hands the network a channels-last view)
    # may take different CPU kernels, and the regression magnifies their 1e-7 differences past any tight tolerance
    net = small_convnet(1).double()
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    ours = Lime(net, num_samples=150, batch_size=16, surrogate=surrogate, hide=hide).explain(x, class_score(0))[0]
    ref = lime_reference(net, x[0].permute(1, 2, 0).numpy(), ours.segments, **options)
    np.testing.assert_allclose(ours.weights, ref, rtol=1e-6, atol=1e-9)


def test_least_squares_surrogate_equals_numpy_on_limes_own_samples():
    """Weighted least squares with intercept, solved by numpy on lime's data_labels and kernel."""
    net = small_convnet(2)
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    ours = Lime(net, num_samples=200, seed=3).explain(x, class_score(1))[0]
    image = x[0].permute(1, 2, 0).numpy()

    def classifier_fn(batch):
        with torch.no_grad():
            return net(torch.as_tensor(batch).permute(0, 3, 1, 2)).softmax(1).numpy()

    explainer = lime_image.LimeImageExplainer(random_state=3)
    data, labels = explainer.data_labels(image, segment_means(image, ours.segments), ours.segments, classifier_fn, 200)
    cosine = 1 - data @ data[0] / (np.linalg.norm(data, axis=1) * np.linalg.norm(data[0]))
    root_pi = np.exp(-cosine ** 2 / 0.25 ** 2) ** 0.25  # lime's sample weight is sqrt(exp(-d^2/w^2))
    design = np.c_[np.ones(len(data)), data] * root_pi[:, None]
    coef = np.linalg.lstsq(design, labels[:, 1] * root_pi, rcond=None)[0]
    np.testing.assert_allclose(ours.weights, coef[1:], rtol=1e-6, atol=1e-8)
    assert ours.intercept == pytest.approx(coef[0], abs=1e-8)


def test_preprocess_is_applied_before_the_model():
    net = small_convnet(3)
    mean, std = torch.tensor([0.4, 0.5, 0.6])[:, None, None], torch.tensor([0.2, 0.3, 0.25])[:, None, None]
    inside = nn.Sequential(*([_Normalise(mean, std)] + list(net)))
    x = torch.rand(2, 3, 12, 12, generator=torch.Generator().manual_seed(6))
    a = Lime(net, num_samples=80, preprocess=lambda t: (t - mean) / std).attribute(x, class_score(0))
    b = Lime(inside, num_samples=80).attribute(x, class_score(0))
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


class _Normalise(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.mean, self.std = mean, std

    def forward(self, x):
        return (x - self.mean) / self.std


def test_quickshift_images_and_renumbering():
    x = smooth_image(7, 24).float()
    e = Lime(small_convnet(), segmentation="quickshift", num_samples=50).explain(x, class_score(0))[0]
    assert e.segments.shape == (24, 24) and np.array_equal(np.unique(e.segments), np.arange(len(e.weights)))
    np.testing.assert_array_equal(renumber(np.array([[5, 5], [1, 9]])), [[1, 1], [0, 2]])


def test_fails_loudly():
    net = small_convnet()
    video = torch.rand(1, 3, 4, 12, 12)  # 576 voxels: SLIC's 50 superpixels hold several each
    video_net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 12 * 12, 2))
    with pytest.raises(ValueError, match="quickshift segments 2-D"):
        Lime(video_net, segmentation="quickshift").attribute(video, class_score(0))
    assert Lime(video_net, num_samples=20).attribute(video, class_score(0)).shape == (1, 4, 12, 12)  # SLIC does
    with pytest.raises(ValueError, match="segmentation returned shape"):
        Lime(net, segmentation=lambda im: np.zeros((2, 2), int), num_samples=10).attribute(torch.rand(1, 3, 8, 8))
    for bad in (dict(segmentation="felzenszwalb"), dict(surrogate="lasso"), dict(output="softmax"),
                dict(hide="blur"), dict(num_samples=1)):
        with pytest.raises(ValueError):
            Lime(net, **bad)


def test_refuses_superpixels_whose_hiding_changes_nothing():
    """One pixel per superpixel hidden by its own mean: every sample scores alike, every weight would be 0."""
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(8))
    one_pixel_each = lambda im: np.arange(im.shape[0] * im.shape[1]).reshape(im.shape[:2])  # noqa: E731
    with pytest.raises(ValueError, match="input 0 unchanged.*64 superpixels on 64 pixels.*n_segments"):
        Lime(small_convnet(), segmentation=one_pixel_each, num_samples=20).attribute(x, class_score(0))
    maps = Lime(small_convnet(), segmentation=one_pixel_each, num_samples=20, hide=0.0).attribute(x, class_score(0))
    assert maps.abs().amin(dim=(1, 2)).min() > 0  # a constant hide does change them


class _SignedMean(nn.Module):
    """logits = (mean x, -mean x): class 0 for a positive mean, class 1 for a negative one (never saturated)."""

    def forward(self, x):
        s = x.flatten(1).mean(1)
        return torch.stack([s, -s], 1)


def test_the_predicted_class_is_read_after_preprocess():
    # images in [0, 1] sum to a positive number (class 0); the preprocess negates them, so the model predicts class 1,
    # and LIME must explain class 1, as the model sees the images
    x = torch.rand(2, 3, 12, 12, generator=torch.Generator().manual_seed(6))
    lime = Lime(_SignedMean(), num_samples=60, preprocess=lambda t: -t)
    predicted = lime.attribute(x)
    torch.testing.assert_close(predicted, lime.attribute(x, class_score(1)))
    assert not torch.allclose(predicted, lime.attribute(x, class_score(0)))
