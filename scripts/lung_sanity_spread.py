"""Where the spread of chapter 03's sanity claims comes from (a developer's measurement, not part of any test).

For each training seed: ResNet3D-18 on all_30x30 trained as the chapter trains it (the fast profile, the stand-in
of data seed 0), its vanilla and SmoothGrad maps on the first 12 test patches of the chapter's saliency study;
then Spearman of |map| against the trained network's maps
- for DRAWS independent full randomisations (draw 0 the cascade's own), per draw and patch, and
- for PERMS networks trained on shuffled labels (the first seeded ``seed``, then independent streams), per
  permutation and patch.
Prints, per method, the sd between seeds of the claim's quantity read the chapter's way (1 draw, 1 permutation,
4 patches) and read with more draws, permutations or patches: whether the seed (the trained network and its
explained patches) or the draw dominates.

Usage: python scripts/lung_sanity_spread.py DRAWS PERMS SEED [SEED ...]
(2026-12-04, `8 3 0 1 2 3`, measured with draw 0 drawn like the others rather than as the cascade's own: about 40 s per seed. Vanilla: the model test's sd 0.052 with 1 draw x 4
patches, 0.054 with 8 draws x 4, 0.029 with 8 draws x 12; the label test's 0.076 with 1 permutation x 4, 0.022 with
3 x 12. SmoothGrad: 0.13 -> 0.10 and 0.10 -> 0.07, the trained network's seed dominating.)
"""
import dataclasses
import sys

import numpy as np
import torch

from xaibook import paths
from xaibook.lung import ensure_standin, load_clips
from xaibook.lung.experiment import (paper_sets, run_config, saliency_study, settings, shuffled_runs, split_cohort,
                                     split_set, study_maps)
from xaibook.models import randomisation_cascade
from xaibook.saliency.sanity import model_randomisation, similarity

torch.set_num_threads(2)
draws, perms, seeds = int(sys.argv[1]), int(sys.argv[2]), [int(s) for s in sys.argv[3:]]
cfg = dataclasses.replace(settings("fast"), saliency_patches=12)
data_dir = paths.chapter_data_dir("03_lung_sliding", "synthetic", "fast", 0)
ensure_standin(data_dir, cfg.standin_spec(), 0)
table, clips = load_clips(data_dir, size=cfg.size, min_patch=min(cfg.patches))
sets = paper_sets(clips, cfg)
cohort = split_cohort(table, cfg, 0)
s = sets["all_30x30"]
split = split_set(s, cohort.side, cohort.val_patients, cfg, 0)
out = {}
for seed in seeds:
    r = run_config(18, "all_30x30", s, split, cfg, seed)
    study = saliency_study(r, s, clips, cfg)
    x = study.inputs
    ref = study_maps(r.model, x, cfg)
    table = model_randomisation(lambda m: study_maps(m, x, cfg), r.model, randomisation_cascade(r.model), seed,
                                draws=draws)
    last = table[table["step"] == table["step"].max()]
    rho_draw = {m: [g.sort_values("input")["Spearman |map|"].to_numpy() for _, g in last[last["map"] == m].groupby("draw")]
                for m in ref}
    twins = shuffled_runs(r, s, dataclasses.replace(cfg, label_shuffles=perms), seed)
    rho_perm = {m: [] for m in ref}
    for twin in twins:
        maps = study_maps(twin.model, x, cfg)
        for m in ref:
            rho_perm[m].append(similarity(ref[m], maps[m])["Spearman |map|"].to_numpy())
    out[seed] = {m: (np.array(rho_draw[m]), np.array(rho_perm[m])) for m in ref}
    print(f"seed {seed}: {len(x)} patches, accuracy {r.metrics['accuracy']:.3f}; " + "; ".join(
        f"{m}: draw0/4 patches {v[0][0, :4].mean():.3f}, draws x 12 {v[0].mean():.3f}, perm0/4 {v[1][0, :4].mean():.3f}, "
        f"perms x 12 {v[1].mean():.3f}" for m, v in out[seed].items()), flush=True)

for m in next(iter(out.values())):
    def sd(f):
        return np.std([f(*out[seed][m]) for seed in seeds], ddof=1)
    print(f"\n{m}: sd between seeds of the mean Spearman |map|")
    print(f"  model test:  1 draw x 4 patches {sd(lambda d, p: d[0, :4].mean()):.3f}; {draws} draws x 4 "
          f"{sd(lambda d, p: d[:, :4].mean()):.3f}; 1 draw x 12 {sd(lambda d, p: d[0].mean()):.3f}; "
          f"{draws} draws x 12 {sd(lambda d, p: d.mean()):.3f}; within a seed, sd between draws (4 patches) "
          f"{np.mean([out[k][m][0][:, :4].mean(1).std(ddof=1) for k in seeds]):.3f}")
    print(f"  label test:  1 perm x 4 patches {sd(lambda d, p: p[0, :4].mean()):.3f}; {perms} perms x 4 "
          f"{sd(lambda d, p: p[:, :4].mean()):.3f}; 1 perm x 12 {sd(lambda d, p: p[0].mean()):.3f}; "
          f"{perms} perms x 12 {sd(lambda d, p: p.mean()):.3f}; within a seed, sd between perms (4 patches) "
          f"{np.mean([out[k][m][1][:, :4].mean(1).std(ddof=1) for k in seeds]):.3f}")
