"""Saliency in chunks (xaibook.saliency.chunked): the same maps as one call on all images, for every
registered method, and a peak that does not grow with the number of images.

The peak is measured on the CPU two ways (xaibook.saliency.pass_meter): the largest batch that
reaches the model's forward, and the most bytes of activations autograd saves for one backward
pass. ``test_old_pattern_peak_grows_with_the_images`` and the second half of
``test_chapter05_cam_maps_peak_does_not_grow_with_the_images`` show that the same measure fails on
chapter 05's old pattern (all images x all noisy copies in one pass).
"""
from __future__ import annotations

import inspect
import types

import pytest
import torch
from torch import nn

from xaibook.saliency import (METHODS, PASS_SIZES, Chunked, DeepLift, GradCAM, PassSize, ScoreCAM, SmoothGrad,
                              SmoothGradCAMpp, VanillaGrad, attribute_in_chunks, build_method, class_score,
                              images_per_chunk, pass_meter, pass_size, predicted_class)
from xaibook.saliency.chunked import rows_of


def convnet(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 4))


def images(n: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, 8, 8, generator=torch.Generator().manual_seed(seed))


# options that fit 8x8 inputs and keep every method's own batches small, so that chunks of a few
# images are possible (Score-CAM's default batch of 25 masked inputs would need max_batch >= 25)
OPTIONS = {"occlusion": {"patch": 3, "stride": 2, "batch_size": 4},
           "lime": {"num_samples": 12, "batch_size": 4, "segmentation_options": {"n_segments": 4}},
           "scorecam": {"batch_size": 3},
           "smoothgrad": {"n_samples": 4, "batch_size": 2},
           "smoothgradcampp": {"n_samples": 4, "batch_size": 2}}


def build(name: str, net: nn.Module):
    return build_method(name, net, net[2], **OPTIONS.get(name, {}))


def smallest_max_batch(method) -> int:
    """The smallest max_batch that fits the method with two images per chunk (or its own fixed batch)."""
    size = pass_size(method)
    return max(2 * size.per_image, size.fixed)


# --- the table of pass sizes --------------------------------------------------------------------

@pytest.mark.parametrize("name", METHODS.names())
def test_every_registered_method_has_a_pass_size(name):
    method = build(name, convnet())
    size = pass_size(method)
    assert size.per_image >= 1 and size.fixed >= 0
    assert any(issubclass(type(method), cls) for cls in PASS_SIZES)


def test_pass_sizes_by_hand():
    net = convnet()
    assert pass_size(VanillaGrad(net)) == PassSize(1)
    assert pass_size(DeepLift(net)) == PassSize(2)                       # image and reference in one pass
    assert pass_size(SmoothGradCAMpp(net, net[2], batch_size=5)) == PassSize(5)
    assert pass_size(ScoreCAM(net, net[2], batch_size=8)) == PassSize(1, 8)
    # SmoothGrad: B copies per pass, each a batch the wrapped method multiplies again
    assert pass_size(SmoothGrad(DeepLift(net), 10, batch_size=3)) == PassSize(6)
    assert pass_size(SmoothGrad(VanillaGrad(net), 10)) == PassSize(1)                 # unbatched: one copy
    assert pass_size(SmoothGrad(ScoreCAM(net, net[2], batch_size=8), 10)) == PassSize(1, 8)
    # the registered wrapper: 2 copies per pass, each running Smooth Grad-CAM++'s default 10 copies per pass
    assert pass_size(build_method("smoothgrad", net, net[2], method="smoothgradcampp", n_samples=4,
                                  batch_size=2)) == PassSize(20)


def test_images_per_chunk_by_hand():
    net = convnet()
    assert images_per_chunk(SmoothGradCAMpp(net, net[2], batch_size=5), 12) == 2      # 2 x 5 = 10 <= 12
    assert images_per_chunk(SmoothGradCAMpp(net, net[2], batch_size=5), 5) == 1       # one image fills it exactly
    assert images_per_chunk(DeepLift(net), 5) == 2
    assert images_per_chunk(GradCAM(net, net[2]), 7) == 7
    assert images_per_chunk(ScoreCAM(net, net[2], batch_size=8), 8) == 8


def test_a_method_that_cannot_fit_raises_naming_the_fix():
    net = convnet()
    with pytest.raises(ValueError, match=r"50 inputs per image.*batch_size at most 32"):
        Chunked(SmoothGradCAMpp(net, net[2], batch_size=50), max_batch=32)
    with pytest.raises(ValueError, match=r"perturbed inputs 25 per pass.*max_batch=16"):
        images_per_chunk(ScoreCAM(net, net[2]), 16)
    with pytest.raises(ValueError, match="max_batch must be at least 1"):
        images_per_chunk(GradCAM(net, net[2]), 0)
    with pytest.raises(TypeError, match="add its class to xaibook.saliency.chunked.PASS_SIZES"):
        images_per_chunk(types.SimpleNamespace(model=net), 4)
    with pytest.raises(ValueError, match="empty batch"):
        attribute_in_chunks(GradCAM(net, net[2]), torch.zeros(0, 3, 8, 8), max_batch=4)


# --- the same maps ------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["per-sample", "predicted"])
@pytest.mark.parametrize("name", METHODS.names())
def test_chunked_maps_equal_one_call_on_all_images(name, target):
    net = convnet()
    x = images(5)
    method = build(name, net)
    tgt = class_score([3, 0, 2, 1, 3]) if target == "per-sample" else predicted_class
    whole = method.attribute(x, tgt)
    max_batch = smallest_max_batch(method)
    assert images_per_chunk(method, max_batch) < 5                  # really more than one chunk
    chunked = attribute_in_chunks(method, x, tgt, max_batch=max_batch)
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-6)
    torch.testing.assert_close(Chunked(method, max_batch).attribute(x, tgt), whole, rtol=0, atol=1e-6)
    if "normalize" in inspect.signature(method.attribute).parameters:   # options reach the method through the wrapper
        raw = method.attribute(x, tgt, normalize=False)
        assert not torch.allclose(raw.to(whole.dtype), whole)
        torch.testing.assert_close(Chunked(method, max_batch).attribute(x, tgt, normalize=False), raw, rtol=0, atol=1e-6)


def test_noise_of_a_sample_does_not_depend_on_its_chunk():
    # copy j is the same standard-normal draw for every sample, scaled by the sample's own range, so
    # the second image explained alone (a chunk of one) gets exactly the noise it gets among five
    net = convnet()
    x = images(5)
    makers = (lambda seed: SmoothGradCAMpp(net, net[2], n_samples=3, batch_size=3, noise=0.5, seed=seed),
              lambda seed: SmoothGrad(VanillaGrad(net), 3, noise=0.5, batch_size=3, seed=seed))
    for make in makers:
        whole = make(0).attribute(x, class_score([0, 1, 2, 3, 0]))
        alone = make(0).attribute(x[1:2], class_score([1]))
        torch.testing.assert_close(alone[0], whole[1], rtol=0, atol=1e-6)
        # and the noise matters: another seed gives another map
        assert not torch.allclose(alone, make(1).attribute(x[1:2], class_score([1])))


def test_a_nonlinear_per_sample_target_applies_to_each_chunk():
    net = convnet()
    x = images(5)
    classes = torch.tensor([3, 0, 2, 1, 3])

    def probability(logits):     # not linear in the logits: freezing a class selection could not express it
        return logits.softmax(1).gather(1, classes[:, None].to(logits.device))[:, 0]

    method = VanillaGrad(net)
    torch.testing.assert_close(attribute_in_chunks(method, x, probability, max_batch=2),
                               method.attribute(x, probability), rtol=0, atol=1e-6)


def test_rows_of_refuses_a_chunk_of_the_wrong_size():
    with pytest.raises(ValueError, match="rows 2:4 of 5 samples got a batch of 3"):
        rows_of(predicted_class, 5, 2, 4)(torch.zeros(3, 4))
    scores = rows_of(class_score([0, 1, 2, 3, 0]), 5, 2, 4)(torch.arange(8.0).reshape(2, 4))
    assert scores.tolist() == [2.0, 7.0]                            # classes 2 and 3 of rows 2 and 3


def test_chunks_run_on_the_given_device_and_come_back():
    net = convnet()
    x = images(3)
    maps = attribute_in_chunks(GradCAM(net, net[2]), x, class_score(1), max_batch=2, device="cpu")
    assert maps.device == x.device and maps.shape == (3, 8, 8)


# --- the peak -----------------------------------------------------------------------------------

def peak(call, net: nn.Module) -> tuple[int, int]:
    """(largest batch that reached the model, most bytes saved for one backward pass)."""
    with pass_meter(net) as meter:
        call()
    return meter.largest_batch, meter.peak_saved_bytes


@pytest.mark.parametrize("name", METHODS.names())
def test_doubling_the_images_leaves_the_peak_unchanged(name):
    net = convnet()
    method = build(name, net)
    max_batch = smallest_max_batch(method)
    n = 2 * images_per_chunk(method, max_batch)
    got = {k: peak(lambda: attribute_in_chunks(method, images(k), class_score(1), max_batch=max_batch), net)
           for k in (n, 2 * n)}
    assert got[n] == got[2 * n]
    # the pass sizes of PASS_SIZES are tight: the largest pass is max_batch, not less and not more
    assert got[n][0] == max_batch


def chapter05_old(net, x, classes, samples):
    """The pattern chapter 05's cam_maps had: all images, ``batch_size=smooth_samples`` copies each, one call."""
    method = build_method("smoothgradcampp", net, net[2], n_samples=samples, noise=0.1, seed=0, batch_size=samples)
    return method.attribute(x, class_score(classes))


def test_old_pattern_peak_grows_with_the_images():
    # the measure of test_doubling_the_images_leaves_the_peak_unchanged, on the pattern it replaced:
    # the assertion got[n] == got[2n] fails there
    net = convnet()
    got = {n: peak(lambda: chapter05_old(net, images(n), torch.zeros(n, dtype=torch.long), 4), net) for n in (4, 8)}
    assert got[4][0] == 16 and got[8][0] == 32                       # images x copies in one pass
    assert got[8][1] > 1.8 * got[4][1]


def featurecam_fakes(samples: int, max_batch: int):
    import dataclasses

    from xaibook.featurecam.experiment import FAST

    clf = types.SimpleNamespace(model=convnet(), spec=types.SimpleNamespace(cam_layer="2"))
    return clf, dataclasses.replace(FAST, smooth_samples=samples, max_batch=max_batch)


def chapter05_unchunked(clf, x, classes, cfg):
    """Chapter 05's cam_maps as it was: every image in one call (a max_batch no run reaches)."""
    import dataclasses

    from xaibook.featurecam.experiment import cam_maps

    return cam_maps(clf, x, classes, dataclasses.replace(cfg, max_batch=10 ** 9), 0)


def test_chapter05_cam_maps_peak_does_not_grow_with_the_images():
    from xaibook.featurecam.experiment import cam_maps

    clf, cfg = featurecam_fakes(samples=4, max_batch=8)
    classes = {n: torch.arange(n) % 4 for n in (8, 16)}               # one class per image
    got = {n: peak(lambda: cam_maps(clf, images(n), classes[n], cfg, 0), clf.model) for n in (8, 16)}
    assert got[8] == got[16] and got[8][0] <= 8
    # the same measure fails on the old pattern: 8 and 16 images x 4 copies in one pass
    old = {n: peak(lambda: chapter05_unchunked(clf, images(n), classes[n], cfg), clf.model) for n in (8, 16)}
    assert old[8][0] == 32 and old[16][0] == 64 and old[16][1] > 1.8 * old[8][1]


def test_chapter05_cam_maps_equal_the_unchunked_maps():
    from xaibook.featurecam.experiment import CAMS, cam_maps

    clf, cfg = featurecam_fakes(samples=4, max_batch=8)
    x, classes = images(5), torch.tensor([3, 0, 2, 1, 3])
    maps, whole = cam_maps(clf, x, classes, cfg, 0), chapter05_unchunked(clf, x, classes, cfg)
    assert list(maps) == list(CAMS)
    for name in CAMS:
        torch.testing.assert_close(maps[name], whole[name], rtol=0, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_doubling_the_images_leaves_the_cuda_peak_unchanged():
    def wide() -> nn.Module:     # activations (16 x 32 x 32 per input) outweigh the weights
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4)).cuda()

    def cuda_peak(call) -> int:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        call()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base

    net = wide()
    method = build_method("smoothgradcampp", net, net[2], n_samples=8, batch_size=4)
    x = {n: torch.randn(n, 3, 32, 32) for n in (8, 16)}               # on the CPU: only chunks go to the GPU
    # one untimed call first: the first pass on a device allocates cuBLAS/cuDNN workspaces once (measured on
    # an H200: 73 MB at the first call, 5 MB at the next), which is not the chunks' peak
    attribute_in_chunks(method, x[8], class_score(1), max_batch=8, device="cuda")
    chunked = {n: cuda_peak(lambda: attribute_in_chunks(method, x[n], class_score(1), max_batch=8, device="cuda"))
               for n in x}
    assert chunked[16] == pytest.approx(chunked[8], rel=0.02)
    old = {n: cuda_peak(lambda: build_method("smoothgradcampp", net, net[2], n_samples=8, batch_size=8)
                        .attribute(x[n].cuda(), class_score(1))) for n in x}
    assert old[16] > 1.5 * old[8]
