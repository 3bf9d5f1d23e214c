"""What Kolarik, Sarnovsky & Paralic report, and the audit of those numbers against each other."""
from __future__ import annotations

import pandas as pd

from ..book.audit import Check

CITATION = ("Kolárik M, Sarnovský M, Paralič J. Detecting the Absence of Lung Sliding in Ultrasound Videos Using "
            "3D Convolutional Neural Networks (chapter 03's paper; see "
            "../shared/papers/03_lung_sliding_kolarik.md)")

# Fig. 4 / Sect. 3.1.1: patches per data set (all, present, absent)
COUNTS = pd.DataFrame({"patches": [1928, 7774, 890, 1647, 663, 663], "present": [1338, 5435, 620, 1155, 230, 470],
                       "absent": [590, 2339, 270, 492, 96, 193]},
                      index=pd.Index(["2_30x30", "all_30x30", "2_60x60", "all_60x60", "2_90x90", "all_90x90"],
                                     name="data set"))
CLIPS = {"present": 115, "absent": 48}
PATIENTS = {"present": 28, "absent": 20}

# Table 4 (Tables 1-3 are its rows): model depth, data set -> accuracy, sensitivity, specificity, F1
_T4 = [
    (18, "2_30x30", 0.7047, 0.5985, 0.9344, 0.7349), (34, "2_30x30", 0.7953, 0.7083, 0.9836, 0.8256),
    (50, "2_30x30", 0.8420, 0.8788, 0.7624, 0.8838), (18, "all_30x30", 0.8913, 0.9360, 0.7853, 0.9238),
    (34, "all_30x30", 0.8752, 0.9863, 0.6113, 0.9175), (50, "all_30x30", 0.8849, 0.9470, 0.7376, 0.9205),
    (18, "2_60x60", 0.7640, 0.7143, 0.8643, 0.8019), (34, "2_60x60", 0.8596, 0.8403, 0.8985, 0.8889),
    (50, "2_60x60", 0.7978, 0.9076, 0.5765, 0.8571), (18, "all_60x60", 0.6848, 0.7048, 0.6407, 0.7547),
    (34, "all_60x60", 0.6970, 0.6256, 0.8544, 0.7396), (50, "all_60x60", 0.7909, 0.8722, 0.6118, 0.8516),
    (18, "all_90x90", 0.8815, 0.8768, 0.8940, 0.9150), (34, "all_90x90", 0.8419, 0.8518, 0.8154, 0.8870),
    (50, "all_90x90", 0.8267, 0.9875, 0.3960, 0.8925),
]
TABLE4 = pd.DataFrame([{"model": f"ResNet3D-{d}", "data set": n, "accuracy": a, "sensitivity": se,
                        "specificity": sp, "F1": f1} for d, n, a, se, sp, f1 in _T4])
# Table 5: the three best 3D models (as printed) and the M-mode ResNet-18 of Jaščur et al. 2021: their own results
# (their pipeline, splits and evaluation), and their 0.89 is a *balanced* accuracy (Jaščur et al.'s abstract)
TABLE5 = pd.DataFrame([
    {"model": "ResNet3D-18", "data set": "all_30x30", "accuracy": 0.9193, "sensitivity": 0.9360, "specificity": 0.7853,
     "F1": 0.9238},
    {"model": "ResNet3D-34", "data set": "2_60x60", "accuracy": 0.8596, "sensitivity": 0.8403, "specificity": 0.8985,
     "F1": 0.8889},
    {"model": "ResNet3D-18", "data set": "all_90x90", "accuracy": 0.8815, "sensitivity": 0.8768, "specificity": 0.8940,
     "F1": 0.9150},
    {"model": "ResNet-18 (M-mode)", "data set": "64-frame", "accuracy": 0.89, "sensitivity": 0.86, "specificity": 0.92,
     "F1": float("nan")},
])
# Sect. 2's account of Jaščur et al.'s result (their abstract: balanced accuracy 89%, sensitivity 82%, specificity 92%)
JASCUR_SECT2 = {"accuracy": 0.89, "sensitivity": 0.82, "specificity": 0.92}
# the text's own statements of numbers that the tables also give
TEXT = {   # (depth, data set) -> (section, the metrics it states)
    (18, "all_30x30"): ("Sect. 4.1", {"accuracy": 0.8913, "sensitivity": 0.9360, "F1": 0.9238}),
    (34, "2_60x60"): ("Sect. 4.2", {"accuracy": 0.8596, "specificity": 0.8985, "F1": 0.9434}),
    (50, "all_60x60"): ("Sect. 4.2", {"accuracy": 0.7909, "sensitivity": 0.8722, "F1": 0.8516}),
    (18, "all_90x90"): ("Sect. 4.3", {"accuracy": 0.8815, "specificity": 0.8940, "F1": 0.8768}),
}


def implied_prevalence(acc: float, sens: float, spec: float) -> float:
    """The share of "present" in a test set for which accuracy = p sens + (1 - p) spec."""
    return (acc - spec) / (sens - spec)


def implied_f1(sens: float, spec: float, p: float) -> float:
    """F1 of the "present" class from sensitivity, specificity and the test set's share p of "present"."""
    tp, fp = p * sens, (1 - p) * (1 - spec)
    prec = tp / (tp + fp)
    return 2 * prec * sens / (prec + sens)


def prevalence_table() -> pd.DataFrame:
    """Per row of Table 4: the test share of "present" its accuracy implies, the data set's share of
    "present" (Fig. 4), and the F1 that sensitivity, specificity and that share imply."""
    rows = []
    for _, r in TABLE4.iterrows():
        p = implied_prevalence(r["accuracy"], r["sensitivity"], r["specificity"])
        share = COUNTS.loc[r["data set"], "present"] / COUNTS.loc[r["data set"], "patches"]
        rows.append({"model": r["model"], "data set": r["data set"], "implied test share present": p,
                     "data set share present": share, "F1 (paper)": r["F1"],
                     "F1 implied": implied_f1(r["sensitivity"], r["specificity"], p)})
    return pd.DataFrame(rows)


def audit() -> list[Check]:
    """Every number of the paper that its other numbers let us recompute."""
    checks = []
    for name, row in COUNTS.iterrows():
        total = row["present"] + row["absent"]
        checks.append(Check(f"Fig. 4: {name} = present + absent", str(row["patches"]),
                            f"{row['present']} + {row['absent']} = {total}", bool(total == row["patches"]),
                            "" if total == row["patches"] else
                            "663 is all_90x90's count; a 2_ set cannot hold the same number of patches with "
                            "different classes. If the region is at most two 90 px rows tall, 2_90x90 and all_90x90 "
                            "are the same set, which would explain why the tables have only all_90x90 (15 "
                            "configurations, not 18)"))
    ratio = {k: CLIPS[k] / PATIENTS[k] for k in CLIPS}
    checks.append(Check("Clips: 115 present + 48 absent from 28 + 20 patients", "163 clips",
                        f"{CLIPS['present'] + CLIPS['absent']} clips, {ratio['present']:.1f} and "
                        f"{ratio['absent']:.1f} per patient", bool(1 <= ratio["present"] <= 9 and 1 <= ratio["absent"] <= 5),
                        "3-18 s with sliding (1-9 clips of 2 s), 2-11 s without (1-5): both ratios fit"))
    per_clip = COUNTS["present"] / CLIPS["present"], COUNTS["absent"] / CLIPS["absent"]
    checks.append(Check("all_30x30 patches per clip, present vs absent", "same region size in both classes",
                        f"{per_clip[0]['all_30x30']:.1f} vs {per_clip[1]['all_30x30']:.1f}",
                        abs(per_clip[0]["all_30x30"] / per_clip[1]["all_30x30"] - 1) < 0.1))
    prev = prevalence_table()
    for name, group in prev.groupby("data set", sort=False):
        lo, hi = group["implied test share present"].min(), group["implied test share present"].max()
        share = group["data set share present"].iloc[0]
        checks.append(Check(f"{name}: one test set for its three models", f"test share present about {share:.2f}",
                            f"implied by accuracy, sensitivity, specificity: {lo:.2f}-{hi:.2f}",
                            bool(hi - lo < 0.05 and abs((lo + hi) / 2 - share) < 0.1),
                            "accuracy = p sensitivity + (1 - p) specificity; a patient-wise 70:30 split can move p "
                            "away from the data set's share, but not between models tested on the same set"))
    bad_f1 = prev[(prev["F1 (paper)"] - prev["F1 implied"]).abs() > 0.01]
    checks.append(Check("F1 of 'present' recomputed from sensitivity, specificity and the implied share",
                        "Table 4's F1", f"{len(prev) - len(bad_f1)} of {len(prev)} rows within 0.01",
                        bad_f1.empty, "" if bad_f1.empty else "off: " + ", ".join(
                            f"{r['model']} {r['data set']} ({r['F1 (paper)']:.3f} vs {r['F1 implied']:.3f})"
                            for _, r in bad_f1.iterrows())))
    t5, t1 = TABLE5.iloc[0], TABLE4.loc[3]
    checks.append(Check("Table 5, ResNet3D-18 all_30x30: accuracy as Table 1", f"{t1['accuracy']:.4f} (Table 1, text)",
                        f"{t5['accuracy']:.4f}", bool(abs(t5["accuracy"] - t1["accuracy"]) < 5e-5),
                        "Table 5 prints 0.9193 with Table 1's sensitivity, specificity and F1: a typo"))
    for (depth, name), (section, stated) in TEXT.items():
        row = TABLE4[(TABLE4["model"] == f"ResNet3D-{depth}") & (TABLE4["data set"] == name)].iloc[0]
        diffs = {k: (v, row[k]) for k, v in stated.items() if abs(v - row[k]) > 5e-5}
        checks.append(Check(f"{section} vs Table 4: ResNet3D-{depth} on {name}", ", ".join(f"{k} {v:.4f}" for k, v in stated.items()),
                            ", ".join(f"{k} {row[k]:.4f}" for k in stated), not diffs,
                            "" if not diffs else "; ".join(f"the text's {k} {a:.4f} is not the table's {b:.4f}"
                                                          for k, (a, b) in diffs.items())))
    best3d, mm = TABLE4.loc[3], TABLE5.iloc[3]
    sens_gain = best3d["sensitivity"] - mm["sensitivity"]
    checks.append(Check("Sensitivity 'more than 7.5% better' than the M-mode model", "> 0.075",
                        f"{best3d['sensitivity']:.4f} - {mm['sensitivity']:.2f} = {sens_gain:.4f}", sens_gain > 0.075,
                        "a comparison across evaluations: the M-mode numbers are Jaščur et al.'s own"))
    checks.append(Check("Table 5's M-mode sensitivity against Sect. 2's account of Jaščur et al.",
                        f"{JASCUR_SECT2['sensitivity']:.2f} (Sect. 2)", f"{mm['sensitivity']:.2f} (Table 5)",
                        abs(mm["sensitivity"] - JASCUR_SECT2["sensitivity"]) < 0.005,
                        "Sect. 2 (and Jaščur et al.'s abstract) give 82%; Table 5 prints 0.86. With 0.82 the 3D "
                        "model's gain is 11.6 points, not 'more than 7.5'"))
    t60 = TABLE4[TABLE4["data set"].str.endswith("60x60")]
    t30 = TABLE4[TABLE4["data set"].str.endswith("30x30")]
    b60, b30 = t60.loc[t60["accuracy"].idxmax()], t30.loc[t30["accuracy"].idxmax()]
    better = [m for m in ("accuracy", "sensitivity", "specificity", "F1") if b60[m] >= b30[m]]
    checks.append(Check("Sect. 4.2: the best 60x60 model worse than the best 30x30 model on every metric",
                        "worse on all four", "not worse on: " + (", ".join(
                            f"{m} ({b60[m]:.4f} vs {b30[m]:.4f})" for m in better) or "none"), not better,
                        "the 60x60 model's specificity is higher; the text's own F1 for it (0.9434) would be higher too"))
    return checks
