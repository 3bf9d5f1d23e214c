"""What Lorentz et al. 2021 report, and the audit of those numbers against each other (chapter 04)."""
from __future__ import annotations

import pandas as pd

from ..book.audit import Check
from .dataset import IMAGE_WIDTH, N_PATCHES, PAPER_CROP, PAPER_TABLE1, PATCH

CITATION = ("Lorentz J, Hartmann T, Moawad A, Fouquet F, Aouada D (2021). Explaining defect detection with "
            "saliency maps. IEA/AIE 2021, LNCS 12799:506-518. doi:10.1007/978-3-030-79463-7_43")

NORMS = ("All-100", "Abs-100", "ReLU-100", "All-99", "Abs-99", "ReLU-99")
# Table 3: median distance score per method and normalisation
TABLE3 = pd.DataFrame({
    "GradCAM": [0.8240, 0.8303, 0.8325, 0.8235, 0.8298, 0.8318],
    "GradCAM++": [0.8338, 0.8338, 0.8338, 0.8333, 0.8333, 0.8333],
    "ScoreCAM": [0.7977, 0.7977, 0.7977, 0.7971, 0.7971, 0.7971],
    "VanillaGrad": [0.6014, 0.6778, 0.6780, 0.5971, 0.6717, 0.6715],
    "SmoothGrad 100": [0.5718, 0.8055, 0.8063, 0.5680, 0.7971, 0.7971],
    "SmoothGrad 10": [0.5925, 0.7752, 0.775, 0.5886, 0.766, 0.766],
    "DeepLift zero": [0.4611, 0.7658, 0.7660, 0.4176, 0.7156, 0.7156],
    "DeepLift blur": [0.3255, 0.4555, 0.4555, 0.3123, 0.4198, 0.4199],
}, index=list(NORMS)).T
# Quoted in the text only (Section 4.2): the median of SmoothGrad 50
SMOOTHGRAD50_MEDIAN = 0.7991
VALIDATION_ACCURACY = 89.0
N_SALIENCY_SAMPLES = 1984
GRADIENT_METHODS = ("VanillaGrad", "SmoothGrad 10", "SmoothGrad 50", "SmoothGrad 100", "DeepLift zero", "DeepLift blur")


def table3_cell(method: str, norm: str) -> float | None:
    """The paper's Table 3 value for ``method`` and normalisation ``norm`` (None: not in the table,
    e.g. SmoothGrad 50, which the text quotes only as a best median)."""
    if method not in TABLE3.index or norm not in TABLE3.columns:
        return None
    return float(TABLE3.loc[method, norm])


def paper_best() -> pd.Series:
    """The paper's best median per method (SmoothGrad 50 from the text)."""
    best = TABLE3.max(axis=1)
    best["SmoothGrad 50"] = SMOOTHGRAD50_MEDIAN
    return best


def audit() -> list[Check]:
    """Every number of the paper that its other numbers let us recompute."""
    t1 = PAPER_TABLE1.set_index("class")
    total = int(t1["n"].sum())
    share = 100 * t1["n"] / total
    pct = share.round(1)
    truncated = (share * 10).apply(int) / 10
    best = TABLE3.max(axis=1).sort_values(ascending=False)
    surplus = IMAGE_WIDTH - N_PATCHES * PATCH
    return [
        Check("Crop: 6 patches of 256 px from 1600 px, 34 px off each side", f"{PAPER_CROP} px each side",
              f"1600 - 6 x 256 = {surplus}, so {surplus // 2} px each side ({2 * PAPER_CROP} would leave 1532 px)",
              False, f"{surplus // 2} px each side"),
        Check("Table 1: total patches", "about 35k", str(total), 34_000 <= total <= 36_000),
        Check("Table 1: percentages from counts", ", ".join(f"{v:.1f}" for v in t1["percent"]),
              "rounded: " + ", ".join(f"{v:.1f}" for v in pct) + "; truncated: " + ", ".join(f"{v:.1f}" for v in truncated),
              bool((truncated - t1["percent"]).abs().max() < 0.01),
              "the paper truncates to one decimal (54.06% -> 54.0)"),
        Check("Table 1: patches from images with defects", "12.6k images, 'roughly half' with defects",
              f"6,666 x 6 = 39,996 patches before dropping background; Table 1 has {total}", True,
              "the patch set is cut from the images with defects only"),
        Check("SmoothGrad 10 - VanillaGrad", "+0.097 (text)",
              f"{TABLE3.loc['SmoothGrad 10'].max() - TABLE3.loc['VanillaGrad'].max():.4f} (best of each, Table 3)",
              abs(TABLE3.loc["SmoothGrad 10"].max() - TABLE3.loc["VanillaGrad"].max() - 0.097) < 0.0005),
        Check("SmoothGrad 100 median", "0.8063 (text)", f"{TABLE3.loc['SmoothGrad 100'].max():.4f} (Table 3)",
              abs(TABLE3.loc["SmoothGrad 100"].max() - 0.8063) < 1e-9),
        Check("'DeepLift-zero reached the highest median score'", "highest (text)",
              f"rank {list(best.index).index('DeepLift zero') + 1} of {len(best)} in Table 3 "
              f"({best['DeepLift zero']:.4f} vs GradCAM++ {best['GradCAM++']:.4f})", False,
              "Table 3; the book tests both the text's claim and the table's ranking"),
        Check("'We report the lowest score for VanillaGrad'", "lowest (text)",
              f"DeepLift blur is lower ({best['DeepLift blur']:.4f} vs {best['VanillaGrad']:.4f})", False,
              "Table 3: VanillaGrad is lowest among the methods other than DeepLift blur"),
        Check("'DeepLift, GradCAM and GradCAM++ outperform the alternatives'", "top three (abstract, conclusion)",
              f"top three of Table 3: {', '.join(best.index[:3])}", False, "Table 3"),
        Check("Capping at the maximum beats the 99th percentile, all methods", "yes (text)",
              "every method's best -100 >= its best -99 in Table 3: "
              + ("yes" if all(TABLE3.loc[m, NORMS[:3]].max() >= TABLE3.loc[m, NORMS[3:]].max() for m in TABLE3.index) else "no"),
              all(TABLE3.loc[m, NORMS[:3]].max() >= TABLE3.loc[m, NORMS[3:]].max() for m in TABLE3.index)),
        Check("'ReLU slightly better than absolute values'", "yes (text)",
              "ReLU-100 >= Abs-100 for " + ", ".join(m for m in TABLE3.index
                                                      if TABLE3.loc[m, "ReLU-100"] >= TABLE3.loc[m, "Abs-100"])
              + "; not for SmoothGrad 10 (0.775 < 0.7752)", False, "a tie within noise"),
    ]
