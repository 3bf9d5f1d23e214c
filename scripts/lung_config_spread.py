"""Where the spread of chapter 03's configuration claims comes from (a developer's measurement, not part of any test).

For each training seed, the 15 configurations and the M-mode baseline are trained as the fast profile trains them
(the stand-in of data seed 0, its patient split), with test predictions kept after every epoch. The run is saved
to OUT.npz; ``--report`` then reads any number of such files and prints, over the seeds, the sd of each
configuration's accuracy and of each ranking claim's margin read with five checkpoint rules (the chapter's lowest
validation loss, the last epoch, the mean of the last 2, 3 or 4 epochs' probabilities) and with k
seeds' probabilities averaged per configuration (k = 1, 2, 3), so that the cost of each route can be set against
what it buys before the chapter changes.

Usage:
    python scripts/lung_config_spread.py OUT.npz SEED [SEED ...] [key=value ...] [--precise-bn] [--cuda]
        (key=value: LungSettings overrides; --precise-bn as the fast profile trains; --cuda: on a GPU)
    python scripts/lung_config_spread.py --report OUT.npz [OUT.npz ...] [--t=T]
        (--t: the chapter's one-sided t, e.g. 4.72 from 03's bands file; a margin whose prediction interval over
        the groups, mean +- t sd sqrt(1 + 1/groups), excludes zero is marked "decides")
"""
import dataclasses
import os
import sys
import time

import numpy as np
import pandas as pd
import torch
from torch import nn

from xaibook import paths
from xaibook.lung import ensure_standin, load_clips
from xaibook.lung.experiment import (CONFIGS, DATA_SETS, binary_metrics, config_model, fit_binary, m_mode_images,
                                     mmode_model, paper_claims, paper_sets, predict, settings, split_cohort,
                                     split_set, to_input)


PRECISE_BN = False      # --precise-bn: recompute batch norm's statistics on the training patches before every evaluation
DEVICE = "cpu"          # --cuda: train on the GPU (a design measurement only: CUDA kernels are not the chapter's CPU path)


def fit_recording(model: nn.Module, x, y, xv, yv, xt, cfg, gen) -> tuple[np.ndarray, np.ndarray]:
    """fit_binary as the chapter trains, keeping the validation loss and the test probabilities after every epoch."""
    p_test: list[np.ndarray] = []
    hist = fit_binary(model, (x, y), (xv, yv), epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, l2=cfg.l2,
                      generator=gen, precise_bn=PRECISE_BN, device=DEVICE,
                      on_epoch=lambda epoch, m: p_test.append(predict(m, xt, device=DEVICE)))
    return np.array(hist.val_loss), np.array(p_test)


def measure(out: str, seeds: list[int], overrides: dict) -> None:
    torch.set_num_threads(2)
    cfg = dataclasses.replace(settings("fast"), **overrides)
    data_dir = paths.chapter_data_dir("03_lung_sliding", "synthetic", "fast", 0)
    ensure_standin(data_dir, cfg.standin_spec(), 0)
    table, clips = load_clips(data_dir, size=cfg.size, min_patch=min(cfg.patches))
    sets = paper_sets(clips, cfg)
    cohort = split_cohort(table, cfg, 0)
    splits = {n: split_set(sets[n], cohort.side, cohort.val_patients, cfg, 0) for n in DATA_SETS}
    mx, my, clip_id = m_mode_images(clips, cfg)
    patient = np.array(clips.patients)[clip_id]
    side = np.array([cohort.side[p] for p in patient])
    is_val = np.isin(patient, list(cohort.val_patients))
    mxt = ((torch.from_numpy(mx) - 0.5) / 0.25)[:, None]
    mparts = [(side == "train") & ~is_val, (side == "train") & is_val, side == "test"]
    saved = {"y_mmode": my[mparts[2]]}
    for n in DATA_SETS:
        saved[f"y_{n}"] = sets[n].y[splits[n].test]
    for seed in seeds:
        start = time.perf_counter()
        for depth, name in CONFIGS:
            s, sp = sets[name], splits[name]
            model, gen = config_model(depth, cfg, seed)
            v, p = fit_recording(model, to_input(s.patches[sp.train], cfg), torch.from_numpy(s.y[sp.train]),
                                 to_input(s.patches[sp.val], cfg), torch.from_numpy(s.y[sp.val]),
                                 to_input(s.patches[sp.test], cfg), cfg, gen)
            saved[f"val_{seed}_{depth}_{name}"], saved[f"p_{seed}_{depth}_{name}"] = v, p
        torch.manual_seed(seed * 1000 + 2)
        gen = torch.Generator().manual_seed(seed * 1000 + 2)
        mcfg = dataclasses.replace(cfg, epochs=cfg.mmode_epochs)
        v, p = fit_recording(mmode_model(cfg.mmode_width), mxt[mparts[0]], torch.from_numpy(my[mparts[0]]),
                             mxt[mparts[1]], torch.from_numpy(my[mparts[1]]), mxt[mparts[2]], mcfg, gen)
        saved[f"val_{seed}_mmode"], saved[f"p_{seed}_mmode"] = v, p
        part = out.removesuffix(".npz") + ".part.npz"      # written whole, then renamed: a kill keeps the last file
        np.savez(part, seeds=np.array(sorted({int(k.split("_")[1]) for k in saved if k.startswith("val_")})), **saved)
        os.replace(part, out)
        print(f"seed {seed}: {time.perf_counter() - start:.0f} s", flush=True)


def table_from(probs: dict, ys: dict) -> tuple[pd.DataFrame, dict]:
    rows = [{"model": f"ResNet3D-{d}", "data set": n, **binary_metrics(ys[n], probs[(d, n)])} for d, n in CONFIGS]
    return pd.DataFrame(rows), binary_metrics(ys["mmode"], probs["mmode"])


def margins(probs: dict, ys: dict) -> dict[str, float]:
    table, mm = table_from(probs, ys)
    return {c.key: c.margin for c in paper_claims(table, mm, 0.0, 1.0, 0.0, 0.0)[:11]}, \
        dict(zip([f"{d}/{n}" for d, n in CONFIGS], table["accuracy"]))


def pick(val: np.ndarray, p: np.ndarray, rule: str) -> np.ndarray:
    """One run's test probabilities under a checkpoint rule: "best" (lowest validation loss, the chapter's),
    "last" (the last epoch), "tailK" (the mean of the last K epochs' probabilities: a temporal ensemble that
    costs no extra training)."""
    if rule.startswith("tail"):
        return p[-int(rule[4:]):].mean(axis=0)
    return p[-1] if rule == "last" else p[int(np.argmin(val))]


def report(files: list[str], t_one: float | None = None) -> None:
    data = [dict(np.load(f)) for f in files]
    ys = {n: data[0][f"y_{n}"] for n in DATA_SETS} | {"mmode": data[0]["y_mmode"]}
    runs = [(d, int(s)) for d in data for s in d["seeds"]]
    keys = [*CONFIGS, "mmode"]
    name = lambda k: k if k == "mmode" else f"{k[0]}_{k[1]}"      # noqa: E731
    out = {}
    for rule in ("best", "last", "tail2", "tail3", "tail4"):
        for k in (1, 2, 3):
            groups = [runs[i:i + k] for i in range(0, len(runs) - k + 1, k)]
            if len(groups) < 2:
                continue
            for how in ("probabilities", "metrics") if k > 1 else ("metrics",):
                ms, accs = [], []
                for g in groups:
                    if how == "probabilities":      # an ensemble: the k models' probabilities averaged
                        probs = {key: np.mean([pick(d[f"val_{s}_{name(key)}"], d[f"p_{s}_{name(key)}"], rule)
                                               for d, s in g], axis=0) for key in keys}
                        m, a = margins(probs, ys)
                    else:                            # the k models' metrics averaged (the configuration's mean)
                        tables = [table_from({key: pick(d[f"val_{s}_{name(key)}"], d[f"p_{s}_{name(key)}"], rule)
                                              for key in keys}, ys) for d, s in g]
                        t = tables[0][0].copy()
                        num = ["accuracy", "sensitivity", "specificity", "F1"]
                        t[num] = np.mean([tb[0][num].to_numpy() for tb in tables], axis=0)
                        mm = {c: float(np.mean([tb[1][c] for tb in tables])) for c in tables[0][1]}
                        m = {c.key: c.margin for c in paper_claims(t, mm, 0.0, 1.0, 0.0, 0.0)[:11]}
                        a = dict(zip([f"{d}/{n}" for d, n in CONFIGS], t["accuracy"]))
                    ms.append(m)
                    accs.append(a)
                ms, accs = pd.DataFrame(ms), pd.DataFrame(accs)
                out[(rule, k, how)] = ms
                print(f"\n== checkpoint {rule}, {k} seed(s) per configuration ({how} averaged), {len(groups)} groups")
                print("accuracy mean/sd per configuration: " + ", ".join(
                    f"{c} {accs[c].mean():.3f}/{accs[c].std(ddof=1):.3f}" for c in accs))
                frame = pd.DataFrame({"mean": ms.mean(), "sd": ms.std(ddof=1), "mean/sd": ms.mean() / ms.std(ddof=1)})
                if t_one is not None:
                    need = t_one * np.sqrt(1 + 1 / len(groups))
                    frame[f"decides (|mean/sd| > {need:.2f})"] = frame["mean/sd"].abs() > need
                print(frame.round(3).to_string())
    best_epochs = [int(np.argmin(d[f"val_{s}_{name(key)}"])) + 1 for d, s in runs for key in CONFIGS]
    print("\nbest epoch (checkpoint) counts over runs x configurations:", np.bincount(best_epochs)[1:].tolist())


if __name__ == "__main__":
    if sys.argv[1] == "--report":
        ts = [float(a.removeprefix("--t=")) for a in sys.argv[2:] if a.startswith("--t=")]
        report([a for a in sys.argv[2:] if not a.startswith("--t=")], ts[0] if ts else None)
    else:
        args = [a for a in sys.argv[2:] if a not in ("--precise-bn", "--cuda")]
        PRECISE_BN = "--precise-bn" in sys.argv
        DEVICE = "cuda" if "--cuda" in sys.argv else "cpu"
        seeds = [int(a) for a in args if "=" not in a]
        over = {k: type(getattr(settings("fast"), k))(v) for k, v in (a.split("=") for a in args if "=" in a)}
        measure(sys.argv[1], seeds, over)
