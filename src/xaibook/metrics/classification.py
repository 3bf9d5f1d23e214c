"""Classification metrics with the averaging spelled out (chapter 01_foam, Table 3)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

AVERAGES = ("binary", "macro", "weighted", "micro")


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts C[i, j] of true class i predicted as j, shape (K, K).

    Labels must be whole numbers in [0, n_classes): numpy would count a label of -1 as the last
    class (negative indexing), so any label outside the range is refused, naming the argument.
    """
    if int(n_classes) != n_classes or n_classes < 1:
        raise ValueError(f"n_classes must be a whole number of at least 1, got {n_classes!r}")
    n_classes = int(n_classes)
    labels = {}
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        raw = np.asarray(y)
        whole = raw.dtype == bool or np.issubdtype(raw.dtype, np.integer) or (
            np.issubdtype(raw.dtype, np.floating) and np.isfinite(raw).all() and (raw == np.round(raw)).all())
        if raw.size and not whole:
            raise ValueError(f"{name} must hold whole-number class labels, got {raw.dtype} values such as "
                             f"{raw.ravel()[:5].tolist()}")
        labels[name] = raw.astype(int)
        bad = (labels[name] < 0) | (labels[name] >= n_classes)
        if bad.any():
            outside = sorted(set(labels[name][bad].tolist()))[:5]
            raise ValueError(f"{name} holds labels outside [0, {n_classes}): {outside}; labels are class indices "
                             f"0..{n_classes - 1} (a negative label is not the last class)")
    y_true, y_pred = labels["y_true"], labels["y_pred"]
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} differ in shape")
    out = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(out, (y_true, y_pred), 1)
    return out


def row_normalise(cm: np.ndarray) -> np.ndarray:
    """Each row divided by its total (Fig. 3 of Austerjost et al.); empty rows stay zero. Counts must be
    finite and non-negative (a NaN would otherwise vanish into a zero row)."""
    cm = np.asarray(cm, dtype=float)
    if not np.isfinite(cm).all() or (cm < 0).any():
        raise ValueError(f"a confusion matrix holds finite non-negative counts; got {cm.tolist()}")
    totals = cm.sum(1, keepdims=True)
    return np.divide(cm, totals, out=np.zeros(cm.shape, float), where=totals > 0)


@dataclass(frozen=True)
class PRF:
    precision: float
    recall: float
    f1: float

    def as_percent(self) -> "PRF":
        return PRF(100 * self.precision, 100 * self.recall, 100 * self.f1)


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b > 0)


def prf_from_confusion(cm: np.ndarray, average: str, positive: int = 1) -> PRF:
    r"""Precision, recall and F1 from a confusion matrix.

    ``binary``: of class ``positive``. ``macro``: unweighted mean of the per-class values (F1 is
    the mean of per-class F1, not the harmonic mean of mean precision and mean recall).
    ``weighted``: per-class values weighted by support. ``micro``: pooled counts (P = R = F1 =
    accuracy for single-label data). :math:`F_1 = 2PR/(P+R)`; Eq. 3 of Austerjost et al. drops
    the factor 2, their Table 3 does not.

    Raises:
        ValueError: ``average`` is unknown, ``cm`` is not a square matrix of finite non-negative
            counts, or it holds no samples at all (every average is then undefined: the weighted
            one would divide by a support of zero and return NaN).
    """
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {AVERAGES}, got {average!r}")
    cm = np.asarray(cm, float)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or not np.isfinite(cm).all() or (cm < 0).any():
        raise ValueError(f"cm must be a square (K, K) matrix of finite non-negative counts, got shape {cm.shape}")
    if cm.sum() == 0:
        raise ValueError(f"the confusion matrix holds no samples (all {cm.size} counts are 0): precision, recall "
                         f"and F1 are undefined; check that y_true and y_pred are not empty")
    tp = np.diag(cm)
    pred = cm.sum(0)
    true = cm.sum(1)
    if average == "micro":
        acc = float(tp.sum() / cm.sum())
        return PRF(acc, acc, acc)
    p = _safe_div(tp, pred)
    r = _safe_div(tp, true)
    f = _safe_div(2 * p * r, p + r)
    if average == "binary":
        return PRF(float(p[positive]), float(r[positive]), float(f[positive]))
    w = np.full(len(tp), 1 / len(tp)) if average == "macro" else true / true.sum()
    return PRF(float(w @ p), float(w @ r), float(w @ f))
