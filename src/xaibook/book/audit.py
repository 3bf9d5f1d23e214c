"""Consistency audit: recompute what a paper's own numbers imply and list what does not add up."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np



@dataclass(frozen=True)
class Check:
    """One recomputation: what the paper reports, what its other numbers imply, and the book's choice."""

    item: str
    reported: str
    recomputed: str
    consistent: bool
    book_assumes: str = ""


def audit_frame(checks: list[Check]):
    import pandas as pd

    return pd.DataFrame({
        "item": [c.item for c in checks], "reported": [c.reported for c in checks],
        "recomputed": [c.recomputed for c in checks],
        "consistent": ["yes" if c.consistent else "NO" for c in checks],
        "the book assumes": [c.book_assumes for c in checks],
    }).set_index("item")


def f1_from(precision: float, recall: float) -> float:
    """Harmonic mean 2PR/(P+R)."""
    return 2 * precision * recall / (precision + recall)


def matching_binary_confusions(precision: float, recall: float, f1: float, n_negative: int, n_positive: int,
                               tol: float) -> list[tuple[str, int, int, int]]:
    """Every 2x2 confusion matrix with the given class sizes whose P, R, F1 (%) match within ``tol``.

    Searched over all (TN, TP) and the averagings binary (either class positive), macro and
    weighted. Returns (average, positive class, TN, TP) tuples.
    """
    tn, tp = np.meshgrid(np.arange(n_negative + 1), np.arange(n_positive + 1), indexing="ij")
    fp, fn = n_negative - tn, n_positive - tp

    def prf(t, f_p, f_n):
        p = np.divide(t, t + f_p, out=np.zeros(t.shape), where=(t + f_p) > 0)
        r = np.divide(t, t + f_n, out=np.zeros(t.shape), where=(t + f_n) > 0)
        f = np.divide(2 * p * r, p + r, out=np.zeros(t.shape), where=(p + r) > 0)
        return 100 * p, 100 * r, 100 * f

    pos = prf(tp, fp, fn)              # foam (class 1) positive
    neg = prf(tn, fn, fp)              # no foam (class 0) positive
    w0, w1 = n_negative / (n_negative + n_positive), n_positive / (n_negative + n_positive)
    candidates = {("binary", 1): pos, ("binary", 0): neg,
                  ("macro", 1): tuple((a + b) / 2 for a, b in zip(pos, neg)),
                  ("weighted", 1): tuple(w1 * a + w0 * b for a, b in zip(pos, neg))}
    hits = []
    for (avg, positive), (p, r, f) in candidates.items():
        ok = (np.abs(p - precision) <= tol + 1e-9) & (np.abs(r - recall) <= tol + 1e-9) & (np.abs(f - f1) <= tol + 1e-9)
        hits += [(avg, positive, int(a), int(b)) for a, b in zip(tn[ok], tp[ok])]
    return hits
