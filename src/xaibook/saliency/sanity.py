"""Do the maps depend on the model? Adebayo et al. 2018's model-randomisation test, for any registered method.

Adebayo J, Gilmer J, Muelly M, Goodfellow I, Hardt M, Kim B. *Sanity checks for saliency maps.*
NeurIPS 2018. A saliency method whose maps barely change when the network's learned weights are
replaced by random ones cannot be explaining what the network learned; edge detectors and the
input itself pass for explanations that way.

* :func:`randomised` redraws the weights of named layers of a copy of the model.
* :func:`randomisation_steps` yields the *cascading* test (randomise from the top layer down, one
  more layer at each step) or the *independent* one (one layer at a time, the rest as trained).
* :func:`similarity` compares a trained model's maps with the randomised model's: Spearman rank
  correlation of the maps and of their absolute values, SSIM, and the Pearson correlation of their
  HOG descriptors, the four measures of Adebayo et al.'s Fig. 2 and 4.
* :func:`model_randomisation` runs a registered method through the steps and returns one row per
  step and map pair; :func:`depends_on_model` reads the last step.

**Batch norm is a choice** (``batchnorm``): ``"keep"`` leaves a randomised layer's batch-norm
statistics and affine parameters as trained (the learned scale of each channel survives, so some
of the trained model stays); ``"reset"`` resets them to their initial values (running mean 0,
variance 1, weight 1, bias 0), as a freshly built network has them. Adebayo et al. randomise
"the weights" of a layer and do not say; the chapters state which they use.
"""
from __future__ import annotations

import copy
from typing import Callable, Iterator

import numpy as np
import pandas as pd
import torch
from torch import nn

WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
BATCHNORM = ("keep", "reset")
MEASURES = ("Spearman", "Spearman |map|", "SSIM", "HOG")


def randomised(model: nn.Module, layers: list[str], seed: int, batchnorm: str = "keep") -> nn.Module:
    """A copy of ``model`` (in eval mode) whose convolution and linear weights inside each named layer are
    redrawn from a normal distribution with that weight tensor's own standard deviation, biases zeroed;
    batch norm inside them as ``batchnorm`` says (module docstring). The original is untouched; the same
    ``seed`` gives the same weights."""
    if batchnorm not in BATCHNORM:
        raise ValueError(f"batchnorm must be one of {BATCHNORM}, got {batchnorm!r}")
    out = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name in layers:
            try:
                layer = out.get_submodule(name)
            except AttributeError as err:
                raise KeyError(f"the model has no layer {name!r} to randomise") from err
            for m in layer.modules():
                if isinstance(m, WEIGHTED):
                    std = float(m.weight.std()) if m.weight.numel() > 1 else 1.0
                    m.weight.copy_(torch.randn(m.weight.shape, generator=gen).to(m.weight) * (std or 1.0))
                    if m.bias is not None:
                        m.bias.zero_()
                elif isinstance(m, NORMS) and batchnorm == "reset":
                    m.reset_parameters()            # running stats 0 / 1, weight 1, bias 0
    return out.eval()


def randomisation_steps(model: nn.Module, layers_top_down: list[str], seed: int, mode: str = "cascading",
                        batchnorm: str = "keep") -> Iterator[tuple[str, nn.Module]]:
    """(layer, randomised copy) per step: ``"cascading"`` randomises ``layers_top_down[:k]`` at step k
    (top first, as Adebayo et al.'s Fig. 2), ``"independent"`` only ``layers_top_down[k - 1]``."""
    if mode not in ("cascading", "independent"):
        raise ValueError(f"mode must be 'cascading' or 'independent', got {mode!r}")
    if not layers_top_down:
        raise ValueError("name at least one layer to randomise")
    for k, name in enumerate(layers_top_down, 1):
        chosen = layers_top_down[:k] if mode == "cascading" else [name]
        yield name, randomised(model, chosen, seed, batchnorm)


def _unit(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if a.std() == 0 or b.std() == 0:
        return float("nan")                   # a constant map has no ranks to correlate
    return float(spearmanr(a.ravel(), b.ravel())[0])


def _hog(x: np.ndarray) -> np.ndarray:
    from skimage.feature import hog

    cell = max(2, min(x.shape) // 8)
    return hog(_unit(x), orientations=9, pixels_per_cell=(cell, cell), cells_per_block=(2, 2), feature_vector=True)


def similarity(a: torch.Tensor, b: torch.Tensor) -> pd.DataFrame:
    """The four measures (:data:`MEASURES`) between paired 2-D maps (N, H, W), one row per pair.

    SSIM and HOG are computed on each map scaled to [0, 1]; a constant map gives NaN for the rank
    correlations and for HOG (nothing to correlate).
    """
    from skimage.metrics import structural_similarity

    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"similarity needs paired 2-D maps of one shape (N, H, W), got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    rows = []
    for x, y in zip(a.detach().double().cpu().numpy(), b.detach().double().cpu().numpy()):
        hx, hy = _hog(x), _hog(y)
        hog = float(np.corrcoef(hx, hy)[0, 1]) if hx.std() > 0 and hy.std() > 0 else float("nan")
        rows.append({"Spearman": _spearman(x, y), "Spearman |map|": _spearman(np.abs(x), np.abs(y)),
                     "SSIM": float(structural_similarity(_unit(x), _unit(y), data_range=1.0)), "HOG": hog})
    return pd.DataFrame(rows, columns=list(MEASURES))


def model_randomisation(maps_of: Callable[[nn.Module], dict[str, torch.Tensor]], model: nn.Module,
                        layers_top_down: list[str], seed: int, mode: str = "cascading",
                        batchnorm: str = "keep") -> pd.DataFrame:
    """Adebayo et al.'s model-randomisation test for every map that ``maps_of(model)`` returns.

    ``maps_of``: from a model to {label: (N, H, W) maps} on fixed inputs and fixed targets (build the
    methods inside it from the registry, e.g. ``build_method("gradcam", m, m.get_submodule("layer4"))``,
    so that each step's copy is explained with its own layers). Returns one row per step, label and
    input: step, layer, map, input, and the four measures against the trained model's maps.
    """
    reference = maps_of(model)
    rows = []
    for step, (layer, copy_) in enumerate(randomisation_steps(model, layers_top_down, seed, mode, batchnorm), 1):
        for label, maps in maps_of(copy_).items():
            sim = similarity(reference[label], maps)
            sim.insert(0, "input", range(len(sim)))
            sim.insert(0, "map", label)
            sim.insert(0, "layer", layer)
            sim.insert(0, "step", step)
            rows.append(sim)
    return pd.concat(rows, ignore_index=True)


def depends_on_model(table: pd.DataFrame, measure: str = "Spearman |map|", threshold: float = 0.5) -> pd.Series:
    """Per map label: whether its maps at the last step (everything named randomised, in the cascading
    test) are dissimilar from the trained model's: mean ``measure`` below ``threshold``. A method that
    ignores the model stays near 1 and is flagged False."""
    last = table[table["step"] == table["step"].max()]
    return last.groupby("map")[measure].mean() < threshold
