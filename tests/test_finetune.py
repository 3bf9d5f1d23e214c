"""Fine-tuning a pretrained network with its frozen half computed once (xaibook.models, xaibook.training)."""
from __future__ import annotations

import pytest
import torch
import torchvision

from xaibook.models import build, freeze_before, split, stages
from xaibook.training import (TrainConfig, apply_augmentation, draw_augmentation, fit, to_input, view_index,
                              views)


def _data(n=24, size=32, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)
    y = torch.arange(n) % k
    return x, y


@pytest.mark.parametrize("arch,stage", [("efficientnet_lite0", "net.blocks.4"), ("efficientnet_lite0", "net.conv_head"),
                                        ("efficientnet_lite0", "net.classifier"), ("resnet18", "layer3"),
                                        ("resnet18", "fc")])
def test_split_composes_to_the_model(arch, stage):
    torch.manual_seed(0)
    model = build(arch, 3, pretrained=arch != "resnet18").eval()
    trunk, rest = split(model, stage)
    x = to_input(_data(4)[0])
    assert torch.equal(rest(trunk(x)), model(x))
    with pytest.raises(ValueError):
        split(model, "nowhere")


def test_lite0_adapter_feeds_the_weights_their_own_input_range():
    """The book's ImageNet-normalised input, rescaled, is exactly the [-1, 1] input the TF weights expect."""
    from xaibook.models.imagenet import load_classifier

    model = build("efficientnet_lite0", 1000, pretrained=True).eval()
    reference = load_classifier("efficientnet_lite0").model
    model.net.classifier = reference.classifier
    raw = _data(2)[0].float() / 255
    with torch.no_grad():
        assert torch.allclose(model(to_input(_data(2)[0])), reference((raw - 0.5) / 0.5), atol=1e-4)


def test_freeze_before_names_each_architectures_stages():
    lite = freeze_before(build("efficientnet_lite0", 2, pretrained=False), "net.blocks.4")
    frozen = {n for n, p in lite.named_parameters() if not p.requires_grad}
    assert any(n.startswith("net.blocks.3.") for n in frozen) and not any(n.startswith("net.blocks.4.") for n in frozen)
    assert "net.conv_stem.weight" in frozen and "net.classifier.weight" not in frozen
    assert stages(torchvision.models.resnet18())[2] == "layer1"
    with pytest.raises(ValueError, match="unknown stage"):
        freeze_before(lite, "layer3")


@pytest.mark.parametrize("hflip,rotate", [(True, False), (True, True), (False, True), (False, False)])
def test_every_drawn_view_is_one_of_the_cached_views(hflip, rotate):
    cfg = TrainConfig(epochs=1, batch_size=4, lr=1e-3, hflip=hflip, rotate=rotate)
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float).reshape(2, 3, 4, 4)
    flip, turns = draw_augmentation(64, cfg, torch.Generator().manual_seed(1))
    idx = view_index(flip, turns, cfg)
    listed = views(cfg)
    assert len(listed) == (2 if hflip else 1) * (4 if rotate else 1) and int(idx.max()) < len(listed)
    for f, t, v in zip(flip[:8], turns[:8], idx[:8]):
        drawn = apply_augmentation(x.clone(), f.repeat(2), t.repeat(2))
        lf, lt = listed[int(v)]
        cached = apply_augmentation(x.clone(), torch.full((2,), lf), torch.full((2,), lt, dtype=torch.long))
        assert torch.equal(drawn, cached)


@pytest.mark.parametrize("rotate", [False, True])
def test_cached_and_per_batch_fine_tuning_train_the_same_weights(rotate):
    """The frozen half's output computed once per view gives the same model as running it on every batch."""
    x, y = _data()
    results = []
    for limit in (2 << 30, 0):                         # cached, then per batch
        torch.manual_seed(0)
        model = build("efficientnet_lite0", 3, pretrained=True)
        cfg = TrainConfig(epochs=2, batch_size=8, lr=1e-3, rotate=rotate, trainable_from="net.blocks.5",
                          cache_limit_bytes=limit)
        history = fit(model, (x[:16], y[:16]), (x[16:], y[16:]), cfg, torch.Generator().manual_seed(3))
        results.append((model.state_dict(), history))
    (cached, h1), (plain, h2) = results
    assert h1.val_loss == pytest.approx(h2.val_loss, rel=1e-4) and h1.train_loss == pytest.approx(h2.train_loss, rel=1e-4)
    for key in cached:
        assert torch.allclose(cached[key].float(), plain[key].float(), atol=1e-4), key


def test_frozen_stages_keep_their_weights_and_batch_norm_statistics():
    x, y = _data()
    torch.manual_seed(0)
    model = build("efficientnet_lite0", 3, pretrained=True)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fit(model, (x[:16], y[:16]), (x[16:], y[16:]), TrainConfig(epochs=1, batch_size=8, lr=1e-2, trainable_from="net.blocks.4"),
        torch.Generator().manual_seed(0))
    after = model.state_dict()
    frozen = [k for k in before if k.startswith(("net.conv_stem", "net.bn1", "net.blocks.0", "net.blocks.3"))]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)          # running stats included
    assert not torch.equal(before["net.blocks.4.0.conv_pw.weight"], after["net.blocks.4.0.conv_pw.weight"])
    assert not torch.equal(before["net.blocks.4.0.bn1.running_mean"], after["net.blocks.4.0.bn1.running_mean"])


def test_training_description_and_cam_grid_follow_the_settings():
    from xaibook.models import describe_training, map_grid

    assert describe_training("efficientnet_lite0", pretrained=True, trainable_from="net.blocks.4", image_size=64,
                             epochs=10) == "an ImageNet EfficientNet-Lite0, fine-tuned from `net.blocks.4` on, at 64 px for 10 epochs"
    assert describe_training("resnet18", pretrained=False, trainable_from=None, image_size=250,
                             epochs=1) == "a ResNet-18 trained from scratch, at 250 px for 1 epoch"
    assert "every layer" in describe_training("resnet18", pretrained=True, trainable_from=None, image_size=250, epochs=30)
    assert describe_training("efficientnet_lite0", pretrained=True, trainable_from="net.classifier", image_size=64,
                             epochs=0, solver="lbfgs").startswith(
        "an ImageNet EfficientNet-Lite0 whose classifier alone was fitted, to convergence, on the frozen network's "
        "features at 64 px")
    assert map_grid(build("efficientnet_lite0", 2), "net.blocks.4", 64) == (4, 4)
    assert map_grid(build("efficientnet_lite0", 2), "net.conv_head", 64) == (2, 2)
    assert map_grid(build("resnet18", 2), "layer4", 256) == (8, 8)


def test_a_horizontal_flip_mirrors_columns_and_a_turn_is_counter_clockwise():
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])                 # (1, 1, 2, 2): top row 1 2
    flipped = apply_augmentation(x.clone(), torch.tensor([True]), torch.tensor([0]))
    assert flipped[0, 0].tolist() == [[2.0, 1.0], [4.0, 3.0]]      # left and right swap, top stays on top
    turned = apply_augmentation(x.clone(), torch.tensor([False]), torch.tensor([1]))
    assert turned[0, 0].tolist() == [[2.0, 4.0], [1.0, 3.0]]       # torch.rot90(k=1): counter-clockwise


def _probe_data(k, n=30, size=32, seed=0):
    """Images whose class sets their mean brightness, so that a linear head on pooled features separates them."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % k
    x = (torch.rand(n, 3, size, size, generator=g) * 80 + 60 * y.float().reshape(-1, 1, 1, 1)).to(torch.uint8)
    return x, y


@pytest.mark.parametrize("k", [2, 3])
def test_linear_head_is_sklearns_logistic_regression_on_the_frozen_features(k):
    """Known answer: the head's softmax equals scikit-learn's own probabilities for the same regularised
    problem, fitted on the standardised features of both views; the binary case (one sklearn row) included."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    x, y = _probe_data(k)
    cfg = TrainConfig(epochs=1, batch_size=8, lr=0.0, solver="lbfgs", l2=0.05)
    torch.manual_seed(0)
    model = build("efficientnet_lite0", k, pretrained=True)
    fit(model, (x, y), (x[:6], y[:6]), cfg, torch.Generator().manual_seed(0))
    trunk, _ = split(model, "net.classifier")
    with torch.no_grad():
        f = torch.cat([trunk(to_input(x)), trunk(to_input(x).flip(-1))]).double().numpy()
        ours = torch.softmax(model.eval()(to_input(x)).double(), 1).numpy()
    mu, sd = f.mean(0), f.std(0)
    sd = np.where(sd > 1e-3 * sd.max(), sd, 1.0)
    ref = LogisticRegression(C=1 / (0.05 * len(f)), tol=1e-10, max_iter=10_000).fit((f - mu) / sd, np.tile(y, 2))
    np.testing.assert_allclose(ours, ref.predict_proba((f[:len(x)] - mu) / sd), atol=2e-5)
    assert (ours.argmax(1) == y.numpy()).mean() > 0.9


def test_linear_head_does_not_depend_on_the_seed_or_the_initial_head():
    """The problem is convex: two different initial heads and generators give the same head to 1e-6."""
    x, y = _probe_data(3)
    cfg = TrainConfig(epochs=1, batch_size=8, lr=0.0, solver="lbfgs")
    heads = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = build("efficientnet_lite0", 3, pretrained=True)
        result = fit(model, (x, y), (x[:6], y[:6]), cfg, torch.Generator().manual_seed(seed))
        heads.append(model.net.classifier.weight.detach().clone())
        assert result.checkpoint == "converged" and result.best_epoch == -1
    torch.testing.assert_close(heads[0], heads[1], atol=1e-6, rtol=0)


def test_linear_head_class_weights_shift_the_decision():
    """Weighting class 1 ten times raises its predicted probability on the images of class 0 (known direction)."""
    x, y = _probe_data(2)
    probs = []
    for w in (None, (1.0, 10.0)):
        torch.manual_seed(0)
        model = build("efficientnet_lite0", 2, pretrained=True)
        fit(model, (x, y), (x[:6], y[:6]), TrainConfig(epochs=1, batch_size=8, lr=0.0, solver="lbfgs",
                                                       class_weights=w), torch.Generator())
        with torch.no_grad():
            probs.append(torch.softmax(model.eval()(to_input(x)), 1)[:, 1])
    assert bool((probs[1] > probs[0])[y == 0].all())


def test_linear_head_class_repeats_weigh_the_samples_as_class_weights_do():
    """The solver enumerates views instead of drawing epochs, so drawing class 1 ten times as often
    (``class_repeats``, chapter 02's augmentation of the rarer class) must weigh its samples ten times:
    the same head as ``class_weights=(1, 10)`` to solver precision, and not the unweighted head."""
    x, y = _probe_data(2)
    heads = {}
    for name, over in {"none": {}, "weights": {"class_weights": (1.0, 10.0)},
                       "repeats": {"class_repeats": (1.0, 10.0)}}.items():
        torch.manual_seed(0)
        model = build("efficientnet_lite0", 2, pretrained=True)
        fit(model, (x, y), (x[:6], y[:6]), TrainConfig(epochs=1, batch_size=8, lr=0.0, solver="lbfgs", **over),
            torch.Generator())
        heads[name] = torch.cat([model.net.classifier.weight.detach().flatten(), model.net.classifier.bias.detach()])
    torch.testing.assert_close(heads["repeats"], heads["weights"], atol=1e-5, rtol=0)
    assert float((heads["repeats"] - heads["none"]).abs().max()) > 1e-2


def test_linear_head_refuses_a_class_without_samples_and_an_unknown_solver():
    x, y = _probe_data(2)
    model = build("efficientnet_lite0", 3, pretrained=True)
    with pytest.raises(ValueError, match=r"class\(es\) \[2\]"):
        fit(model, (x, y), (x, y), TrainConfig(epochs=1, batch_size=8, lr=0.0, solver="lbfgs"), torch.Generator())
    with pytest.raises(ValueError, match="solver"):
        fit(model, (x, y), (x, y), TrainConfig(epochs=1, batch_size=8, lr=0.0, solver="sgd"), torch.Generator())


def test_checkpoint_names_the_kept_epoch():
    from xaibook.training import TrainResult

    r = TrainResult(val_loss=[0.9, 0.5, 0.7], best_epoch=1)
    assert r.checkpoint == "epoch 2 of 3"
    assert TrainResult(best_epoch=-1).checkpoint == "converged"


def test_shuffled_twins_share_the_trunks_features_and_get_the_heads_each_would_alone():
    """Known answer: with the linear-head solver on pretrained weights, the twins that share one pass of the
    trunk have, bit for bit, the heads of twins fitted one at a time (each computing its own features)."""
    from xaibook import training
    from xaibook.saliency.sanity import draw_seed

    x, y = _probe_data(2, n=24)
    train, val = (x[:18], y[:18]), (x[18:], y[18:])
    cfg = TrainConfig(epochs=1, batch_size=8, lr=0.0, solver="lbfgs")
    calls = []
    real = training.frozen_features
    training.frozen_features = lambda *a, **k: calls.append(1) or real(*a, **k)
    try:
        shared = training.shuffled_twins("efficientnet_lite0", 2, train, val, cfg, 5, 3, pretrained=True)
        assert len(calls) == 1                    # one pass of the trunk for three twins (their val loss aside)
        alone = [training.shuffled_twin("efficientnet_lite0", 2, train, val, cfg, draw_seed(5, k), pretrained=True)
                 for k in range(3)]
    finally:
        training.frozen_features = real
    for a, b in zip(shared, alone):
        assert torch.equal(a.net.classifier.weight, b.net.classifier.weight)
        assert torch.equal(a.net.classifier.bias, b.net.classifier.bias)
    assert not torch.equal(shared[0].net.classifier.weight, shared[1].net.classifier.weight)  # permutations differ
    with pytest.raises(ValueError, match="are not linear_head_features of these 18 images in 2 views"):
        training.fit_linear_head(build("efficientnet_lite0", 2, pretrained=True), train, val, cfg,
                                 features=torch.zeros(2, 17, 1280, dtype=torch.float64))
    with pytest.raises(ValueError, match="linear head"):
        fit(build("efficientnet_lite0", 2, pretrained=True), train, val, TrainConfig(epochs=1, batch_size=8, lr=0.0),
            torch.Generator(), features=torch.zeros(1))
