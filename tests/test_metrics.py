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


class TestEnergyInsideRefusesBadInput:
    maps = torch.rand(2, 3, 3, generator=torch.Generator().manual_seed(0))

    @pytest.mark.parametrize("masks", [0.5 * torch.ones(2, 3, 3), 255 * torch.ones(2, 3, 3, dtype=torch.uint8),
                                       torch.full((2, 3, 3), float("nan"))])
    def test_masks_that_are_not_binary(self, masks):
        # .bool() would silently count every non-zero pixel as inside the region
        with pytest.raises(ValueError, match="masks must be boolean or hold only 0 and 1"):
            energy_inside(self.maps, masks)

    def test_masks_without_a_spatial_axis(self):
        with pytest.raises(ValueError, match="masks: expected"):
            energy_inside(torch.rand(3), torch.ones(3, dtype=torch.bool))

    def test_infinite_maps(self):
        with pytest.raises(ValueError, match="maps contain NaN or infinite"):
            energy_inside(torch.full((2, 3, 3), float("inf")), torch.ones(2, 3, 3, dtype=torch.bool))

    def test_zero_one_masks_of_any_dtype_equal_boolean_masks(self):
        masks = torch.zeros(2, 3, 3, dtype=torch.bool)
        masks[:, 1:, 1:] = True
        want = energy_inside(self.maps, masks)
        for dtype in (torch.uint8, torch.int64, torch.float32):
            torch.testing.assert_close(energy_inside(self.maps, masks.to(dtype)), want)

    @pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
    def test_masks_follow_the_maps_device(self):
        masks = torch.zeros(2, 3, 3, dtype=torch.bool)
        masks[:, 1:, 1:] = True
        got = energy_inside(self.maps.cuda(), masks)
        assert got.device.type == "cuda"
        torch.testing.assert_close(got.cpu(), energy_inside(self.maps, masks))


def test_confusion_refuses_labels_outside_the_classes():
    # numpy would count -1 as the last class: C = [[1, 0], [0, 1]] instead of an error
    with pytest.raises(ValueError, match=r"y_true holds labels outside \[0, 2\)"):
        confusion(np.array([0, -1]), np.array([0, 1]), 2)
    with pytest.raises(ValueError, match=r"y_pred holds labels outside \[0, 2\)"):
        confusion(np.array([0, 1]), np.array([0, 2]), 2)
    with pytest.raises(ValueError, match="whole-number"):
        confusion(np.array([0, 0.5]), np.array([0, 1]), 2)
    np.testing.assert_array_equal(confusion(np.array([1.0, 0.0]), np.array([True, False]), 2), [[1, 0], [0, 1]])


@pytest.mark.parametrize("average", ["binary", "macro", "weighted", "micro"])
def test_an_empty_confusion_matrix_has_no_scores(average):
    # the weighted average divided by a support of 0: NaN
    with pytest.raises(ValueError, match="no samples"):
        prf_from_confusion(np.zeros((3, 3), int), average)


@pytest.mark.parametrize("average", ["binary", "macro", "weighted"])
def test_a_class_never_predicted_scores_zero_not_nan(average):
    # class 1 is never predicted: its precision 0/0 and its F1 0/0 are 0 (scikit-learn's zero_division=0)
    y, p = np.array([0] * 5 + [1] * 3), np.zeros(8, int)
    r = prf_from_confusion(confusion(y, p, 2), average)
    want = precision_recall_fscore_support(y, p, average=average, zero_division=0)[:3]
    assert (r.precision, r.recall, r.f1) == pytest.approx(want)
    assert np.isfinite([r.precision, r.recall, r.f1]).all()


def test_confusion_and_its_normalisation_refuse_bad_counts():
    assert confusion(np.zeros(3, int), np.zeros(3, int), 1).tolist() == [[3]]  # one class is allowed
    assert confusion(np.array([0, 1]), np.array([1, 1]), 2).dtype.kind == "i"  # counts, not floats
    for bad in (0, 2.5):
        with pytest.raises(ValueError, match="whole number of at least 1"):
            confusion(np.array([0]), np.array([0]), bad)
    for cm in ([[1, -1], [0, 2]], [[1, np.nan], [0, 2]]):  # a negative count alone, a NaN alone
        with pytest.raises(ValueError, match="finite non-negative"):
            row_normalise(np.array(cm))
        with pytest.raises(ValueError, match="finite non-negative"):
            prf_from_confusion(np.array(cm), "macro")
    with pytest.raises(ValueError, match="square"):
        prf_from_confusion(np.ones((2, 3)), "macro")


def test_energy_inside_takes_one_spatial_axis():
    # (N, L) signals are (N, *S) maps with one spatial axis: share of the mass on the mask
    maps = torch.tensor([[1.0, 3.0, 0.0, 4.0], [0.0, 0.0, 0.0, 0.0]])
    masks = torch.tensor([[False, True, False, True], [True, False, False, False]])
    torch.testing.assert_close(energy_inside(maps, masks), torch.tensor([7 / 8, 0.0]))
