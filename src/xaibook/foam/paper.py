"""What Austerjost et al. 2021 report, and the audit of those numbers against each other."""
from __future__ import annotations

import pandas as pd

from ..book.audit import Check, f1_from, matching_binary_confusions

CITATION = ("Austerjost J, Söldner R, Edlund C, Trygg J, Pollard D, Sjögren R (2021). A machine vision "
            "approach for bioreactor foam sensing. SLAS Technology 26(4):408-414. doi:10.1177/24726303211008861")

# Table 2: images per class, whole data set / action camera / smartphone
TABLE2 = pd.DataFrame({"whole data set": [982, 2183, 1542, 428], "action_camera": [17, 142, 124, 61],
                       "smartphone": [965, 2041, 1418, 367]},
                      index=["no foam", "low foam", "medium foam", "high foam"])
# Table 3: precision, recall, F1 (%)
TABLE3 = {"binary": (97.95, 96.95, 97.45), "fine": (76.35, 78.68, 75.58)}
BINARY_TEST = {"no foam": 195, "foam": 477, "total": 672}
FINE_TEST = {"no": 98, "low": 218, "medium": 154, "high": 386, "total": 512}


def audit() -> list[Check]:
    """Every number of the paper that its other numbers let us recompute."""
    t2 = TABLE2
    checks = [
        Check("Table 2: whole = action + smartphone, per class",
              ", ".join(map(str, t2["whole data set"])),
              ", ".join(map(str, t2["action_camera"] + t2["smartphone"])),
              bool((t2["whole data set"] == t2["action_camera"] + t2["smartphone"]).all())),
        Check("Table 2: totals 5135 / 344 / 4791", "5135, 344, 4791",
              ", ".join(str(int(v)) for v in t2.sum(axis=0)), list(t2.sum(axis=0)) == [5135, 344, 4791]),
        Check("Binary test set: 477 foam + 195 no foam", "672", str(477 + 195), 477 + 195 == 672),
    ]
    fine_sum = sum(v for k, v in FINE_TEST.items() if k != "total")
    checks += [
        Check("Fine-grained test set: 98 + 218 + 154 + 386", "512", str(fine_sum), fine_sum == 512,
              "the stated class proportions (98:218:154:386, enriched in high foam); 512 - 470 = 42 "
              "would make the sum right but would not be enriched"),
        Check("High-foam images left for training the fine-grained model", "428 in all (Table 2)",
              f"428 - 386 = {428 - 386}", False,
              "a test set that uses half of the high-foam images"),
    ]
    p, r, f = TABLE3["binary"]
    checks.append(Check("Eq. 3: F1 = PR/(P+R)", "F1 = 97.45 (Table 3, binary)",
                        f"PR/(P+R) = {p * r / (p + r):.2f}; 2PR/(P+R) = {f1_from(p, r):.2f}", False,
                        "F1 = 2PR/(P+R): Eq. 3 lacks the factor 2, Table 3 uses it"))
    exact = matching_binary_confusions(p, r, f, 195, 477, tol=0.005)
    near = matching_binary_confusions(p, r, f, 195, 477, tol=0.05)
    near_txt = "; ".join(f"{a} (positive={'foam' if pos else 'no foam'}) TN={tn} TP={tp}" for a, pos, tn, tp in near)
    checks.append(Check("Binary P/R/F1 from integer counts (195 no foam, 477 foam)", "97.95 / 96.95 / 97.45",
                        f"no confusion matrix matches to 0.005 under binary/macro/weighted averaging; "
                        f"within 0.05: {near_txt or 'none'}", bool(exact),
                        "binary averaging with foam as the positive class (the paper's wording)"))
    pf, rf, ff = TABLE3["fine"]
    checks.append(Check("Fine-grained F1 vs harmonic mean of its P and R", f"{ff}",
                        f"2PR/(P+R) = {f1_from(pf, rf):.2f}", abs(f1_from(pf, rf) - ff) < 0.01,
                        "macro averaging (mean of per-class F1); micro is excluded since P != R"))
    checks += [
        Check("Class weight 0.4 = ratio of no-foam to foam images", "0.4",
              f"Table 2: 982 / 4153 = {982 / 4153:.2f}; binary test set: 195 / 477 = {195 / 477:.2f}", False,
              "weight 0.4 on foam, as stated"),
        Check("Smartphone frames: 8 runs x 20-25 min at one frame per 3 s", "4791 (Table 2)",
              f"{8 * 20 * 20}-{8 * 25 * 20}", False, "the stand-in simulates 20-25 min runs"),
        Check("Binary test set = one smartphone video at one frame per 3 s", "672 frames",
              f"{672 * 3 / 60:.1f} min of video, above the stated 20-25 min", False, ""),
        Check("'A wrong prediction every 48 frames'", "48",
              f"1 / (1 - precision) = {1 / (1 - p / 100):.1f}; all errors of the nearest confusion "
              f"matrix (~25 of 672): one per ~{672 / 25:.0f} frames", False,
              "the book reports the error interval from all errors"),
        Check("Binary F1 in the conclusions", "98%", "97.45% (Table 3) rounds to 97%", False, "Table 3"),
    ]
    return checks
