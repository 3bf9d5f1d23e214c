"""Known answers for classification and localisation metrics."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import precision_recall_fscore_support

from xaibook.metrics import confusion, energy_inside, prf_from_confusion, row_normalise


def test_confusion_counts_by_hand():
    cm = confusion([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 1, 2], 3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 1, 0], [0, 1, 2]])
    np.testing.assert_allclose(row_normalise(cm), [[0.5, 0.5, 0], [0, 1, 0], [0, 1 / 3, 2 / 3]])


def test_row_normalise_keeps_empty_rows_zero():
    np.testing.assert_array_equal(row_normalise(np.array([[0, 0], [1, 3]])), [[0, 0], [0.25, 0.75]])


def test_binary_prf_by_hand():
    # TP=8, FP=2, FN=4: P = 0.8, R = 8/12, F1 = 2PR/(P+R) = 16/22
    cm = np.array([[10, 2], [4, 8]])
    r = prf_from_confusion(cm, "binary")
    assert (r.precision, r.recall) == pytest.approx((0.8, 8 / 12))
    assert r.f1 == pytest.approx(16 / 22)


def test_macro_f1_is_mean_of_class_f1_not_harmonic_of_means():
    # the distinction that explains the fine-grained row of Austerjost et al.'s Table 3
    cm = np.array([[9, 1, 0], [3, 6, 1], [0, 4, 1]])
    r = prf_from_confusion(cm, "macro")
    assert r.f1 < 2 * r.precision * r.recall / (r.precision + r.recall)


@pytest.mark.parametrize("average", ["macro", "weighted", "micro"])
def test_matches_scikit_learn(average):
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 4, 300), rng.integers(0, 4, 300)
    ours = prf_from_confusion(confusion(y, p, 4), average)
    ref = precision_recall_fscore_support(y, p, average=average, zero_division=0)[:3]
    assert (ours.precision, ours.recall, ours.f1) == pytest.approx(ref)


def test_unknown_average_is_refused():
    with pytest.raises(ValueError, match="average must be one of"):
        prf_from_confusion(np.eye(2), "samples")


class TestEnergyInside:
    mask = torch.tensor([[[0, 0, 0], [0, 1, 1], [0, 1, 1]]], dtype=torch.bool)

    def test_by_hand(self):
        s = torch.tensor([[[1.0, 0, 0], [0, 2, 0], [0, 0, 1]]])
        assert float(energy_inside(s, self.mask)[0]) == pytest.approx(3 / 4)

    def test_map_entirely_inside_scores_one(self):
        assert float(energy_inside(self.mask.float() * 5, self.mask)[0]) == pytest.approx(1.0)

    def test_empty_mask_scores_zero(self):
        # Quantus' PointingGame counts an empty mask as a hit; an empty mask has nothing to hit
        assert float(energy_inside(torch.ones(1, 3, 3), torch.zeros(1, 3, 3, dtype=torch.bool))[0]) == 0.0

    def test_all_zero_map_scores_zero(self):
        assert float(energy_inside(torch.zeros(1, 3, 3), self.mask)[0]) == 0.0

    def test_negative_values_are_clipped(self):
        s = torch.tensor([[[-5.0, 0, 0], [0, 1, 0], [0, 0, 0]]])
        assert float(energy_inside(s, self.mask)[0]) == pytest.approx(1.0)

    def test_single_pixel(self):
        s = torch.zeros(1, 3, 3)
        s[0, 0, 0] = 1
        assert float(energy_inside(s, self.mask)[0]) == 0.0

    def test_shape_mismatch_is_refused(self):
        with pytest.raises(ValueError, match="differ in shape"):
            energy_inside(torch.zeros(1, 3, 3), torch.zeros(1, 2, 2))
