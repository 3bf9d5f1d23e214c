"""Adebayo et al.'s model-randomisation test (xaibook.saliency.sanity): known answers on small networks."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from xaibook.saliency import build_method, class_score
from xaibook.saliency.sanity import (depends_on_model, model_randomisation, randomisation_steps, randomised,
                                     similarity)


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
    assert np.isnan(similarity(torch.zeros(1, 8, 8), a[:1, :8, :8])["Spearman"]).all()   # a constant map
    with pytest.raises(ValueError, match="paired 2-D maps"):
        similarity(a, a[:1])


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

    from xaibook.plotting import randomisation_curves

    table = pd.DataFrame({"randomised down to": ["fc", "fc", "conv", "conv"], "map": ["A", "Ours 1 (A)"] * 2,
                          "Spearman |map|": [0.9, 0.8, 0.3, 0.2], "SSIM": [0.7, 0.6, 0.1, 0.0]})
    fig = randomisation_curves(table)
    lines = {ln.get_label(): ln for ln in fig.axes[0].get_lines() if not ln.get_label().startswith("_")}
    assert lines["A"].get_ydata().tolist() == [0.9, 0.3] and lines["Ours 1 (A)"].get_linestyle() == "--"
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["fc", "conv"]
