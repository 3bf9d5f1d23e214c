r"""Reliability scores from clusters of saliency maps (Kierdorf & Roscher 2023, arXiv:2305.15149).

The framework (Sect. 2.1, Fig. 1) is model- and data-agnostic; every function here works on plain
arrays: saliency maps of any shape (N, \*S), binary labels (1 = positive class, "ready" in the
cauliflower chapter) and predictions.

1. **Embed** the vectorised validation maps with PCA (Sect. 2.5: 65 536 -> 50 dimensions).
2. **Cluster** the embedded validation maps with spectral clustering, Gaussian similarity on the
   Euclidean distance, kernel scale 0.2, q = 8 clusters (Sect. 2.5).
3. **Score** each cluster with :math:`r_q = (FP_q + FN_q)/n_q`, the share of wrong predictions in
   it (Sect. 2.6). As in the paper, a HIGHER :math:`r_q` means a LESS reliable prediction; a farmer
   is shown :math:`1 - r_q` (Sect. 2.1, step 4: a score between 0 and 1).
4. **Flip** the predictions of the clusters with :math:`r_q > t` (strictly; t = 0.75, Sect. 2.6).
5. **Apply** to test maps: project with the validation PCA, assign each test map the majority
   cluster of its k = 5 nearest validation maps (Sect. 2.5), flip the flagged clusters' predictions.

Spectral clustering, what MATLAB does and what we do
-----------------------------------------------------
The paper's wording ("kernel scale") is the name of a parameter of MATLAB's ``spectralcluster``. Its
source (``spectralcluster.m``, ``internal.stats.similarity``, ``internal.stats.spectraleigs``,
Copyright 2019 The MathWorks; copies are public on GitHub) and its documentation
(https://www.mathworks.com/help/stats/spectralcluster.html) say:

* similarity :math:`S_{ij} = \exp(-(d_{ij}/\sigma)^2)` with :math:`\sigma` = ``KernelScale``
  (default 1), NOT the :math:`\exp(-d^2/2\sigma^2)` of Ng, Jordan & Weiss 2002;
* the default similarity graph is a k-nearest-neighbour graph with
  ``NumNeighbors = max(ceil(log(n)), 1)`` (``knnsearch`` with K = NumNeighbors + 1, so each point
  counts itself, ties included), symmetrised as the union ("complete": ``S = max(S, S')``); self
  loops are dropped before the Laplacian is formed;
* the default Laplacian is the random-walk one :math:`D^{-1}(D - S)` (Shi & Malik 2000); the
  ``'symmetric'`` option is :math:`D^{-1/2}(D - S)D^{-1/2}` with the eigenvector rows normalised to
  unit length, i.e. Ng-Jordan-Weiss; the k eigenvectors of the smallest eigenvalues are clustered with
  ``kmeans`` (5 replicates);
* isolated vertices get a zero inverse degree (a pseudo-inverse), so an all-zero similarity matrix
  passes silently.

We implement that similarity graph (:func:`gaussian_affinity`, default ``graph="knn"`` with MATLAB's
neighbour count) and all three Laplacians (:func:`spectral_embedding`). The default Laplacian is
``"symmetric"``: the paper names Ng et al. [15] as the algorithm it uses; ``"randomwalk"`` gives
MATLAB's default (and scikit-learn's ``SpectralClustering``, which returns :math:`D^{-1/2}` times
the symmetric Laplacian's eigenvectors, i.e. random-walk eigenvectors, without row normalisation).

**The kernel scale, a documented deviation.** :math:`\sigma = 0.2` is only meaningful relative to
the distances it divides. Grad-CAM maps min-max normalised to [0, 1] at 256 x 256 lie tens of units
apart after PCA, where :math:`\exp(-(d/0.2)^2)` underflows to exactly 0 in float64 (for
:math:`d/\sigma > 27.3`); MATLAB would then cluster a zero matrix without complaint. The paper does
not say on what scale its maps were. We therefore divide all distances by a reference distance
before the kernel (``distance_scale``): ``"max"`` (default) divides by the largest pairwise distance,
so the data have unit diameter and :math:`\sigma = 0.2` is a fifth of it; every weight is then at
least :math:`e^{-25} \approx 1.4 \cdot 10^{-11}`, so nothing underflows. ``"median"`` divides by the
median pairwise distance; ``"none"`` is the literal reading (raw PCA distances); a number divides by
that number. If any point ends up with no neighbour of non-zero similarity we RAISE a ValueError that
says so and what to change (no silent fallback).

Measures of how well clusters separate right from wrong (:func:`error_separation`)
-----------------------------------------------------------------------------------
* ``information``: :math:`I(C; W)/H(W)`, the share of the entropy of the binary "prediction is
  wrong" flag W that the cluster id C explains (Theil's uncertainty coefficient). 1 when every
  cluster is all right or all wrong, 0 when the error rate is the same in every cluster. Unlike the
  symmetric normalised mutual information it is not pulled below 1 by the number of clusters.
* ``recoverable``: :math:`\sum_q \max(0, \mathrm{wrong}_q - \mathrm{right}_q) / \sum_q
  \mathrm{wrong}_q`, the share of all errors that the best possible cluster flip (t = 0.5, chosen on
  the same data) would remove net; ``oracle_gain_pp`` is the same gain as accuracy percentage points.

Used in chapter 02_cauliflower.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import linalg
from scipy.spatial.distance import cdist
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA

from ..metrics.classification import confusion

DISTANCE_SCALES = ("max", "median", "none")
GRAPHS = ("knn", "full")
KNN_TYPES = ("complete", "mutual")
LAPLACIANS = ("symmetric", "randomwalk", "none")
TIES = ("nearest", "smallest")
TABLE_COLUMNS = ["n", "TP", "TN", "FP", "FN", "wrong", "r_q", "error_share"]
#: k-means restarts of the spectral clustering. The paper does not say; scikit-learn's default is 10. On
#: chapter 02's embedded maps of one fixed classifier, the best of 10 restarts was a different partition for
#: different seeds (occlusion's cluster information 0.066 to 0.097 over 20 runs). With the best of 100, every
#: seed gives the same Grad-CAM partition on one CPU kernel path, and occlusion's information stays within
#: 0.092 to 0.095. Two kernel paths still split Grad-CAM's maps differently (worst cluster 50.0 against 54.5%
#: errors): the maps differ in their last bits, and the k-nearest-neighbour graph is not continuous in them.
KMEANS_RESTARTS = 100


# --- checks -------------------------------------------------------------------------------------

def _flat(maps, what: str) -> np.ndarray:
    x = np.asarray(maps, dtype=np.float64)
    if x.ndim < 2:
        raise ValueError(f"{what} must be (N, *S) maps, got shape {x.shape}")
    x = x.reshape(x.shape[0], -1)
    if not np.isfinite(x).all():
        raise ValueError(f"{what} contain NaN or inf; clean or drop those maps first")
    return x


def _binary(y, what: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{what} must be a 1-D array of 0/1 labels, got shape {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"{what} must contain only 0 and 1 (1 = positive class), got {np.unique(y)}")
    return y.astype(np.int64)


def _labels(clusters, q: int, what: str = "clusters") -> np.ndarray:
    c = np.asarray(clusters)
    if c.ndim != 1 or not np.issubdtype(c.dtype, np.integer):
        raise ValueError(f"{what} must be a 1-D integer array, got dtype {c.dtype} and shape {c.shape}")
    if c.size and (c.min() < 0 or c.max() >= q):
        raise ValueError(f"{what} must lie in 0..{q - 1} (q = {q}), got {c.min()}..{c.max()}")
    return c.astype(np.int64)


def _same_length(**arrays: np.ndarray) -> None:
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"arrays differ in length: {lengths}")


# --- 1. embedding -------------------------------------------------------------------------------

def fit_embedding(maps, n_components: int = 50, seed: int = 0) -> PCA:
    """PCA of vectorised maps (Kierdorf & Roscher 2023, Sect. 2.5: 65 536 -> 50 dimensions).

    Fitted on the validation maps; :func:`transform` projects test maps with the same PCA. The full
    SVD is used, so the result is exact and components are nested (the first d of a 50-dimensional
    fit equal a d-dimensional fit), which :func:`sweep` relies on.

    Args:
        maps: (N, *S) saliency maps.
        n_components: at most min(N, prod(S)).
    Returns:
        the fitted ``sklearn.decomposition.PCA``. Used in chapter 02_cauliflower.
    """
    x = _flat(maps, "maps")
    if not 1 <= n_components <= min(x.shape):
        raise ValueError(f"n_components must be in 1..{min(x.shape)} (min of {x.shape[0]} maps and "
                         f"{x.shape[1]} pixels), got {n_components}")
    return PCA(n_components=n_components, svd_solver="full", random_state=seed).fit(x)


def transform(pca: PCA, maps) -> np.ndarray:
    """Project (N, *S) maps with a fitted PCA: (N, n_components)."""
    x = _flat(maps, "maps")
    if x.shape[1] != pca.n_features_in_:
        raise ValueError(f"maps have {x.shape[1]} pixels but the PCA was fitted on {pca.n_features_in_}; "
                         f"resize them to the validation maps' shape")
    return pca.transform(x)


def embed(maps, n_components: int = 50, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """PCA embedding of maps (Sect. 2.5) and the explained variance ratio of each component.

    Returns:
        Z (N, n_components) and explained_variance_ratio (n_components,). Use :func:`fit_embedding`
        and :func:`transform` to project test maps with the validation PCA.
    """
    pca = fit_embedding(maps, n_components, seed)
    return transform(pca, maps), pca.explained_variance_ratio_.copy()


# --- 2. spectral clustering ----------------------------------------------------------------------

def reference_distance(distances: np.ndarray, distance_scale: str | float) -> float:
    """The distance the kernel's distances are divided by (module docstring): max, median or given."""
    if isinstance(distance_scale, str):
        if distance_scale not in DISTANCE_SCALES:
            raise ValueError(f"distance_scale must be one of {DISTANCE_SCALES} or a positive number, "
                             f"got {distance_scale!r}")
        if distance_scale == "none":
            return 1.0
        off = distances[~np.eye(len(distances), dtype=bool)]
        ref = float(off.max() if distance_scale == "max" else np.median(off))
        if ref <= 0:
            raise ValueError(f"the {distance_scale} pairwise distance is 0 (identical points); cannot scale "
                             f"the kernel relative to it")
        return ref
    if not distance_scale > 0:
        raise ValueError(f"distance_scale must be positive, got {distance_scale}")
    return float(distance_scale)


def gaussian_affinity(Z, kernel_scale: float = 0.2, *, distance_scale: str | float = "max",
                      graph: str = "knn", n_neighbors: int | None = None,
                      knn_type: str = "complete") -> np.ndarray:
    r"""Gaussian similarity graph as MATLAB's ``spectralcluster`` builds it (Sect. 2.5; module docstring).

    :math:`W_{ij} = \exp(-(d_{ij} / (s\,\sigma))^2)` with Euclidean :math:`d`, :math:`\sigma` =
    ``kernel_scale`` and :math:`s` the reference distance of ``distance_scale``. ``graph="knn"`` keeps
    an edge where j is among the ``n_neighbors`` nearest of i (default MATLAB's
    :math:`\max(\lceil \log n \rceil, 1)`; ties at the last distance included) or vice versa
    (``knn_type="complete"``; ``"mutual"``: and); ``graph="full"`` keeps all pairs (Ng et al. 2002).

    Args:
        Z: (N, d) embedded maps.
    Returns:
        (N, N) symmetric affinity with zero diagonal.
    Raises:
        ValueError: if some point has no neighbour of non-zero similarity (the kernel underflowed).
    """
    Z = np.asarray(Z, dtype=np.float64)
    if Z.ndim != 2 or len(Z) < 2:
        raise ValueError(f"Z must be (N, d) with N >= 2, got shape {Z.shape}")
    if not kernel_scale > 0:
        raise ValueError(f"kernel_scale must be positive, got {kernel_scale}")
    if graph not in GRAPHS:
        raise ValueError(f"graph must be one of {GRAPHS}, got {graph!r}")
    if knn_type not in KNN_TYPES:
        raise ValueError(f"knn_type must be one of {KNN_TYPES}, got {knn_type!r}")
    n = len(Z)
    d = cdist(Z, Z)
    scaled = d / reference_distance(d, distance_scale)
    W = np.exp(-(scaled / kernel_scale) ** 2)
    if graph == "knn":
        k = max(math.ceil(math.log(n)), 1) if n_neighbors is None else n_neighbors
        if not 1 <= k <= n - 1:
            raise ValueError(f"n_neighbors must be in 1..{n - 1}, got {k}")
        # MATLAB: knnsearch with K = k + 1 (the point itself included) and IncludeTies
        kth = np.sort(d, axis=1)[:, k]
        keep = d <= kth[:, None]
        keep = keep | keep.T if knn_type == "complete" else keep & keep.T
        W = np.where(keep, W, 0.0)
    np.fill_diagonal(W, 0.0)
    isolated = W.sum(1) == 0
    if isolated.any():
        nearest = np.sort(scaled + np.diag(np.full(n, np.inf)), axis=1)[:, 0]
        raise ValueError(
            f"{int(isolated.sum())} of {n} points have no neighbour with non-zero similarity: "
            f"exp(-(d/{kernel_scale})^2) underflows (smallest nearest-neighbour distance after "
            f"distance_scale={distance_scale!r}: {nearest.min():.3g}; exp underflows beyond d/kernel_scale "
            f"~ 27). Use distance_scale='max' or 'median', or a larger kernel_scale.")
    return W


def spectral_embedding(affinity, n_components: int, laplacian: str = "symmetric") -> tuple[np.ndarray, np.ndarray]:
    r"""Eigenvectors of the graph Laplacian's ``n_components`` smallest eigenvalues (Ng et al. 2002).

    ``"symmetric"`` (Ng-Jordan-Weiss, MATLAB ``'symmetric'``): eigenvectors of
    :math:`L_{sym} = I - D^{-1/2} W D^{-1/2}`, rows normalised to unit length. ``"randomwalk"``
    (Shi-Malik, MATLAB's default): eigenvectors of :math:`L_{rw} = I - D^{-1}W`, computed as
    :math:`D^{-1/2}` times those of :math:`L_{sym}` and scaled to unit column norm (as MATLAB's
    ``eigs`` returns them). ``"none"``: :math:`L = D - W`. Eigenvector signs are fixed so that each
    column's largest-magnitude entry is positive (as scikit-learn), for reproducibility.

    Args:
        affinity: (N, N) symmetric non-negative similarities; the diagonal is ignored.
    Returns:
        U (N, n_components) and the eigenvalues (n_components,), ascending.
    """
    if laplacian not in LAPLACIANS:
        raise ValueError(f"laplacian must be one of {LAPLACIANS}, got {laplacian!r}")
    W = np.array(affinity, dtype=np.float64)
    n = len(W)
    if W.ndim != 2 or W.shape != (n, n) or not np.allclose(W, W.T) or (W < 0).any():
        raise ValueError("affinity must be a square, symmetric, non-negative matrix")
    if not 1 <= n_components <= n:
        raise ValueError(f"n_components must be in 1..{n}, got {n_components}")
    np.fill_diagonal(W, 0.0)
    deg = W.sum(1)
    if (deg <= 0).any():
        raise ValueError(f"{int((deg <= 0).sum())} isolated node(s) in the affinity graph; the normalised "
                         f"Laplacian is undefined (see gaussian_affinity on kernel scales)")
    if laplacian == "none":
        vals, U = linalg.eigh(np.diag(deg) - W, subset_by_index=[0, n_components - 1])
    else:
        r = 1 / np.sqrt(deg)
        M = r[:, None] * W * r[None, :]
        M = (M + M.T) / 2
        top, V = linalg.eigh(M, subset_by_index=[n - n_components, n - 1])
        vals, U = 1 - top[::-1], V[:, ::-1]
        if laplacian == "symmetric":
            norms = np.linalg.norm(U, axis=1, keepdims=True)
            U = np.divide(U, norms, out=np.zeros_like(U), where=norms > 0)
        else:
            U = r[:, None] * U
            U = U / np.linalg.norm(U, axis=0, keepdims=True)
    sign = np.sign(U[np.abs(U).argmax(0), np.arange(U.shape[1])])
    return U * np.where(sign == 0, 1, sign), vals


def relabel_by_size(labels: np.ndarray, q: int) -> np.ndarray:
    """Rename cluster ids 0..q-1 by decreasing size, ties by the smallest member index (deterministic)."""
    counts = np.bincount(labels, minlength=q)
    first = np.array([np.flatnonzero(labels == c)[0] if counts[c] else len(labels) for c in range(q)])
    order = np.lexsort((first, -counts))
    new = np.empty(q, dtype=np.int64)
    new[order] = np.arange(q)
    return new[labels]


def cluster_affinity(affinity, q: int = 8, *, laplacian: str = "symmetric", seed: int = 0,
                     n_init: int = KMEANS_RESTARTS) -> np.ndarray:
    """Spectral clustering of a precomputed affinity: k-means (``n_init`` restarts) on :func:`spectral_embedding`.

    Returns:
        (N,) cluster ids 0..q-1, numbered by decreasing cluster size.
    """
    if q < 1:
        raise ValueError(f"q must be at least 1, got {q}")
    U, _ = spectral_embedding(affinity, q, laplacian)
    labels = KMeans(n_clusters=q, n_init=n_init, random_state=seed).fit_predict(U)
    return relabel_by_size(labels, q)


def spectral_clusters(Z, q: int = 8, kernel_scale: float = 0.2, *, seed: int = 0,
                      distance_scale: str | float = "max", graph: str = "knn", n_neighbors: int | None = None,
                      knn_type: str = "complete", laplacian: str = "symmetric",
                      n_init: int = KMEANS_RESTARTS) -> np.ndarray:
    r"""Spectral clustering of embedded maps (Kierdorf & Roscher 2023, Sect. 2.5; Ng et al. 2002).

    :func:`gaussian_affinity` (MATLAB's kNN similarity graph, kernel
    :math:`\exp(-(d/(s\sigma))^2)`, distances relative to ``distance_scale``), then
    :func:`spectral_embedding` and k-means. See the module docstring for the variant and the deviation.

    Args:
        Z: (N, d) embedded validation maps.
        q: number of clusters (the paper: 8).
        kernel_scale: :math:`\sigma` (the paper: 0.2).
    Returns:
        (N,) cluster ids 0..q-1, numbered by decreasing cluster size. Used in chapter 02_cauliflower.
    """
    W = gaussian_affinity(Z, kernel_scale, distance_scale=distance_scale, graph=graph, n_neighbors=n_neighbors,
                          knn_type=knn_type)
    return cluster_affinity(W, q, laplacian=laplacian, seed=seed, n_init=n_init)


# --- 3. test assignment --------------------------------------------------------------------------

def knn_vote(distances: np.ndarray, labels_val: np.ndarray, k: int, ties: str = "nearest") -> np.ndarray:
    """Majority cluster among the k nearest validation points, from an (M, N) distance matrix.

    Neighbours are ordered by distance, equal distances by validation index (stable sort).
    ``ties="nearest"``: among clusters tied for the most votes, the one holding the nearest of the k
    neighbours. ``ties="smallest"``: the smallest cluster id, as scikit-learn's
    ``KNeighborsClassifier`` (``scipy.stats.mode``) and MATLAB ``fitcknn``'s ``'smallest'`` option.
    """
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}, got {ties!r}")
    n = distances.shape[1]
    if not 1 <= k <= n:
        raise ValueError(f"k must be in 1..{n} (number of validation maps), got {k}")
    idx = np.argsort(distances, axis=1, kind="stable")[:, :k]
    votes = labels_val[idx]  # (M, k), nearest first
    out = np.empty(len(votes), dtype=np.int64)
    for i, row in enumerate(votes):
        ids, counts = np.unique(row, return_counts=True)
        tied = ids[counts == counts.max()]
        out[i] = tied.min() if ties == "smallest" else row[np.isin(row, tied)][0]
    return out


def assign_knn(Z_val, labels_val, Z_test, k: int = 5, *, ties: str = "nearest") -> np.ndarray:
    """Cluster id of each test map: majority vote of its k nearest validation maps (Sect. 2.5, k = 5).

    Euclidean distance in the PCA space of the validation maps; ties as :func:`knn_vote`.

    Args:
        Z_val: (N, d) embedded validation maps; labels_val: (N,) their clusters.
        Z_test: (M, d) test maps projected with the validation PCA.
    Returns:
        (M,) cluster ids. Used in chapter 02_cauliflower.
    """
    Z_val, Z_test = np.asarray(Z_val, np.float64), np.asarray(Z_test, np.float64)
    labels_val = np.asarray(labels_val, dtype=np.int64)
    if Z_val.ndim != 2 or Z_test.ndim != 2 or Z_val.shape[1] != Z_test.shape[1]:
        raise ValueError(f"Z_val {Z_val.shape} and Z_test {Z_test.shape} must be (N, d) and (M, d)")
    _same_length(Z_val=Z_val, labels_val=labels_val)
    return knn_vote(cdist(Z_test, Z_val), labels_val, k, ties)


# --- 4. reliability per cluster, adjustment, accuracies -------------------------------------------

def cluster_table(clusters, y_true, y_pred, q: int) -> pd.DataFrame:
    r"""Confusion counts and reliability score per cluster (Sect. 2.6, Figs. 3 and 5).

    Positive class = 1. :math:`r_q = (FP_q + FN_q)/n_q` (the paper's reliability score: HIGHER = LESS
    reliable; NaN for an empty cluster); ``error_share`` = the cluster's share of all wrong predictions
    (NaN when there are none).

    Returns:
        DataFrame indexed by cluster 0..q-1 with columns n, TP, TN, FP, FN, wrong, r_q, error_share.
        Used in chapter 02_cauliflower.
    """
    c = _labels(clusters, q)
    t, p = _binary(y_true, "y_true"), _binary(y_pred, "y_pred")
    _same_length(clusters=c, y_true=t, y_pred=p)

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(c[mask], minlength=q)

    table = pd.DataFrame({"TP": count((t == 1) & (p == 1)), "TN": count((t == 0) & (p == 0)),
                          "FP": count((t == 0) & (p == 1)), "FN": count((t == 1) & (p == 0))},
                         index=pd.RangeIndex(q, name="cluster"))
    table.insert(0, "n", table.sum(axis=1))
    table["wrong"] = table.FP + table.FN
    n = table.n.to_numpy(float)
    table["r_q"] = np.divide(table.wrong, n, out=np.full(q, np.nan), where=n > 0)
    total = table.wrong.sum()
    table["error_share"] = table.wrong / total if total else np.nan
    return table[TABLE_COLUMNS]


def clusters_to_flip(table: pd.DataFrame, t: float = 0.75) -> np.ndarray:
    """Clusters whose validation reliability score exceeds t STRICTLY (Sect. 2.6, t = 75 %); sorted ids."""
    if not 0 <= t <= 1:
        raise ValueError(f"t is a share in [0, 1] (the paper's 75 % is 0.75), got {t}")
    r = table["r_q"].to_numpy()
    return table.index.to_numpy()[np.nan_to_num(r, nan=-1.0) > t].astype(np.int64)


def adjust(y_pred, clusters, flip_clusters) -> np.ndarray:
    """Swap the binary prediction of every sample in a flagged cluster (Sect. 2.1 step 5, Sect. 2.6)."""
    p = _binary(y_pred, "y_pred")
    c = np.asarray(clusters, dtype=np.int64)
    _same_length(y_pred=p, clusters=c)
    return np.where(np.isin(c, np.asarray(flip_clusters, dtype=np.int64)), 1 - p, p)


@dataclass(frozen=True)
class Accuracy:
    """Overall accuracy and average class accuracy (mean recall over both classes), in percent."""

    overall: float
    average_class: float


def accuracies(y_true, y_pred) -> Accuracy:
    """Overall and average class accuracy in percent (Sect. 3.2 and 3.5).

    Average class accuracy = (recall of class 0 + recall of class 1) / 2; both classes must occur in
    ``y_true``.
    """
    t, p = _binary(y_true, "y_true"), _binary(y_pred, "y_pred")
    _same_length(y_true=t, y_pred=p)
    cm = confusion(t, p, 2)
    support = cm.sum(1)
    if (support == 0).any():
        raise ValueError(f"average class accuracy needs both classes in y_true; class counts {support.tolist()}")
    return Accuracy(100 * float(np.trace(cm) / cm.sum()), 100 * float(np.mean(np.diag(cm) / support)))


def reliability_per_image(clusters, table: pd.DataFrame, flipped=None) -> np.ndarray:
    r"""Reliability of each image's prediction as a farmer would see it (Sect. 2.1, step 4): :math:`1 - r_q`.

    With ``flipped`` (the flagged clusters) the score describes the ADJUSTED prediction: in a flipped
    cluster the swapped prediction is wrong where the original was right, so its share wrong is
    :math:`1 - r_q` and its reliability :math:`r_q`.

    Args:
        clusters: (N,) cluster ids of the images (validation clusters or kNN-assigned test clusters).
        table: :func:`cluster_table` of the VALIDATION set.
    Returns:
        (N,) scores in [0, 1].
    """
    q = len(table)
    c = _labels(clusters, q)
    r = table["r_q"].to_numpy(float)
    if np.isnan(r[np.unique(c)]).any():
        raise ValueError("an image was assigned to a cluster that is empty in the validation table")
    score = 1 - r[c]
    if flipped is not None:
        score = np.where(np.isin(c, np.asarray(flipped, dtype=np.int64)), r[c], score)
    return score


def prototypes(maps, clusters, q: int) -> np.ndarray:
    """Mean map per cluster, the paper's "prototype" (Sect. 2.1 step 3, Figs. 4 and 6): (q, *S), NaN if empty."""
    m = np.asarray(maps, dtype=np.float64)
    c = _labels(clusters, q)
    _same_length(maps=m, clusters=c)
    out = np.full((q, *m.shape[1:]), np.nan)
    for j in range(q):
        if (c == j).any():
            out[j] = m[c == j].mean(0)
    return out


# --- 5. how well do clusters separate right from wrong? -------------------------------------------

def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def error_separation(clusters, wrong) -> dict[str, float]:
    r"""How strongly clusters separate correct from wrong predictions (module docstring).

    Returns:
        ``information`` :math:`I(C;W)/H(W) \in [0, 1]`, ``recoverable`` (share of errors the best
        cluster flip removes net, in [0, 1]) and ``oracle_gain_pp`` (that flip's accuracy gain in
        percentage points). All NaN when there are no errors or no correct predictions (H(W) = 0).
    """
    c = np.asarray(clusters, dtype=np.int64)
    w = np.asarray(wrong).astype(bool)
    _same_length(clusters=c, wrong=w)
    n = len(c)
    if n == 0 or w.all() or not w.any():
        return {"information": math.nan, "recoverable": math.nan, "oracle_gain_pp": math.nan}
    ids = np.unique(c, return_inverse=True)[1]
    joint = np.zeros((ids.max() + 1, 2))
    np.add.at(joint, (ids, w.astype(int)), 1)
    pj = joint / n
    h_w = _entropy(pj.sum(0))
    mutual = h_w + _entropy(pj.sum(1)) - _entropy(pj.ravel())
    net = np.maximum(0, joint[:, 1] - joint[:, 0]).sum()
    return {"information": float(np.clip(mutual / h_w, 0, 1)), "recoverable": float(net / joint[:, 1].sum()),
            "oracle_gain_pp": float(100 * net / n)}


# --- convenience: the whole pipeline ------------------------------------------------------------

@dataclass(frozen=True)
class ReliabilityResult:
    """One set's clusters, adjusted predictions and reliability; table and accuracies when labels are known."""

    Z: np.ndarray
    clusters: np.ndarray
    pred: np.ndarray
    adjusted: np.ndarray
    reliability: np.ndarray
    reliability_adjusted: np.ndarray
    table: pd.DataFrame | None = None
    before: Accuracy | None = None
    after: Accuracy | None = None


@dataclass(frozen=True)
class ReliabilityModel:
    """Embedding, clusters and flip set learnt on validation maps (:func:`fit_reliability`)."""

    pca: PCA
    q: int
    t: float
    k: int
    table: pd.DataFrame
    flip: np.ndarray
    validation: ReliabilityResult
    ties: str = "nearest"
    settings: dict = field(default_factory=dict)

    def apply(self, maps, pred, y_true=None) -> ReliabilityResult:
        """Test step (Sect. 2.5-2.6): validation PCA -> kNN cluster -> flip flagged clusters -> reliability."""
        Z = transform(self.pca, maps)
        clusters = assign_knn(self.validation.Z, self.validation.clusters, Z, self.k, ties=self.ties)
        return _result(Z, clusters, pred, y_true, self.table, self.flip)


def _result(Z, clusters, pred, y_true, table, flip) -> ReliabilityResult:
    pred = _binary(pred, "pred")
    _same_length(maps=Z, pred=pred)
    adjusted = adjust(pred, clusters, flip)
    own = None if y_true is None else cluster_table(clusters, y_true, pred, len(table))
    return ReliabilityResult(
        Z=Z, clusters=clusters, pred=pred, adjusted=adjusted,
        reliability=reliability_per_image(clusters, table),
        reliability_adjusted=reliability_per_image(clusters, table, flip),
        table=own, before=None if y_true is None else accuracies(y_true, pred),
        after=None if y_true is None else accuracies(y_true, adjusted))


def fit_reliability(val_maps, y_val, pred_val, *, n_components: int = 50, q: int = 8, kernel_scale: float = 0.2,
                    t: float = 0.75, k: int = 5, seed: int = 0, ties: str = "nearest",
                    **cluster_options) -> ReliabilityModel:
    """Validation step of Kierdorf & Roscher 2023 (Sect. 2.5-2.6) with the paper's defaults.

    PCA (:func:`fit_embedding`) -> :func:`spectral_clusters` -> :func:`cluster_table` ->
    :func:`clusters_to_flip`. ``cluster_options`` go to :func:`spectral_clusters` (``distance_scale``,
    ``graph``, ``n_neighbors``, ``laplacian``, ...). Apply to test maps with
    :meth:`ReliabilityModel.apply`. Used in chapter 02_cauliflower.
    """
    pca = fit_embedding(val_maps, n_components, seed)
    Z = transform(pca, val_maps)
    clusters = spectral_clusters(Z, q, kernel_scale, seed=seed, **cluster_options)
    table = cluster_table(clusters, y_val, pred_val, q)
    flip = clusters_to_flip(table, t)
    return ReliabilityModel(pca=pca, q=q, t=t, k=k, table=table, flip=flip, ties=ties,
                            validation=_result(Z, clusters, pred_val, y_val, table, flip),
                            settings=dict(cluster_options, n_components=n_components, kernel_scale=kernel_scale,
                                          seed=seed))


def sweep(val_maps, y_val, pred_val, test_maps, y_test, pred_test, *,
          n_components: Sequence[int] = (10, 25, 50), q: Sequence[int] = (4, 6, 8, 10, 12),
          t: Sequence[float] = (0.5, 0.6, 0.75), k: Sequence[int] = (1, 5, 9), kernel_scale: float = 0.2,
          seed: int = 0, ties: str = "nearest", distance_scale: str | float = "max", graph: str = "knn",
          n_neighbors: int | None = None, knn_type: str = "complete", laplacian: str = "symmetric",
          n_init: int = KMEANS_RESTARTS) -> pd.DataFrame:
    """Accuracy gains of the adjustment over a grid of PCA dimension, q, t and k (robustness of Sect. 3.5).

    The PCA is fitted once at the largest dimension and truncated (the full-SVD components are
    nested); clustering runs once per (dimension, q), kNN once per (dimension, k).

    Returns:
        tidy DataFrame, one row per setting: n_components, q, t, k, n_flipped, flipped (ids as a
        string), val_/test_ overall and average class accuracy before and after, val_gain_pp and
        test_gain_pp (overall accuracy after minus before), and the validation clusters'
        ``information`` and ``recoverable`` (:func:`error_separation`). Used in chapter 02_cauliflower.
    """
    y_val, pred_val = _binary(y_val, "y_val"), _binary(pred_val, "pred_val")
    y_test, pred_test = _binary(y_test, "y_test"), _binary(pred_test, "pred_test")
    pca = fit_embedding(val_maps, max(n_components), seed)
    Zv_all, Zt_all = transform(pca, val_maps), transform(pca, test_maps)
    val_before, test_before = accuracies(y_val, pred_val), accuracies(y_test, pred_test)
    rows = []
    for d in sorted(set(n_components)):
        Zv, Zt = Zv_all[:, :d], Zt_all[:, :d]
        W = gaussian_affinity(Zv, kernel_scale, distance_scale=distance_scale, graph=graph, n_neighbors=n_neighbors,
                              knn_type=knn_type)
        distances = cdist(Zt, Zv)
        for qq in q:
            clusters = cluster_affinity(W, qq, laplacian=laplacian, seed=seed, n_init=n_init)
            table = cluster_table(clusters, y_val, pred_val, qq)
            sep = error_separation(clusters, y_val != pred_val)
            test_clusters = {kk: knn_vote(distances, clusters, kk, ties) for kk in k}
            for tt, kk in itertools.product(t, k):
                flip = clusters_to_flip(table, tt)
                val_after = accuracies(y_val, adjust(pred_val, clusters, flip))
                test_after = accuracies(y_test, adjust(pred_test, test_clusters[kk], flip))
                rows.append({"n_components": d, "q": qq, "t": tt, "k": kk, "n_flipped": len(flip),
                             "flipped": ",".join(map(str, flip)),
                             "val_overall_before": val_before.overall, "val_overall_after": val_after.overall,
                             "val_average_before": val_before.average_class,
                             "val_average_after": val_after.average_class,
                             "test_overall_before": test_before.overall, "test_overall_after": test_after.overall,
                             "test_average_before": test_before.average_class,
                             "test_average_after": test_after.average_class,
                             "val_gain_pp": val_after.overall - val_before.overall,
                             "test_gain_pp": test_after.overall - test_before.overall,
                             "information": sep["information"], "recoverable": sep["recoverable"]})
    return pd.DataFrame(rows)
