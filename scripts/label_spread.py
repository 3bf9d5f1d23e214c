"""Where the spread of chapter 02's data-randomisation claims comes from (a developer's measurement, not a test).

Chapter 02's fast profile fits a convex head on frozen features, so the true model is the same in every run
and the sanity sample is fixed; what changes between runs is (a) the label permutations (``label_shuffles``
per run, seeded by :func:`xaibook.saliency.sanity.draw_seed`) and (b) the map methods' own draws
(LIME's perturbations; Grad-CAM and occlusion draw nothing). This script fits PERMS shuffled-label twins of
run seed 0 and prints, per method, Spearman of |map| (true vs shuffled, mean over the sample) for each
permutation, the sd between permutations, and, for LIME, the sd between SEEDS of LIME's own draws with the
permutation held fixed: whether more permutations would narrow the claim's interval.

Usage: python scripts/label_spread.py [PERMS [SEEDS]]   (defaults 8 and 4)
"""
import sys

import numpy as np
import pandas as pd
import torch

from xaibook import build_model, paths
from xaibook.cauliflower import ensure_standin
from xaibook.cauliflower.experiment import METHOD_NAMES, _sanity_maps, load_data, settings, train_config
from xaibook.saliency.sanity import data_randomisation, draw_seed, spread_sample
from xaibook.training import fit, predict_proba, shuffled_twin

torch.set_num_threads(2)
perms = int(sys.argv[1]) if len(sys.argv) > 1 else 8
seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 4
cfg = settings("fast")
data_dir = paths.chapter_data_dir("02_cauliflower", "synthetic", "fast", 0, False)
ensure_standin(data_dir, cfg.standin_spec(), 0)
ds = load_data(data_dir, cfg.image_size, 0)
tr, va = ds.split("train"), ds.split("val")
train, val = (ds.images[tr], ds.labels[tr]), (ds.images[va], ds.labels[va])
model = build_model(cfg.arch, 2, pretrained=cfg.pretrained)
fit(model, train, val, train_config(cfg), torch.Generator().manual_seed(0))
pick = spread_sample(len(va), cfg.sanity_images)
images = ds.images[va[pick]]
classes = predict_proba(model, images).argmax(1)
twins = [shuffled_twin(cfg.arch, 2, train, val, train_config(cfg), draw_seed(0, k), pretrained=cfg.pretrained)
         for k in range(perms)]
rows = []
for k, twin in enumerate(twins):
    table = data_randomisation(_sanity_maps(images, classes, cfg, 0, "cpu"), model, twin)
    for name in METHOD_NAMES:
        rows.append({"permutation": k, "map": name, "rho": float(table.loc[name, "Spearman |map|"])})
per = pd.DataFrame(rows).pivot(index="permutation", columns="map", values="rho")
print("Spearman of |map|, true vs shuffled, per permutation (mean over the sample):")
print(per.round(3).to_string())
print("sd between permutations:", per.std(ddof=1).round(3).to_dict())
print("sd of a mean over 3 permutations (sd / sqrt 3):", (per.std(ddof=1) / np.sqrt(3)).round(3).to_dict())
lime = [n for n in METHOD_NAMES if "LIME" in n.upper()]
for name in lime:
    vals = [float(data_randomisation(_sanity_maps(images, classes, cfg, s, "cpu"), model, twins[0]).loc[name, "Spearman |map|"])
            for s in range(seeds)]
    print(f"{name}, permutation 0, LIME seeds 0..{seeds - 1}: {np.round(vals, 3).tolist()}; sd {np.std(vals, ddof=1):.3f}")
