"""Chapter 04's measure after training, checked on a fixed model and fixed inputs (issue: checks that do not
depend on training).

The model is the fast profile's network with its ImageNet weights and a head drawn from seed 0, not
trained: everything after training (saliency maps of seven methods, six normalisations, the distance
pointing game, the best normalisation per method) must give the committed values, whatever the
training noise, so a change of method shows up here. The references are regenerated with
``make regressions`` (``pytest --force-regen``); review their diff like code.

Tolerance: measured across the two kernel paths of the bands (``native`` and ``avx2``, 2 threads) on
2026-12-02: the largest difference of any of the 42 median scores was 3.3e-7. ``ATOL`` = 1e-4 leaves a
margin of 300 for other CPUs, and is still far below what a change of method moves (1e-3 and more).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from xaibook.models import build
from xaibook.steel import PATCH, ensure_standin, load_patches
from xaibook.steel.experiment import FAST, best_per_method, compute_maps, score_table, variants

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
ATOL = 1e-4
N_PATCHES = 6


@pytest.fixture(scope="module")
def fixed_run(tmp_path_factory):
    root = ensure_standin(tmp_path_factory.mktemp("steel"), 12, 0)
    patches = load_patches(root, FAST.input_size, mask_size=PATCH)
    pick = np.flatnonzero(patches.labels.numpy() > 0)[:N_PATCHES]
    torch.manual_seed(0)
    model = build(FAST.arch, 5, pretrained=True).eval()
    classes = patches.labels.numpy()[pick]        # explain the true class: no training, no prediction to trust
    torch.manual_seed(0)                           # SmoothGrad's noise
    cfg = FAST.__class__(**{**FAST.__dict__, "smoothgrad_samples": (10,), "scorecam_batches": (64,)})
    maps = compute_maps(model, model.get_submodule(FAST.cam_layer), patches.images[pick], classes, variants(cfg))
    table, _ = score_table(maps, patches.masks[pick])
    return pick, table


def test_steel_scores_on_a_fixed_model(fixed_run, num_regression):
    _, table = fixed_run
    flat = {f"{m} | {n}": [float(table.loc[m, n])] for m in table.index for n in table.columns}
    num_regression.check(flat, default_tolerance={"atol": ATOL, "rtol": 0})
