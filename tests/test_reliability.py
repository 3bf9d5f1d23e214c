"""Known answers and cross-checks for the reliability framework of Kierdorf & Roscher 2023 (chapter 02_cauliflower)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import SpectralClustering
from sklearn.datasets import make_blobs, make_moons
from sklearn.metrics import adjusted_rand_score, mutual_info_score
from sklearn.neighbors import KNeighborsClassifier

from xaibook.cauliflower import reliability as R

# --- embedding ----------------------------------------------------------------------------------


def test_pca_explained_variance_on_data_of_known_rank():
    rng = np.random.default_rng(0)
    maps = (rng.normal(size=(40, 3)) @ rng.normal(size=(3, 6 * 5)) + 7.0).reshape(40, 6, 5)
    Z, ratio = R.embed(maps, n_components=6)
    assert ratio[:3].sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(ratio[3:], 0, atol=1e-20)
    assert np.all(np.diff(ratio) <= 0)
    np.testing.assert_allclose(Z[:, 3:], 0, atol=1e-9)
    # distances are kept exactly by the rank-3 projection
    d_maps = np.linalg.norm(maps.reshape(40, -1)[:, None] - maps.reshape(40, -1)[None], axis=-1)
    np.testing.assert_allclose(np.linalg.norm(Z[:, None] - Z[None], axis=-1), d_maps, atol=1e-9)


def test_pca_projects_test_maps_and_is_nested():
    rng = np.random.default_rng(1)
    val, test = rng.random((30, 8, 8)), rng.random((12, 8, 8))
    pca = R.fit_embedding(val, 10)
    np.testing.assert_allclose(R.transform(pca, test), (test.reshape(12, -1) - val.reshape(30, -1).mean(0))
                               @ pca.components_.T, atol=1e-12)
    np.testing.assert_allclose(R.transform(R.fit_embedding(val, 4), test), R.transform(pca, test)[:, :4], atol=1e-10)
    with pytest.raises(ValueError, match="pixels"):
        R.transform(pca, rng.random((3, 4, 4)))
    with pytest.raises(ValueError, match="n_components"):
        R.fit_embedding(val, 31)
    with pytest.raises(ValueError, match="NaN"):
        R.embed(np.full((3, 2, 2), np.nan), 1)


# --- similarity graph ---------------------------------------------------------------------------

LINE = np.array([[0.0], [1.0], [3.0], [7.0]])


def test_full_gaussian_affinity_by_hand():
    # distances divided by the largest (7): W = exp(-((d / 7) / 0.2)^2), zero diagonal
    d = np.abs(LINE - LINE.T)
    expected = np.exp(-((d / 7) / 0.2) ** 2)
    np.fill_diagonal(expected, 0)
    np.testing.assert_allclose(R.gaussian_affinity(LINE, 0.2, graph="full"), expected, rtol=1e-12)
    # median reference: off-diagonal distances 1, 3, 7, 2, 6, 4 -> median 3.5; "none" is the literal reading
    np.testing.assert_allclose(R.gaussian_affinity(LINE, 0.2, graph="full", distance_scale="median"),
                               np.where(d > 0, np.exp(-((d / 3.5) / 0.2) ** 2), 0), rtol=1e-12)
    np.testing.assert_allclose(R.gaussian_affinity(LINE, 5.0, graph="full", distance_scale="none"),
                               np.where(d > 0, np.exp(-(d / 5.0) ** 2), 0), rtol=1e-12)


def test_knn_graph_complete_mutual_and_ties_as_matlab():
    # nearest neighbours: 0 -> 1, 1 -> 0, 3 -> 1, 7 -> 3; "complete" keeps 0-1, 1-3, 3-7
    W = R.gaussian_affinity(LINE, 0.2, n_neighbors=1)
    assert [tuple(e) for e in np.argwhere(np.triu(W) > 0)] == [(0, 1), (1, 2), (2, 3)]
    assert W[1, 2] == pytest.approx(math.exp(-((2 / 7) / 0.2) ** 2))
    # "mutual" keeps only 0-1: points 3 and 7 are isolated, which fails loudly
    with pytest.raises(ValueError, match="2 of 4 points have no neighbour"):
        R.gaussian_affinity(LINE, 0.2, n_neighbors=1, knn_type="mutual")
    # ties at the k-th distance are all kept (MATLAB's IncludeTies): 0 has 1 and -1 at distance 1
    W = R.gaussian_affinity(np.array([[0.0], [1.0], [-1.0], [5.0]]), 0.2, n_neighbors=1)
    assert (W[0, 1:3] > 0).all()
    # default neighbour count is MATLAB's ceil(log n): 3 for n = 20
    Z = np.random.default_rng(2).normal(size=(20, 4))
    assert ((R.gaussian_affinity(Z) > 0).sum(1) >= 3).all()


def test_kernel_underflow_fails_loudly_and_relative_scale_never_underflows():
    Z = np.random.default_rng(3).normal(size=(30, 5)) * 20  # PCA distances of order tens
    with pytest.raises(ValueError, match="underflows"):
        R.gaussian_affinity(Z, 0.2, distance_scale="none")
    W = R.gaussian_affinity(Z, 0.2, graph="full")
    assert W[~np.eye(30, dtype=bool)].min() >= math.exp(-25) * (1 - 1e-12)


# --- spectral clustering ------------------------------------------------------------------------

def test_laplacian_eigenvectors_solve_their_eigenproblems():
    Z, _ = make_blobs(40, centers=3, cluster_std=1.5, random_state=0)
    W = R.gaussian_affinity(Z, 0.2, graph="full")
    d = W.sum(1)
    U, lam = R.spectral_embedding(W, 3, "randomwalk")
    np.testing.assert_allclose(U - (W @ U) / d[:, None], U * lam, atol=1e-10)  # (I - D^-1 W) u = lambda u
    U_sym, lam_sym = R.spectral_embedding(W, 3, "symmetric")
    np.testing.assert_allclose(lam_sym, lam, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(U_sym, axis=1), 1, atol=1e-12)  # NJW rows on the unit sphere
    assert lam[0] == pytest.approx(0, abs=1e-12) and np.all(np.diff(lam) >= 0)
    U_un, lam_un = R.spectral_embedding(W, 3, "none")
    np.testing.assert_allclose((np.diag(d) - W) @ U_un, U_un * lam_un, atol=1e-10)
    W[0, 1:] = W[1:, 0] = 0
    with pytest.raises(ValueError, match="isolated"):
        R.spectral_embedding(W, 3)


@pytest.mark.filterwarnings("ignore:Graph is not fully connected")  # separated blobs: one component each
@pytest.mark.parametrize("laplacian", ["symmetric", "randomwalk"])
def test_spectral_equals_sklearn_on_separated_blobs(laplacian):
    X, y = make_blobs(150, centers=4, n_features=6, cluster_std=0.6, random_state=0)
    W = R.gaussian_affinity(X, 0.2)
    ours = R.cluster_affinity(W, 4, laplacian=laplacian)
    theirs = SpectralClustering(4, affinity="precomputed", random_state=0).fit_predict(W)
    assert adjusted_rand_score(ours, theirs) == 1.0
    assert adjusted_rand_score(ours, y) == 1.0


def test_spectral_close_to_sklearn_on_overlapping_blobs():
    """scikit-learn's SpectralClustering uses the random-walk eigenvectors D^-1/2 v (no row normalisation)."""
    X, _ = make_blobs(200, centers=5, n_features=8, cluster_std=2.5, random_state=1)
    W = R.gaussian_affinity(X, 0.2, graph="full")
    theirs = SpectralClustering(5, affinity="precomputed", random_state=0).fit_predict(W)
    assert adjusted_rand_score(R.cluster_affinity(W, 5, laplacian="randomwalk"), theirs) > 0.9
    assert adjusted_rand_score(R.cluster_affinity(W, 5, laplacian="symmetric"), theirs) > 0.8


def test_spectral_finds_non_convex_clusters_deterministically():
    X, y = make_moons(200, noise=0.05, random_state=0)
    labels = R.spectral_clusters(X, 2)
    assert adjusted_rand_score(labels, y) == 1.0
    np.testing.assert_array_equal(labels, R.spectral_clusters(X, 2))
    sizes = np.bincount(R.spectral_clusters(make_blobs(90, centers=[[0, 0], [9, 0], [0, 9]], cluster_std=0.3,
                                                       random_state=0)[0][:80], 3))
    assert list(sizes) == sorted(sizes, reverse=True)  # numbered by decreasing size


# --- kNN assignment -----------------------------------------------------------------------------

def test_assign_knn_by_hand_and_tie_breaking():
    Z_val = np.array([[0.0], [1.0], [2.0], [10.0], [11.0]])
    labels = np.array([0, 0, 1, 1, 1])
    # 0.4: neighbours 0, 1, 2 -> clusters 0, 0, 1 -> 0;  9: 10, 11, 2 -> 1, 1, 1 -> 1
    np.testing.assert_array_equal(R.assign_knn(Z_val, labels, np.array([[0.4], [9.0]]), k=3), [0, 1])
    # k = 2 at 1.6: neighbours 2 (cluster 1, distance 0.4) and 1 (cluster 0, 0.6): a tie
    assert R.assign_knn(Z_val, labels, np.array([[1.6]]), k=2, ties="nearest")[0] == 1
    assert R.assign_knn(Z_val, labels, np.array([[1.6]]), k=2, ties="smallest")[0] == 0
    with pytest.raises(ValueError, match="k must be"):
        R.assign_knn(Z_val, labels, np.array([[0.0]]), k=6)


def test_assign_knn_equals_sklearn_kneighbors():
    rng = np.random.default_rng(4)
    Z_val, Z_test = rng.normal(size=(120, 5)), rng.normal(size=(80, 5))
    labels = rng.integers(0, 4, 120)
    for k in (1, 4, 5):
        sk = KNeighborsClassifier(k).fit(Z_val, labels).predict(Z_test)
        np.testing.assert_array_equal(R.assign_knn(Z_val, labels, Z_test, k, ties="smallest"), sk)
        # "nearest" differs from scikit-learn only where the vote is tied
        idx = np.argsort(np.linalg.norm(Z_test[:, None] - Z_val[None], axis=-1), axis=1)[:, :k]
        counts = np.stack([(labels[idx] == c).sum(1) for c in range(4)], 1)
        untied = (counts == counts.max(1, keepdims=True)).sum(1) == 1
        np.testing.assert_array_equal(R.assign_knn(Z_val, labels, Z_test, k)[untied], sk[untied])


# --- cluster table, flipping, accuracies ---------------------------------------------------------

#                 cluster 0 |  cluster 1 (all wrong) | cluster 2
CLUSTERS = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
Y_TRUE = np.array([1, 0, 0, 0, 1, 1, 0, 1, 1, 0, 0])
Y_PRED = np.array([1, 0, 1, 1, 0, 0, 1, 1, 1, 0, 0])


def test_cluster_table_by_hand():
    table = R.cluster_table(CLUSTERS, Y_TRUE, Y_PRED, q=4)
    expected = pd.DataFrame({"n": [3, 4, 4, 0], "TP": [1, 0, 2, 0], "TN": [1, 0, 2, 0], "FP": [1, 2, 0, 0],
                             "FN": [0, 2, 0, 0], "wrong": [1, 4, 0, 0], "r_q": [1 / 3, 1.0, 0.0, np.nan],
                             "error_share": [0.2, 0.8, 0.0, 0.0]}, index=pd.RangeIndex(4, name="cluster"))
    pd.testing.assert_frame_equal(table, expected, check_dtype=False)


def test_flip_adjust_and_accuracies_by_hand():
    table = R.cluster_table(CLUSTERS, Y_TRUE, Y_PRED, q=4)
    flip = R.clusters_to_flip(table, 0.75)
    np.testing.assert_array_equal(flip, [1])  # r = 1 > 0.75; the empty cluster (NaN) is never flipped
    before = R.accuracies(Y_TRUE, Y_PRED)
    # 6 of 11 right; recall of class 0 = 3/6, of class 1 = 3/5
    assert before.overall == pytest.approx(100 * 6 / 11) and before.average_class == pytest.approx(55.0)
    adjusted = R.adjust(Y_PRED, CLUSTERS, flip)
    np.testing.assert_array_equal(adjusted, [1, 0, 1, 0, 1, 1, 0, 1, 1, 0, 0])
    after = R.accuracies(Y_TRUE, adjusted)
    # 10 of 11 right; recall of class 0 = 5/6, of class 1 = 5/5
    assert after.overall == pytest.approx(100 * 10 / 11) and after.average_class == pytest.approx(50 * (5 / 6 + 1))


def test_threshold_is_strict():
    clusters = np.array([0, 0, 0, 0, 1, 1])
    y_true = np.array([1, 1, 1, 0, 0, 1])
    y_pred = np.array([0, 0, 0, 0, 0, 1])  # cluster 0: 3 of 4 wrong, r = 0.75 exactly
    table = R.cluster_table(clusters, y_true, y_pred, 2)
    assert table.r_q[0] == 0.75
    assert R.clusters_to_flip(table, 0.75).size == 0
    np.testing.assert_array_equal(R.clusters_to_flip(table, 0.74), [0])


def test_reliability_per_image_and_prototypes():
    table = R.cluster_table(CLUSTERS, Y_TRUE, Y_PRED, q=4)
    np.testing.assert_allclose(R.reliability_per_image([0, 1, 2], table), [2 / 3, 0, 1])
    # after flipping cluster 1 its swapped predictions are all right
    np.testing.assert_allclose(R.reliability_per_image([0, 1, 2], table, flipped=[1]), [2 / 3, 1, 1])
    with pytest.raises(ValueError, match="empty"):
        R.reliability_per_image([3], table)
    maps = np.arange(4 * 2 * 2, dtype=float).reshape(4, 2, 2)
    proto = R.prototypes(maps, [0, 0, 2, 2], 3)
    np.testing.assert_allclose(proto[0], maps[:2].mean(0))
    assert np.isnan(proto[1]).all()


@pytest.mark.parametrize("bad", [dict(y_pred=np.full(11, 2)), dict(y_pred=Y_PRED[:5]), dict(clusters=CLUSTERS + 4)])
def test_bad_input_fails_loudly(bad):
    args = dict(clusters=CLUSTERS, y_true=Y_TRUE, y_pred=Y_PRED) | bad
    with pytest.raises(ValueError):
        R.cluster_table(q=4, **args)


def test_accuracies_need_both_classes():
    with pytest.raises(ValueError, match="both classes"):
        R.accuracies([1, 1], [1, 0])


def test_average_class_accuracy_is_the_mean_recall_by_hand():
    """Average class accuracy is the mean RECALL (hits over true-class counts). Truth 0, 0, 1, 1 predicted
    0, 0, 0, 1: overall 3 of 4 = 75%; recalls 2/2 and 1/2 average 75%, where the mean precision (hits over
    predicted counts: 2/3 and 1/1) would be 83.3%. Truth 0, 0, 0, 1 predicted 0, 1, 1, 1: recalls 1/3 and
    1/1, 66.7%, overall 50%."""
    a = R.accuracies([0, 0, 1, 1], [0, 0, 0, 1])
    assert (a.overall, a.average_class) == pytest.approx((75.0, 75.0))
    b = R.accuracies([0, 0, 0, 1], [0, 1, 1, 1])
    assert (b.overall, b.average_class) == pytest.approx((50.0, 200 / 3))


# --- error separation ---------------------------------------------------------------------------

def test_error_separation_perfect_and_uniform():
    clusters = np.repeat([0, 1, 2, 3], 4)
    perfect = clusters == 2  # one cluster all wrong, the others all right
    assert R.error_separation(clusters, perfect) == pytest.approx(
        {"information": 1.0, "recoverable": 1.0, "oracle_gain_pp": 25.0})
    uniform = np.tile([True, False, False, False], 4)  # one error in every cluster
    assert R.error_separation(clusters, uniform) == pytest.approx(
        {"information": 0.0, "recoverable": 0.0, "oracle_gain_pp": 0.0}, abs=1e-12)
    # all errors in one cluster that also holds two right: flipping it removes 4 - 2 of the 4 errors
    mixed = np.zeros(18, bool)
    mixed[:4] = True
    sep = R.error_separation(np.r_[np.zeros(6, int), np.ones(12, int)], mixed)
    assert sep["recoverable"] == pytest.approx(0.5) and sep["oracle_gain_pp"] == pytest.approx(100 * 2 / 18)
    assert 0 < sep["information"] < 1
    assert math.isnan(R.error_separation(clusters, np.zeros(16, bool))["information"])


def test_error_information_equals_sklearn_mutual_information():
    rng = np.random.default_rng(5)
    clusters, wrong = rng.integers(0, 6, 300), rng.random(300) < 0.3
    p = wrong.mean()
    h = -(p * np.log(p) + (1 - p) * np.log(1 - p))
    assert R.error_separation(clusters, wrong)["information"] == pytest.approx(mutual_info_score(clusters, wrong) / h)


# --- the whole pipeline -------------------------------------------------------------------------

def blob_maps(n: int, centre: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[:16, :16]
    blob = np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / 8)
    return blob + 0.05 * rng.random((n, 16, 16))


def synthetic(n_centre: int, n_corner: int, seed: int):
    """Centre maps with 10 % wrong predictions, corner maps all wrong (the paper's "cluster 5")."""
    rng = np.random.default_rng(seed)
    maps = np.concatenate([blob_maps(n_centre, (8, 8), rng), blob_maps(n_corner, (2, 13), rng)])
    y = rng.permutation(np.arange(n_centre + n_corner) % 2)
    wrong = np.r_[np.arange(n_centre) % 10 == 0, np.ones(n_corner, bool)]
    return maps, y, np.where(wrong, 1 - y, y)


def test_fit_reliability_flips_the_all_wrong_cluster_and_applies_to_test():
    model = R.fit_reliability(*synthetic(60, 20, 0), n_components=5, q=2)
    np.testing.assert_array_equal(model.table.r_q, [0.1, 1.0])
    np.testing.assert_array_equal(model.flip, [1])
    # validation: 54 of 80 right -> flipping the corner cluster: 74 of 80
    assert model.validation.before.overall == pytest.approx(67.5)
    assert model.validation.after.overall == pytest.approx(92.5)
    maps, y, pred = synthetic(30, 10, 1)
    test = model.apply(maps, pred, y)
    np.testing.assert_array_equal(test.clusters, np.r_[np.zeros(30, int), np.ones(10, int)])
    assert test.before.overall == pytest.approx(67.5) and test.after.overall == pytest.approx(92.5)
    np.testing.assert_allclose(test.reliability, np.r_[np.full(30, 0.9), np.zeros(10)])
    np.testing.assert_allclose(test.reliability_adjusted, np.r_[np.full(30, 0.9), np.ones(10)])
    assert test.table.wrong.tolist() == [3, 10]
    no_labels = model.apply(maps, pred)
    assert no_labels.table is None and no_labels.after is None
    np.testing.assert_array_equal(no_labels.adjusted, test.adjusted)


def test_sweep_is_tidy_and_agrees_with_the_pipeline():
    val, test = synthetic(60, 20, 0), synthetic(30, 10, 1)
    df = R.sweep(*val, *test, n_components=(3, 5), q=(2, 3), t=(0.5, 0.75), k=(1, 5))
    assert len(df) == 2 * 2 * 2 * 2
    assert not df.duplicated(["n_components", "q", "t", "k"]).any()
    row = df.query("n_components == 5 and q == 2 and t == 0.75 and k == 5").iloc[0]
    assert row.flipped == "1" and row.test_gain_pp == pytest.approx(25.0) and row.val_gain_pp == pytest.approx(25.0)
    assert row.recoverable == pytest.approx(20 / 26)  # the centre cluster's 6 errors stay


def test_sweep_reports_the_test_gain_from_the_test_set():
    """The sweep's test gain is measured on TEST labels, and can be negative where the validation gain is
    not: here the test set's corner maps (the cluster flipped on validation) are all RIGHT, so flipping
    them costs 10 of 40 test answers (92.5% -> 67.5%) while validation still gains 25 points. Catches the
    validation gain reported as the test gain (the existing sweep test draws test like validation, so the
    two gains are equal and the copy-paste is invisible)."""
    val = synthetic(60, 20, 0)
    maps, y, pred = synthetic(30, 10, 1)
    pred = np.r_[pred[:30], y[30:]]                       # the corner images now predicted right
    df = R.sweep(*val, maps, y, pred, n_components=(5,), q=(2,), t=(0.75,), k=(5,))
    row = df.iloc[0]
    assert row.flipped == "1" and row.val_gain_pp == pytest.approx(25.0)
    assert row.test_overall_before == pytest.approx(92.5) and row.test_overall_after == pytest.approx(67.5)
    assert row.test_gain_pp == pytest.approx(-25.0)
