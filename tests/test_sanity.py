"""Adebayo et al.'s model-randomisation test (xaibook.saliency.sanity): known answers on small networks."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from xaibook.saliency import build_method, class_score
from xaibook.book.claims import label_claims, randomisation_claims
from xaibook.saliency.sanity import (by_step, data_randomisation, depends_on_model, draw_seed, model_randomisation,
                                     randomisation_steps,
                                     randomised, sanity_sentence, similarity, spread_sample, summarise)


def net(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4)).eval()


X = torch.rand(6, 3, 24, 24, generator=torch.Generator().manual_seed(1))
TARGET = class_score([0, 1, 2, 3, 0, 1])


def edges(model: nn.Module) -> dict[str, torch.Tensor]:
    """A 'method' that ignores the model: the Sobel edge magnitude of the input's grey level."""
    grey = X.mean(1, keepdim=True)
    kx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]).view(1, 1, 3, 3)
    gx, gy = F.conv2d(grey, kx, padding=1), F.conv2d(grey, kx.transpose(2, 3), padding=1)
    return {"edges": (gx ** 2 + gy ** 2).sqrt()[:, 0]}


def gradcam(model: nn.Module) -> dict[str, torch.Tensor]:
    method = build_method("gradcam", model, model.get_submodule("3"))
    return {"Grad-CAM": method.attribute(X, TARGET, normalize=False).detach()}


def test_a_method_that_ignores_the_model_is_flagged():
    table = model_randomisation(edges, net(), ["7", "3", "0"], seed=0)
    assert set(table["step"]) == {1, 2, 3} and (table[["Spearman", "Spearman |map|", "SSIM", "HOG"]] > 0.999).all().all()
    assert not depends_on_model(table)["edges"]


def test_gradcam_with_the_top_layer_randomised_is_not_flagged():
    table = model_randomisation(gradcam, net(), ["7"], seed=0)
    assert depends_on_model(table)["Grad-CAM"]
    assert table["Spearman |map|"].mean() < 0.5


def test_similarity_of_a_map_with_itself_its_negative_and_noise():
    a = torch.rand(2, 16, 16, generator=torch.Generator().manual_seed(0))
    same = similarity(a, a)
    assert np.allclose(same.to_numpy(), 1.0)
    neg = similarity(a - 0.5, 0.5 - a)
    assert np.allclose(neg["Spearman"], -1.0)
    noise = similarity(a, torch.rand(2, 16, 16, generator=torch.Generator().manual_seed(9)))
    assert (noise["Spearman"].abs() < 0.25).all()
    from skimage.metrics import structural_similarity     # SSIM of the maps scaled to [0, 1], on a range of 1
    b = torch.rand(2, 16, 16, generator=torch.Generator().manual_seed(9))
    unit = [(m - m.min()) / (m.max() - m.min()) for m in (a[1].double().numpy(), 3 * b[1].double().numpy())]
    assert similarity(a, 3 * b)["SSIM"].iloc[1] == pytest.approx(structural_similarity(*unit, data_range=1.0))
    # a constant map has nothing to rank: 0 against a structured map, 1 against the same constant
    flat = similarity(torch.zeros(1, 8, 8), a[:1, :8, :8])
    assert (flat[["Spearman", "Spearman |map|", "HOG"]] == 0).all().all()
    assert (similarity(torch.zeros(1, 8, 8), torch.zeros(1, 8, 8))[["Spearman", "HOG"]] == 1).all().all()
    assert (similarity(torch.zeros(1, 8, 8), torch.ones(1, 8, 8))["Spearman"] == 0).all()
    with pytest.raises(ValueError, match="paired maps of one shape"):
        similarity(a, a[:1])
    with pytest.raises(ValueError, match="7-pixel window"):
        similarity(a[:, :5, :5], a[:, :5, :5])


def test_randomised_copies_redraw_only_the_named_layers_and_batchnorm_as_told():
    model = net()
    model[1].running_mean.fill_(3.0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    kept = randomised(model, ["0", "1"], seed=5)
    reset = randomised(model, ["0", "1"], seed=5, batchnorm="reset")
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())          # original untouched
    assert not torch.equal(kept[0].weight, model[0].weight) and torch.equal(kept[3].weight, model[3].weight)
    assert torch.equal(kept[0].weight, reset[0].weight)                                     # same seed, same draw
    assert torch.equal(kept[1].running_mean, model[1].running_mean)
    assert torch.equal(reset[1].running_mean, torch.zeros(8)) and torch.equal(reset[1].weight, torch.ones(8))
    with pytest.raises(KeyError, match="no layer 'head'"):
        randomised(model, ["head"], seed=0)
    with pytest.raises(ValueError, match="batchnorm"):
        randomised(model, ["0"], seed=0, batchnorm="ignore")


def test_cascading_accumulates_layers_and_independent_takes_one_at_a_time():
    model = net()
    casc = [m for _, m in randomisation_steps(model, ["7", "3"], seed=0)]
    ind = [m for _, m in randomisation_steps(model, ["7", "3"], seed=0, mode="independent")]
    assert not torch.equal(casc[1][7].weight, model[7].weight)      # step 2 of the cascade: top still random
    assert torch.equal(ind[1][7].weight, model[7].weight)           # independent: only layer 3 at step 2
    assert not torch.equal(ind[1][3].weight, model[3].weight)


def test_randomisation_curves_plot_each_maps_similarity_in_step_order():
    import matplotlib
    matplotlib.use("Agg")
    import pandas as pd

    from xaibook.book.plotting import randomisation_curves

    table = pd.DataFrame({"randomised down to": ["fc", "fc", "conv", "conv"], "map": ["A", "Ours 1 (A)"] * 2,
                          "Spearman |map|": [0.9, 0.8, 0.3, 0.2], "SSIM": [0.7, 0.6, 0.1, 0.0]})
    fig = randomisation_curves(table)
    lines = {ln.get_label(): ln for ln in fig.axes[0].get_lines() if not ln.get_label().startswith("_")}
    assert lines["A"].get_ydata().tolist() == [0.9, 0.3] and lines["Ours 1 (A)"].get_linestyle() == "--"
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["fc", "conv"]


def test_similarity_of_videos_runs_over_the_volume_and_hog_per_frame():
    g = torch.Generator().manual_seed(3)
    a = torch.rand(2, 9, 8, 8, generator=g)
    assert np.allclose(similarity(a, a).to_numpy(), 1.0)
    # frames in another order: every voxel value is kept, the rank correlation over the volume is not
    flipped = similarity(a, a.flip(1))
    assert (flipped["Spearman"].abs() < 0.3).all() and (flipped["HOG"] < 0.9).all()
    # a constant frame gives a zero HOG descriptor, not an error
    b = a.clone()
    b[:, 0] = 0.5
    assert np.isfinite(similarity(a, b)["HOG"]).all()
    noise = similarity(a, torch.rand(2, 9, 8, 8, generator=g))
    assert (noise[["Spearman", "SSIM"]].abs() < 0.3).all().all()


def test_summary_claims_and_sentence_of_a_flagged_and_a_passing_method():
    def both(model):
        return {**edges(model), **gradcam(model)}

    table = summarise(model_randomisation(both, net(), ["7", "3"], seed=0))
    assert list(table["randomised down to"]) == ["7", "7", "3", "3"] and list(table["map"][:2]) == ["edges", "Grad-CAM"]
    assert np.allclose(table.loc[table["map"] == "edges", "SSIM"], 1.0)
    claims = {c.key: c for c in randomisation_claims(table, "the network")}
    assert set(claims) == {"depends_on_model_edges", "depends_on_model_grad_cam"}
    assert not claims["depends_on_model_edges"].holds and claims["depends_on_model_edges"].margin == pytest.approx(-0.5)
    assert claims["depends_on_model_grad_cam"].holds and "randomised down to 3" in claims["depends_on_model_grad_cam"].statement
    wide = by_step(table, "SSIM")
    assert list(wide.columns) == ["edges", "Grad-CAM"] and list(wide.index) == ["7", "3"]
    assert wide.loc["3", "edges"] == pytest.approx(1.0) and wide.loc["7", "Grad-CAM"] == table["SSIM"].iloc[1]
    text = sanity_sentence(table)
    assert "randomised down to `3`" in text and "edges stays above 0.5, so it does not pass" in text
    assert "HOG similarity stays at 1.00 (edges) even then" in text


def test_data_randomisation_flags_a_method_blind_to_the_labels():
    other = net(seed=5)                       # a model trained on other labels, in miniature: other weights
    table = data_randomisation(lambda m: {**edges(m), **gradcam(m)}, net(), other)
    assert list(table.index) == ["edges", "Grad-CAM"] and list(table.columns) == ["Spearman", "Spearman |map|", "SSIM", "HOG"]
    assert table.loc["edges"].min() > 0.999 and table.loc["Grad-CAM", "Spearman |map|"] < 0.5
    held = {c.key: c.holds for c in label_claims(table)}
    assert held == {"depends_on_labels_edges": False, "depends_on_labels_grad_cam": True}
    summary = summarise(model_randomisation(gradcam, net(), ["7"], seed=0))
    assert "edges barely depends on the labels" in sanity_sentence(summary, table)


def test_spread_sample_spans_first_to_last_without_repeats():
    assert list(spread_sample(10, 4)) == [0, 3, 6, 9]
    assert list(spread_sample(3, 8)) == [0, 1, 2]
    assert list(spread_sample(1, 4)) == [0]


def test_cascades_run_from_the_classifier_down_to_the_stem():
    from xaibook.models import build, randomisation_cascade

    assert randomisation_cascade(build("resnet18", 2)) == ["fc", "layer4", "layer3", "layer2", "layer1", "conv1"]
    assert randomisation_cascade(build("resnet3d_18", 1, width=4)) == ["fc", "layer4", "layer3", "layer2", "layer1", "stem"]
    lite = randomisation_cascade(build("efficientnet_lite0", 2, pretrained=False))
    assert lite[:3] == ["net.classifier", "net.conv_head", "net.blocks.6"] and lite[-1] == "net.conv_stem"
    assert len(lite) == 10 and "adapter" not in lite and "net.bn1" not in lite     # no weights to redraw there


def test_extra_draws_of_the_last_step_are_independent_and_averaged():
    assert draw_seed(3, 0) == 3
    streams = {draw_seed(seed, draw) for seed in range(10) for draw in range(1, 8)}
    assert len(streams) == 70 and not streams & set(range(10))       # no run borrows another's draw
    with pytest.raises(ValueError, match="draws must be at least 1"):
        model_randomisation(gradcam, net(), ["7"], seed=0, draws=0)
    once = model_randomisation(gradcam, net(), ["7", "3"], seed=0)
    thrice = model_randomisation(gradcam, net(), ["7", "3"], seed=0, draws=3)
    assert set(once["draw"]) == {0} and len(thrice) == len(once) + 2 * len(X)
    last = thrice[thrice["step"] == 2]
    assert list(last["draw"].value_counts().sort_index()) == [len(X)] * 3 and set(last["layer"]) == {"3"}
    # draw 0 is the cascade itself; the extra draws randomise both layers afresh, each its own weights
    pd.testing.assert_frame_equal(thrice[thrice["draw"] == 0].reset_index(drop=True), once)
    by_draw = last.groupby("draw")["Spearman |map|"].mean()
    assert by_draw.nunique() == 3
    again = randomised(net(), ["7", "3"], draw_seed(0, 2))
    assert np.allclose(last.loc[last["draw"] == 2, "Spearman |map|"],
                       similarity(gradcam(net())["Grad-CAM"], gradcam(again)["Grad-CAM"])["Spearman |map|"])
    summary = summarise(thrice)
    assert summary.iloc[-1]["Spearman |map|"] == pytest.approx(by_draw.mean())      # equal counts per draw
    assert depends_on_model(thrice)["Grad-CAM"] == (by_draw.mean() < 0.5)
    between = (by_draw[0] + by_draw.mean()) / 2           # a threshold that only the mean over draws gets right
    assert depends_on_model(thrice, threshold=between)["Grad-CAM"] == (by_draw.mean() < between) != (by_draw[0] < between)
    with pytest.raises(ValueError, match="seed and draw must be 0 or more"):
        draw_seed(-1, 1)
    # independent mode repeats the last layer alone
    alone = model_randomisation(gradcam, net(), ["7", "3"], seed=0, mode="independent", draws=2)
    twin = randomised(net(), ["3"], draw_seed(0, 1))
    assert np.allclose(alone.loc[alone["draw"] == 1, "Spearman"],
                       similarity(gradcam(net())["Grad-CAM"], gradcam(twin)["Grad-CAM"])["Spearman"])


def test_data_randomisation_over_several_permutations_averages_their_pairs():
    a, b = net(seed=5), net(seed=6)
    one, two = (data_randomisation(gradcam, net(), m) for m in (a, b))
    both = data_randomisation(gradcam, net(), [a, b])
    assert np.allclose(both.to_numpy(), (one.to_numpy() + two.to_numpy()) / 2)
    pd.testing.assert_frame_equal(data_randomisation(gradcam, net(), [a]), one)
    with pytest.raises(ValueError, match="at least one model"):
        data_randomisation(gradcam, net(), [])


def test_spearman_of_absolute_values_ignores_a_sign_flip():
    """Adebayo et al. rank |map| as well as the map: a randomised network that flips a signed map (gradients,
    DeepLift) leaves |map| as it was. For a - 1/2 against 1/2 - a the signed rank correlation is -1, the one
    of absolute values +1 (the same |map|), and SSIM of the maps scaled to [0, 1] is that of a against 1 - a."""
    a = torch.rand(2, 16, 16, generator=torch.Generator().manual_seed(0))
    neg = similarity(a - 0.5, 0.5 - a)
    assert np.allclose(neg["Spearman"], -1.0) and np.allclose(neg["Spearman |map|"], 1.0)
    torch.testing.assert_close(torch.tensor(neg["SSIM"].to_numpy()),
                               torch.tensor(similarity(a, 1 - a)["SSIM"].to_numpy()))


def test_ssim_and_hog_are_taken_on_maps_scaled_to_unit_range():
    """Raw maps (gradients, unnormalised CAMs) can be tiny: SSIM on raw values with data_range=1 would call any
    two of them alike (its stabilising constants swamp the variances). The measures are computed on each map
    scaled to [0, 1], so they ignore a positive scale and an offset: two unrelated noise maps stay unrelated."""
    g = torch.Generator().manual_seed(4)
    a, b = torch.rand(3, 16, 16, generator=g), torch.rand(3, 16, 16, generator=g)
    plain = similarity(a, b)
    tiny = similarity(1e-4 * a, 1e-4 * b - 3e-5)
    np.testing.assert_allclose(tiny[["SSIM", "HOG"]].to_numpy(), plain[["SSIM", "HOG"]].to_numpy(),
                               rtol=1e-5, atol=1e-6)
    assert (tiny["SSIM"].abs() < 0.3).all()


def test_randomised_weights_keep_each_tensors_own_scale():
    """The redrawn weights are N(0, 1) draws of the named layer's generator times the trained tensor's own
    standard deviation (a layer trained to small weights stays small), biases zeroed."""
    model = net()
    with torch.no_grad():
        model[3].weight.mul_(0.01)
        model[3].bias.fill_(0.5)
    std = float(model[3].weight.detach().std())
    copy_ = randomised(model, ["3"], seed=5)
    want = torch.randn(model[3].weight.shape, generator=torch.Generator().manual_seed(5)) * std
    torch.testing.assert_close(copy_[3].weight, want)
    assert float(copy_[3].weight.std()) == pytest.approx(std, rel=0.1)
    assert torch.equal(copy_[3].bias, torch.zeros(16))


def test_depends_on_model_reads_the_last_step_and_all_its_draws():
    """A hand-made table: randomising the top layer alone (step 1) keeps the maps alike (0.9); randomising down
    to the stem (step 2, three draws 0.1, 0.3, 0.5) does not, mean 0.3 < 0.5: the map depends on the model.
    A method whose maps stay alike at the last step (0.8) does not."""
    rows = [(1, "fc", 0, "A", 0.9), (2, "conv", 0, "A", 0.1), (2, "conv", 1, "A", 0.3), (2, "conv", 2, "A", 0.5),
            (1, "fc", 0, "B", 0.2), (2, "conv", 0, "B", 0.8), (2, "conv", 1, "B", 0.8), (2, "conv", 2, "B", 0.8)]
    table = pd.DataFrame(rows, columns=["step", "layer", "draw", "map", "Spearman |map|"])
    verdict = depends_on_model(table)
    assert bool(verdict["A"]) and not bool(verdict["B"])
    assert bool(depends_on_model(table, threshold=0.35)["A"])
    assert not bool(depends_on_model(table, threshold=0.25)["A"])


def _summary(first: dict, last: dict, hog: dict) -> pd.DataFrame:
    rows = [{"randomised down to": "top", "map": k, "Spearman |map|": v, "HOG": 0.0} for k, v in first.items()]
    rows += [{"randomised down to": "all", "map": k, "Spearman |map|": v, "HOG": hog[k]} for k, v in last.items()]
    return pd.DataFrame(rows)


def test_sanity_sentence_word_for_word():
    # a value at the threshold counts as staying (it is not below it), for the maps and for HOG alike
    text = sanity_sentence(_summary({"A": 0.9, "B": 0.8}, {"A": 0.2, "B": 0.5}, {"A": 0.5, "B": 0.1}))
    assert text == ("Randomising `top` alone leaves the maps a rank correlation (of |map|) with the trained model's "
                    "of 0.90 (A); 0.80 (B); randomised down to `all`, 0.20 (A); 0.50 (B): B stays above 0.5, so it "
                    "does not pass Adebayo et al.'s check. HOG similarity stays at 0.50 (A) even then: the edges of "
                    "that map follow the input and the method, not the model")
    summary = _summary({"A": 0.9, "B": 0.8, "C": 0.7}, {"A": 0.6, "B": 0.55, "C": 0.1}, {"A": 0.7, "B": 0.6, "C": 0})
    text = sanity_sentence(summary)
    assert "A, B stay above 0.5, so they do not pass" in text
    assert "HOG similarity stays at 0.70 (A); 0.60 (B) even then: the edges of those maps follow" in text
    text = sanity_sentence(_summary({"A": 0.9}, {"A": 0.1}, {"A": 0.2}))
    assert text.endswith("randomised down to `all`, 0.10 (A): every map depends on the model's weights")
    labels = pd.DataFrame({"Spearman |map|": [0.5, 0.1]}, index=["A", "B"])
    assert sanity_sentence(_summary({"A": 0.9}, {"A": 0.1}, {"A": 0.2}), labels).endswith(
        ". Trained on shuffled labels, the model's maps correlate with the true model's at 0.50 (A); 0.10 (B): "
        "A barely depends on the labels")
    labels["Spearman |map|"] = [0.2, 0.1]
    assert sanity_sentence(_summary({"A": 0.9}, {"A": 0.1}, {"A": 0.2}), labels).endswith(
        "0.20 (A); 0.10 (B): they depend on what it learned from the labels")


def test_each_cascade_step_randomises_exactly_the_layers_above_it_and_passes_batchnorm_on():
    # step k of the cascade over ["7", "3", "1"] changes the first k of them and nothing else; "reset" reaches
    # the batch norm (layer "1") at step 3, "keep" leaves it as trained
    model = net()
    with torch.no_grad():
        model[1].running_mean.fill_(0.3)
        model[1].weight.fill_(2.0)
    names = ["7", "3", "1"]
    for k, (name, m) in enumerate(randomisation_steps(model, names, seed=0, batchnorm="reset"), start=1):
        assert name == names[k - 1]
        changed = {n for n in ("0", "3", "7") if not torch.equal(m.get_submodule(n).weight, model.get_submodule(n).weight)}
        assert changed == {"7", "3"} & set(names[:k])
        assert torch.equal(m[1].running_mean, torch.zeros(8) if k == 3 else model[1].running_mean)
    _, kept = list(randomisation_steps(model, names, seed=0, batchnorm="keep"))[-1]
    assert torch.equal(kept[1].running_mean, model[1].running_mean) and torch.equal(kept[1].weight, model[1].weight)


def test_hog_descriptor_has_the_documented_cells_blocks_and_orientations():
    # 40 x 24 map: cells of min(40, 24) // 8 = 3 pixels, 13 x 8 of them, 12 x 7 blocks of 2 x 2 cells, 9 orientations
    # each; an 8 x 8 map: cells of 2 (never fewer), 4 x 4 of them, 3 x 3 blocks
    from skimage.feature import hog

    from xaibook.saliency.sanity import _hog

    x = np.random.default_rng(0).random((40, 24))
    got = _hog(x)
    assert got.shape == (12 * 7 * 2 * 2 * 9,)
    want = hog((x - x.min()) / (x.max() - x.min()), orientations=9, pixels_per_cell=(3, 3), cells_per_block=(2, 2))
    np.testing.assert_allclose(got, want)
    assert _hog(np.random.default_rng(1).random((8, 8))).shape == (3 * 3 * 2 * 2 * 9,)
