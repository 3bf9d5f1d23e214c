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
  step, draw and map pair (the last step, where the claim is read, may be drawn several times:
  :func:`draw_seed`); :func:`summarise` averages it over the inputs and draws (one row per step and map, what
  the chapters show and :func:`xaibook.book.plotting.randomisation_curves` draws); :func:`depends_on_model`
  reads the last step.
* :func:`data_randomisation` compares the maps of a model trained on the true labels with those of
  the same model trained on shuffled labels (Adebayo et al.'s second test), or of several such
  models, one per permutation, averaged.

**Several draws.** One random network is one draw: its similarity to the trained model's maps
scatters from draw to draw (chapter 05's Grad-CAM++ by 0.13 in Spearman for the same photographs;
``scripts/sanity_spread.py``). A verdict about *the* randomised model, i.e. the expectation over
draws, is read from the mean over ``draws`` independent randomisations of the last step. Adebayo et
al. draw once and average over inputs; averaging over draws as well estimates the same quantity with
less noise.

Maps may be 2-D images (N, H, W) or 3-D videos (N, T, H, W); for videos the rank correlations run
over every voxel, SSIM over the volume, and HOG on each frame (the descriptors concatenated).

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


def spread_sample(n_total: int, n: int) -> np.ndarray:
    """Positions of ``n`` of ``n_total`` items spread evenly from first to last: a chapter's fixed sample for
    the checks (a test set in time order would otherwise give ``n`` near-identical frames)."""
    return np.unique(np.linspace(0, n_total - 1, min(n, n_total)).round().astype(int))


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


def draw_seed(seed: int, draw: int) -> int:
    """The seed of draw ``draw`` of a run seeded ``seed``: ``seed`` itself for draw 0 (the cascade's), then
    an independent stream (numpy's SeedSequence of (seed, draw)), so that no two runs share a draw: seeds
    0, 1, 2, ... with ``seed + draw`` would give run 0's second draw to run 1."""
    if draw < 0 or seed < 0:
        raise ValueError(f"seed and draw must be 0 or more, got seed {seed}, draw {draw}")
    return seed if draw == 0 else int(np.random.SeedSequence([seed, draw]).generate_state(1)[0])


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


def _constant_pair(a: np.ndarray, b: np.ndarray) -> float | None:
    """The correlation convention for constant maps, which have no ranks or gradients to correlate: 1 for
    two equal maps, 0 when one is constant and the other is not or differs (nothing in common to rank);
    None when neither is constant."""
    ca, cb = a.std() == 0, b.std() == 0
    if not (ca or cb):
        return None
    return 1.0 if ca and cb and np.array_equal(a, b) else 0.0


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    fixed = _constant_pair(a, b)
    return fixed if fixed is not None else float(spearmanr(a.ravel(), b.ravel())[0])


def _hog(x: np.ndarray) -> np.ndarray:
    """HOG descriptor of a map scaled to [0, 1]; of each frame, concatenated, for a video (T, H, W)."""
    from skimage.feature import hog

    x = _unit(x)
    if x.ndim == 3:
        return np.concatenate([_hog(frame) for frame in x])     # a constant frame gives zeros
    cell = max(2, min(x.shape) // 8)
    return hog(x, orientations=9, pixels_per_cell=(cell, cell), cells_per_block=(2, 2), feature_vector=True)


def similarity(a: torch.Tensor, b: torch.Tensor) -> pd.DataFrame:
    """The four measures (:data:`MEASURES`) between paired maps, one row per pair: 2-D maps (N, H, W)
    or videos (N, T, H, W) (module docstring).

    SSIM and HOG are computed on each map scaled to [0, 1]. A constant map (a randomised network can
    saturate, and LIME's surrogate then finds nothing) has no ranks or gradients to correlate: the
    correlations count it 0 against a map that is not constant, 1 against an equal constant map.
    """
    from skimage.metrics import structural_similarity

    if a.shape != b.shape or a.ndim not in (3, 4):
        raise ValueError(f"similarity needs paired maps of one shape, (N, H, W) or (N, T, H, W), got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    if min(a.shape[1:]) < 7:
        raise ValueError(f"SSIM's 7-pixel window needs maps of at least 7 in every dimension, got {tuple(a.shape[1:])}")
    rows = []
    for x, y in zip(a.detach().double().cpu().numpy(), b.detach().double().cpu().numpy()):
        hx, hy = _hog(x), _hog(y)
        fixed = _constant_pair(hx, hy)
        hog = fixed if fixed is not None else float(np.corrcoef(hx, hy)[0, 1])
        rows.append({"Spearman": _spearman(x, y), "Spearman |map|": _spearman(np.abs(x), np.abs(y)),
                     "SSIM": float(structural_similarity(_unit(x), _unit(y), data_range=1.0)), "HOG": hog})
    return pd.DataFrame(rows, columns=list(MEASURES))


def model_randomisation(maps_of: Callable[[nn.Module], dict[str, torch.Tensor]], model: nn.Module,
                        layers_top_down: list[str], seed: int, mode: str = "cascading",
                        batchnorm: str = "keep", draws: int = 1) -> pd.DataFrame:
    """Adebayo et al.'s model-randomisation test for every map that ``maps_of(model)`` returns.

    ``maps_of``: from a model to {label: (N, H, W) maps} on fixed inputs and fixed targets (build the
    methods inside it from the registry, e.g. ``build_method("gradcam", m, m.get_submodule("layer4"))``,
    so that each step's copy is explained with its own layers). ``draws``: how many independent
    randomisations of the last step (the one :func:`depends_on_model` reads) to compare, draw 0 being the
    cascade's own (:func:`draw_seed`); the other steps are drawn once. Returns one row per step, draw,
    label and input: step, layer, draw, map, input, and the four measures against the trained model's maps.
    """
    if draws < 1:
        raise ValueError(f"draws must be at least 1, got {draws}")
    reference = maps_of(model)
    rows = []

    def compare(step: int, layer: str, draw: int, copy_: nn.Module) -> None:
        for label, maps in maps_of(copy_).items():
            sim = similarity(reference[label], maps)
            sim.insert(0, "input", range(len(sim)))
            sim.insert(0, "map", label)
            sim.insert(0, "draw", draw)
            sim.insert(0, "layer", layer)
            sim.insert(0, "step", step)
            rows.append(sim)

    for step, (layer, copy_) in enumerate(randomisation_steps(model, layers_top_down, seed, mode, batchnorm), 1):
        compare(step, layer, 0, copy_)
    last = layers_top_down if mode == "cascading" else [layers_top_down[-1]]
    for draw in range(1, draws):
        compare(step, layer, draw, randomised(model, last, draw_seed(seed, draw), batchnorm))
    return pd.concat(rows, ignore_index=True)


def nanmean(values) -> float:
    """The mean of the defined values; NaN (without numpy's warning) when none is (constant maps). Also used
    by chapter 05's similarity tables."""
    values = np.asarray(values, dtype=float)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`model_randomisation`'s rows averaged over the inputs and draws (undefined values left out): one row per
    step and map, the layer as ``"randomised down to"``, in the cascade's order."""
    means = table.groupby(["step", "layer", "map"], sort=False)[list(MEASURES)].agg(nanmean).reset_index()
    return means.rename(columns={"layer": "randomised down to"}).drop(columns="step")


def data_randomisation(maps_of: Callable[[nn.Module], dict[str, torch.Tensor]], model: nn.Module,
                       shuffled: nn.Module | list[nn.Module]) -> pd.DataFrame:
    """Adebayo et al.'s data-randomisation test: the maps of ``model`` (trained on the true labels) against
    those of ``shuffled`` (the same architecture and training, on labels permuted at random), on the same
    inputs and targets; ``shuffled`` may be a list of such models, one per permutation, and the measures
    are then averaged over every (permutation, input) pair. One row per map label: the four measures,
    mean over inputs. A method whose maps stay alike does not depend on the relation between inputs and
    labels that the model learned."""
    twins = list(shuffled) if isinstance(shuffled, (list, tuple)) else [shuffled]
    if not twins:
        raise ValueError("data_randomisation needs at least one model trained on shuffled labels")
    ours = maps_of(model)
    theirs = [maps_of(twin) for twin in twins]
    rows = {label: pd.concat([similarity(maps, t[label]) for t in theirs], ignore_index=True).agg(nanmean)
            for label, maps in ours.items()}
    out = pd.DataFrame(rows).T[list(MEASURES)]
    out.index.name = "map"
    return out


def depends_on_model(table: pd.DataFrame, measure: str = "Spearman |map|", threshold: float = 0.5) -> pd.Series:
    """Per map label: whether its maps at the last step (everything named randomised, in the cascading
    test) are dissimilar from the trained model's: mean ``measure`` below ``threshold``. A method that
    ignores the model stays near 1 and is flagged False."""
    last = table[table["step"] == table["step"].max()]
    return last.groupby("map")[measure].mean() < threshold


def sanity_sentence(summary: pd.DataFrame, labels: pd.DataFrame | None = None, threshold: float = 0.5,
                    measure: str = "Spearman |map|") -> str:
    """What a chapter's randomisation checks found, as a sentence for its closing text, computed from the
    run: ``summary`` from :func:`summarise`, ``labels`` from :func:`data_randomisation` (or None where the
    chapter cannot repeat its training). Maps whose HOG similarity stays at ``threshold`` or more when
    everything is randomised are named: their edges come from the input and the method, not the model."""
    layers = list(dict.fromkeys(summary["randomised down to"]))
    first, last = (summary[summary["randomised down to"] == layers[i]].set_index("map") for i in (0, -1))

    def listing(values: pd.Series) -> str:
        return "; ".join(f"{v:.2f} ({k})" for k, v in values.items())

    stays = [k for k, v in last[measure].items() if not v < threshold]
    text = (f"Randomising `{layers[0]}` alone leaves the maps a rank correlation (of |map|) with the trained "
            f"model's of {listing(first[measure])}; randomised down to `{layers[-1]}`, {listing(last[measure])}: ")
    text += ("every map depends on the model's weights" if not stays else
             f"{', '.join(stays)} stay{'s' * (len(stays) == 1)} above {threshold:g}, so "
             f"{'it does' if len(stays) == 1 else 'they do'} not pass Adebayo et al.'s check")
    edges = last["HOG"][last["HOG"] >= threshold]
    if len(edges):
        text += (f". HOG similarity stays at {listing(edges)} even then: the edges of "
                 f"{'that map' if len(edges) == 1 else 'those maps'} follow the input and the method, not the model")
    if labels is not None:
        kept = [k for k, v in labels[measure].items() if not v < threshold]
        text += (f". Trained on shuffled labels, the model's maps correlate with the true model's at "
                 f"{listing(labels[measure])}: " + ("they depend on what it learned from the labels" if not kept else
                                                    f"{', '.join(kept)} barely depend{'s' * (len(kept) == 1)} on "
                                                    f"the labels"))
    return text


def by_step(summary: pd.DataFrame, measure: str = "Spearman |map|") -> pd.DataFrame:
    """One ``measure`` of :func:`summarise` as a table to read: a row per step of the cascade (top: the top
    layer alone randomised; bottom: everything named), a column per map."""
    steps = list(dict.fromkeys(summary["randomised down to"]))
    maps = list(dict.fromkeys(summary["map"]))
    table = summary.pivot(index="randomised down to", columns="map", values=measure).reindex(index=steps, columns=maps)
    table.columns.name = measure
    return table
