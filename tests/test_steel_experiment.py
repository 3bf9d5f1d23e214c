"""Chapter 04's benchmark helpers: splits, freezing, selection, Table 3 assembly, Fig. 5a pairs."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision

from xaibook.steel.experiment import (FAST, PAPER, at_mask_size, benchmark_name, best_per_method, compute_maps,
                                      confident_defects, freeze_before, random_split, saliency_set, score_table,
                                      shown_at_mask_size, speed_pairs, variants)
from xaibook.steel.paper import TABLE3, audit, paper_best


def test_random_split_is_a_seeded_quarter():
    tr, va = random_split(100, 0.25, seed=3)
    assert len(va) == 25 and not set(tr) & set(va) and sorted(np.r_[tr, va]) == list(range(100))
    np.testing.assert_array_equal(va, random_split(100, 0.25, seed=3)[1])


def test_freeze_before_layer3_freezes_the_first_half_only():
    m = freeze_before(torchvision.models.resnet18(num_classes=5), "layer3")
    frozen = {n.split(".")[0] for n, p in m.named_parameters() if not p.requires_grad}
    trainable = {n.split(".")[0] for n, p in m.named_parameters() if p.requires_grad}
    assert frozen == {"conv1", "bn1", "layer1", "layer2"} and trainable == {"layer3", "layer4", "fc"}
    with pytest.raises(ValueError, match="unknown stage"):
        freeze_before(m, "layer9")


def test_confident_defects():
    probs = np.array([[0.95, 0.05], [0.05, 0.95], [0.4, 0.6], [0.0, 1.0]])
    assert confident_defects(probs, np.array([1, 1, 1, 0]), 0.9).tolist() == [0, 1]


def test_saliency_set_falls_back_to_the_most_confident_right_defects():
    probs = np.array([[0.05, 0.95], [0.4, 0.6], [0.2, 0.8], [0.97, 0.03], [0.3, 0.7], [0.85, 0.15]])
    labels = np.array([1, 1, 1, 0, 1, 1])
    assert saliency_set(probs, labels, 0.9).tolist() == [0]
    assert saliency_set(probs, labels, 0.9, at_least=1).tolist() == [0]
    # 0.95, 0.8, 0.7; never the clean patch 3, never patch 5 (a defect predicted as clean, p = 0.85)
    assert saliency_set(probs, labels, 0.9, at_least=3).tolist() == [0, 2, 4]
    assert saliency_set(probs, labels, 0.9, at_least=10).tolist() == [0, 1, 2, 4]


def test_score_table_by_hand():
    # one pixel defect at (0, 0); method A puts all mass on it, method B half there and half at (0, 3)
    mask = torch.zeros(1, 4, 4, dtype=torch.bool)
    mask[0, 0, 0] = True
    a = torch.zeros(1, 4, 4)
    a[0, 0, 0] = 1
    b = a.clone()
    b[0, 0, 3] = 1
    table, per_sample = score_table({"A": a, "B": b}, mask)
    assert table.loc["A", "ReLU-100"] == pytest.approx(1.0)
    # distance of (0, 3) to (0, 0) is 3 over the diagonal norm(4, 4): score = 1 / (1 + 3 / sqrt(32))
    assert table.loc["B", "ReLU-100"] == pytest.approx(1 / (1 + 3 / np.sqrt(32)), rel=1e-5)
    assert best_per_method(table).loc["A", "median score"] == pytest.approx(1.0)


def test_small_maps_are_scored_against_the_full_size_mask():
    # a 2x2 map whose left half is hot, scored against a 4x4 mask on the left two columns:
    # bilinear upsampling keeps the mass on the left, so the score equals that of the 4x4 map
    mask = torch.zeros(1, 4, 4, dtype=torch.bool)
    mask[0, :, :2] = True
    small = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])
    up = at_mask_size(small, mask)
    assert up.shape == (1, 4, 4)
    np.testing.assert_allclose(up[0, 0].numpy(), [1.0, 0.75, 0.25, 0.0])   # align_corners=False
    table, _ = score_table({"m": small}, mask)
    expected, _ = score_table({"m": up}, mask)
    assert table.loc["m", "ReLU-100"] == pytest.approx(expected.loc["m", "ReLU-100"])
    assert at_mask_size(up, mask) is up


def test_patches_are_shown_as_rgb_at_the_mask_size():
    images = torch.full((2, 3, 2, 2), 7, dtype=torch.uint8)
    shown = shown_at_mask_size(images, torch.zeros(2, 4, 4, dtype=torch.bool))
    assert shown.shape == (2, 4, 4, 3) and shown.dtype == np.uint8 and (shown == 7).all()


def test_variants_cover_the_papers_methods_with_batched_and_unbatched_forms():
    names = [v.name for v in variants(PAPER)]
    assert {benchmark_name(v) for v in variants(PAPER)} == set(TABLE3.index) | {"SmoothGrad 50"}
    assert "SmoothGrad 100 unbatched" in names and "ScoreCAM b=1" in names and "ScoreCAM b=50" in names


def test_compute_maps_uses_one_variant_per_method_and_matches_a_direct_call():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=3).eval()
    images = torch.randint(0, 255, (2, 3, 32, 32), dtype=torch.uint8)
    cfg = FAST.__class__(**{**FAST.__dict__, "smoothgrad_samples": (2,), "scorecam_batches": (1, 64)})
    maps = compute_maps(model, model.layer3, images, np.array([0, 2]), variants(cfg))
    assert set(maps) == {"VanillaGrad", "SmoothGrad 2", "DeepLift zero", "DeepLift blur", "GradCAM", "GradCAM++", "ScoreCAM"}
    from xaibook.saliency import VanillaGrad, class_score
    from xaibook.training import to_input
    direct = VanillaGrad(model).attribute(to_input(images), class_score(torch.tensor([0, 2])))
    torch.testing.assert_close(maps["VanillaGrad"], direct)


def test_speed_pairs_join_variants_of_a_method_from_slow_to_fast():
    speed = pd.DataFrame({"method": ["SG", "SG", "SC", "SC", "SC", "V"], "maps/s": [1.0, 5.0, 0.5, 3.0, 2.0, 9.0]},
                         index=["SG u", "SG b", "SC 1", "SC 50", "SC 25", "V"])
    assert set(speed_pairs(speed)) == {("SG u", "SG b"), ("SC 1", "SC 25"), ("SC 25", "SC 50")}


def test_paper_numbers_and_audit():
    assert paper_best()["GradCAM++"] == pytest.approx(0.8338)
    checks = {c.item: c for c in audit()}
    assert "32 px each side" in checks["Crop: 6 patches of 256 px from 1600 px, 34 px off each side"].recomputed
    assert checks["Table 1: percentages from counts"].consistent
    assert "rank 6 of 8" in checks["'DeepLift-zero reached the highest median score'"].recomputed
