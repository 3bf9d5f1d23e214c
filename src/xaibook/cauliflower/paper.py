"""What Kierdorf & Roscher 2023 report, and the audit of those numbers against each other (chapter 02)."""
from __future__ import annotations

from fractions import Fraction

from ..book.audit import Check

CITATION = ("Kierdorf J, Roscher R (2023). Reliability scores from saliency map clusters for improved "
            "image-based harvest-readiness prediction in cauliflower. arXiv:2305.15149")

SPLIT_SIZES = {"train": 541, "val": 196, "test": 194}
AUGMENTED = {"not_ready": 2432, "ready": 3792}          # Sect. 2.2, training set after augmentation
# Sect. 3.2 and 3.5: (overall accuracy, average class accuracy) in %, before and after adjustment
ACCURACY = {("val", "before"): (76.32, 77.21), ("test", "before"): (72.41, 73.08),
            ("val", "after"): (90.31, 90.60), ("test", "after"): (88.14, 88.52)}
# Sect. 3.5 and the abstract: the gains, in percentage points
GAIN = {"val": (13.99, 13.39), "test": (15.73, 15.44)}
ABSTRACT_TEST_GAIN = 15.72
# Sect. 3.4 (Grad-CAM clusters): share of wrong predictions in the worst validation cluster, share of
# all validation errors in it, share of test errors assigned to it; OSM clusters' error shares
GRADCAM_WORST_CLUSTER_WRONG = 0.95
GRADCAM_WORST_CLUSTER_ERROR_SHARE = 0.70
GRADCAM_TEST_ERROR_SHARE = 0.80
OSM_CLUSTER_WRONG_RANGE = (0.10, 0.30)
PCA_DIM, KERNEL_SCALE, Q, K, T = 50, 0.2, 8, 5, 0.75
OCCLUSION_PATCH, OCCLUSION_STRIDE = 11, 2


def _achievable(percent: float, n: int) -> tuple[bool, str]:
    """Whether some count c of n gives ``percent`` to two decimals, and the nearest counts."""
    c = round(percent * n / 100)
    hits = [k for k in (c - 1, c, c + 1) if 0 <= k <= n and round(100 * k / n, 2) == round(percent, 2)]
    near = ", ".join(f"{k}/{n} = {100 * k / n:.2f}" for k in (c - 1, c, c + 1) if 0 <= k <= n)
    return bool(hits), near


def denominators(percent: float, limit: int = 250) -> list[int]:
    """Set sizes up to ``limit`` for which some count gives ``percent`` (rounded to two decimals)."""
    return [n for n in range(1, limit + 1) if _achievable(percent, n)[0]]


def audit() -> list[Check]:
    """Every number of the paper that its other numbers let us recompute."""
    checks = []
    for (split, when), (acc, avg) in ACCURACY.items():
        n = SPLIT_SIZES[split]
        ok, near = _achievable(acc, n)
        fits = [d for d in denominators(acc) if d > 100][:4]
        checks.append(Check(f"{split} overall accuracy {when} adjustment as a count of {n} images", f"{acc:.2f}%",
                            near if ok else f"no count of {n} gives it ({near}); set sizes that do: "
                            f"{', '.join(map(str, fits))}", ok,
                            "" if ok else f"the accuracy {when} adjustment was computed on a set of another size"))
    for split, (g_acc, g_avg) in GAIN.items():
        before, after = ACCURACY[(split, "before")], ACCURACY[(split, "after")]
        d = (round(after[0] - before[0], 2), round(after[1] - before[1], 2))
        checks.append(Check(f"{split} gains are after - before, in points", f"{g_acc} / {g_avg}",
                            f"{d[0]:.2f} / {d[1]:.2f}", d == (g_acc, g_avg),
                            "gains in percentage points, not percent (relative gain "
                            f"{100 * (after[0] / before[0] - 1):.1f}%)"))
    checks.append(Check("Abstract vs Sect. 3.5: test gain in overall accuracy", f"{ABSTRACT_TEST_GAIN} (abstract)",
                        f"{GAIN['test'][0]} (Sect. 1 and 3.5), {ACCURACY[('test', 'after')][0] - ACCURACY[('test', 'before')][0]:.2f} "
                        "from the accuracies", ABSTRACT_TEST_GAIN == GAIN["test"][0], "15.73"))
    n_val_err = (1 - ACCURACY[("val", "before")][0] / 100) * SPLIT_SIZES["val"]
    net = GAIN["val"][0] / 100 * SPLIT_SIZES["val"]
    in_worst = GRADCAM_WORST_CLUSTER_ERROR_SHARE * n_val_err
    flipped_gain = in_worst * (1 - (1 - GRADCAM_WORST_CLUSTER_WRONG) / GRADCAM_WORST_CLUSTER_WRONG)
    checks.append(Check("Validation gain from flipping the worst Grad-CAM cluster alone",
                        f"+{GAIN['val'][0]} points = {net:.1f} images net",
                        f"{n_val_err:.0f} errors; over 70% of them ({in_worst:.0f}) in a cluster ~95% wrong: "
                        f"flipping it corrects them and breaks ~{in_worst * 0.05 / 0.95:.1f}, net ~{flipped_gain:.0f}",
                        abs(flipped_gain - net) < 0.2 * net,
                        "one flipped cluster, as the paper implies (t = 75% and only one cluster above 30%)"))
    r = Fraction(AUGMENTED["ready"], AUGMENTED["not_ready"])
    ready_share = 1 / (1 + 1 / (1.5 * float(r)))   # n_not_ready / n_ready = (2432 / 1.5) / 3792
    checks.append(Check("Ready share of the 541 training images, from the augmented counts",
                        f"{AUGMENTED['not_ready']} not ready + {AUGMENTED['ready']} ready = "
                        f"{sum(AUGMENTED.values())} after augmentation (not ready 1.5x as often)",
                        f"{100 * ready_share:.0f}% ready (~{ready_share * 541:.0f} of 541), about "
                        f"{sum(AUGMENTED.values()) / 541:.1f} views per image", True,
                        "the stand-in has 60% ready: its labels come from simulated harvest dates"))
    return checks
