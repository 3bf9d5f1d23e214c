"""Chapter 02_cauliflower: the pipeline's own pieces and the audit of the paper, by hand."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from xaibook.cauliflower import paper
from xaibook.cauliflower.experiment import (FAST, PAPER, WHY, centre_concentration, compute_maps, errors_by_days,
                                            mechanism_table, train_config)
from xaibook.book.profiles import deviations
from xaibook.training import epoch_order


def test_centre_concentration_known_answers():
    h = w = 32
    yy, xx = np.mgrid[:h, :w]
    disc = np.hypot((yy - 15.5) / h, (xx - 15.5) / w) <= 0.25
    uniform = np.ones((h, w))
    centre = disc.astype(float)
    corner = np.zeros((h, w))
    corner[:4, :4] = 1
    got = centre_concentration(np.stack([uniform, centre, corner, np.zeros((h, w))]))
    np.testing.assert_allclose(got[:3], [1.0, 1 / disc.mean(), 0.0])
    assert np.isnan(got[3])                                    # no mass, no answer
    # signed maps: the evidence for the class is the NEGATIVE part (the paper's occlusion colours)
    signed = np.where(disc, -1.0, 0.5)
    assert centre_concentration(signed[None], signed=True)[0] == pytest.approx(1 / disc.mean())
    assert centre_concentration(signed[None])[0] == pytest.approx(0.0)


def test_mechanism_table_compares_the_worst_cluster_with_the_rest():
    frame = pd.DataFrame({"sim_a": [True, True, False, False, False, True], "sim_b": [False, True, False, False, False, False]})
    clusters = np.array([1, 1, 0, 0, 0, 0])
    table = pd.DataFrame({"r_q": [0.25, 1.0]})
    out = mechanism_table(frame, clusters, table, ("sim_a", "sim_b"))
    assert out.loc["sim_a", "in the most-wrong cluster (%)"] == 100 and out.loc["sim_a", "elsewhere (%)"] == 25
    assert out.loc["sim_b", "in the most-wrong cluster (%)"] == 50 and out.loc["any", "elsewhere (%)"] == 25
    assert (out["cluster"] == 2).all() and (out["images in it"] == 2).all()


def test_errors_by_days_known_answer():
    days = pd.Series([1, 2, 5, 8, 12, np.nan])
    wrong = np.array([True, False, True, True, False, False])
    table, near = errors_by_days(days, wrong)
    assert table["images"].tolist() == [2, 1, 1, 1, 1]
    assert table["share wrong"].tolist() == [0.5, 1.0, 1.0, 0.0, 0.0]
    assert list(table.index) == ["1-3 (ready)", "4-6", "7-9", "10+", "never"]
    assert near == pytest.approx(200 / 3)                      # 2 of the 3 wrong answers within six days


def test_paper_recipe_draws_the_papers_augmented_counts():
    cfg = train_config(PAPER)
    assert (cfg.lr, cfg.weight_decay, cfg.lr_step, cfg.lr_gamma, cfg.epochs) == (1e-4, 1e-4, 5, 0.1, 25)
    # 162 not ready + 379 ready training images, as the paper's counts imply (see the audit)
    labels = torch.tensor([0] * 162 + [1] * 379)
    order = epoch_order(labels, cfg.class_repeats, torch.Generator().manual_seed(0))
    counts = torch.bincount(labels[order])
    assert counts.tolist() == [2430, 3790]                     # the paper: 2,432 and 3,792
    assert cfg.rotate and cfg.hflip


def test_every_fast_deviation_is_explained():
    table = deviations(PAPER, FAST, WHY)
    assert len(table) >= 8 and table["why"].str.len().min() > 10


def test_paper_audit_known_answers():
    checks = {c.item: c for c in paper.audit()}
    assert not checks["val overall accuracy before adjustment as a count of 196 images"].consistent
    assert checks["val overall accuracy after adjustment as a count of 196 images"].consistent   # 177/196
    assert checks["test overall accuracy after adjustment as a count of 194 images"].consistent  # 171/194
    assert 190 in paper.denominators(76.32) and 196 not in paper.denominators(76.32)
    assert 145 in paper.denominators(72.41)
    assert not checks["Abstract vs Sect. 3.5: test gain in overall accuracy"].consistent
    assert "70% ready" in checks["Ready share of the 541 training images, from the augmented counts"].recomputed


@pytest.fixture(scope="module")
def tiny():
    from xaibook.models import build

    torch.manual_seed(0)
    model = build(FAST.arch, 2).eval()                         # the fast profile's network, random weights
    images = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    return model, images


@pytest.mark.parametrize("method", ["gradcam", "occlusion", "lime"])
def test_maps_are_scaled_as_documented_and_deterministic(tiny, method):
    model, images = tiny
    model.train()                                              # the caller's mode must come back as it went in
    before = {k: v.clone() for k, v in model.state_dict().items()}
    a = compute_maps(method, model, images, FAST, batch_size=2)
    assert model.training and all(m.training for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())   # BN statistics untouched
    model.eval()
    b = compute_maps(method, model, images, FAST, batch_size=3)
    assert a.shape == (3, 32, 32)
    np.testing.assert_allclose(a, b, atol=1e-5)                # batch size changes nothing
    peak = np.abs(a.reshape(3, -1)).max(1)
    if method == "gradcam":
        assert a.min() >= 0 and np.all((peak == 0) | np.isclose(peak, 1))
    else:
        assert np.allclose(peak, 1)                            # signed, largest magnitude 1


def test_unknown_method_is_refused(tiny):
    with pytest.raises(ValueError, match="unknown method"):
        compute_maps("SHAP", *tiny, FAST)


def test_paper_claims_on_constructed_clusters():
    from types import SimpleNamespace

    from xaibook.cauliflower.experiment import paper_claims

    models = {"GradCAM": SimpleNamespace(table=pd.DataFrame({"r_q": [0.1, 0.9, 0.3, 0.2]})),
              "Occlusion": SimpleNamespace(table=pd.DataFrame({"r_q": [0.4, 0.6, 0.2]})),
              "LIME": SimpleNamespace(table=pd.DataFrame({"r_q": [0.3, 0.3]}))}
    sep = {"GradCAM": {"information": 0.30}, "Occlusion": {"information": 0.10}, "LIME": {"information": 0.2}}
    adjust = pd.DataFrame({"overall before": [80.0, 72.0], "overall after": [90.0, 70.0]}, index=["val", "test"])
    centre = {"GradCAM": np.array([1.5, 0.8, 1.2, 2.0, 0.9, 1.1, 0.5, 0.7])}
    checks = {c.key: c for c in paper_claims(models, sep, adjust, centre, FAST)}
    c = checks["gradcam_concentrates_errors"]
    assert c.holds and c.margin == pytest.approx(min(0.9 - 0.75, 0.5 - 0.3))
    assert not checks["occlusion_does_not"].holds and checks["occlusion_does_not"].margin == pytest.approx(-0.1)
    assert checks["gradcam_separates_better"].margin == pytest.approx(0.2)
    assert not checks["adjustment_raises_test_accuracy"].holds
    assert checks["adjustment_raises_test_accuracy"].margin == pytest.approx(-2.0)
    assert checks["prototypes_central"].holds and checks["prototypes_central"].margin == 0.0    # 4 of 8 central


def test_closing_verdicts():
    from xaibook.cauliflower.experiment import adjust_verdict, concentration_verdict, sweep_verdict

    assert concentration_verdict(True) == "Yes, as in the paper."
    assert concentration_verdict(False).startswith("No: on this run")
    assert adjust_verdict(80.0, 82.5, 1) == "Test accuracy rises by 2.5 points."
    assert adjust_verdict(80.0, 80.0, 0).startswith("No cluster passes the threshold")
    assert adjust_verdict(80.0, 78.0, 2) == "Test accuracy changes by -2.0 points."
    assert sweep_verdict(0.5).startswith("No setting raises") and sweep_verdict(3.0).startswith("Some settings")


def test_closing_sentences_turn_with_the_numbers_and_the_data():
    from types import SimpleNamespace

    from xaibook.cauliflower.experiment import class_purity, error_causes_text, occlusion_verdict, purity_text

    assert occlusion_verdict(0.5).startswith("Occlusion clusters mix right and wrong answers")
    assert "above t = 75%" in occlusion_verdict(0.9)
    # clusters 0: preds [1, 1, 0] (majority 2), 1: preds [0, 0] (majority 2): 4 of 5 images
    res = SimpleNamespace(clusters=np.array([0, 0, 0, 1, 1]), pred=np.array([1, 1, 0, 0, 0]))
    assert class_purity(res) == pytest.approx(80.0)
    assert "do not simply split" in purity_text(80.0) and "split the images by the class predicted" in purity_text(95)
    assert "simulated causes" in error_causes_text("synthetic") and "simulated" not in error_causes_text("real")


def test_adjustment_table_compares_each_set_before_and_after_on_that_same_set():
    """Each row's 'before' is the classifier's accuracy on the row's own set: validation before and
    after swapping on validation, test before and after on test. Here validation goes 70 -> 90 and
    test 80 -> 75 (the swap hurts on test). Catches a 'before' read from the reliability model's
    validation result on every row, which would make the test row 70 -> 75 and the adjustment look
    helpful on unseen images (with equal validation and test accuracies, as in a naive fixture, the
    bug is invisible)."""
    from types import SimpleNamespace

    from xaibook.cauliflower.experiment import adjustment_table
    from xaibook.cauliflower.reliability import Accuracy

    before = {"val": Accuracy(70.0, 65.0), "test": Accuracy(80.0, 78.0)}
    models = {"GradCAM": SimpleNamespace(flip=np.array([1, 3]), validation=SimpleNamespace(
        before=Accuracy(70.0, 65.0), after=Accuracy(90.0, 88.0)))}
    results = {"GradCAM": SimpleNamespace(after=Accuracy(75.0, 74.0))}
    table = adjustment_table(before, models, results)
    assert list(table.index) == [("GradCAM", "val"), ("GradCAM", "test")]
    assert table["clusters swapped"].tolist() == ["2, 4", "2, 4"]           # numbered from 1
    assert table.loc[("GradCAM", "test"), ["overall before", "overall after"]].tolist() == [80.0, 75.0]
    assert table.loc[("GradCAM", "test"), ["class avg before", "class avg after"]].tolist() == [78.0, 74.0]
    assert table.loc[("GradCAM", "val"), ["overall before", "overall after"]].tolist() == [70.0, 90.0]


def test_cluster_calibration_sets_validation_prediction_against_test_observation():
    """The reliability diagram: per cluster with test images, the reliability predicted from the
    VALIDATION table (1 - r_q) against the share right observed on TEST. Clusters without test images
    are left out. Catches the observed share read from the validation table again (every cluster on the
    diagonal whatever the test set says)."""
    from types import SimpleNamespace

    from xaibook.cauliflower.experiment import cluster_calibration

    idx = pd.RangeIndex(3, name="cluster")
    val = pd.DataFrame({"n": [20, 8, 12], "r_q": [0.1, 1.0, 0.25]}, index=idx)
    test = pd.DataFrame({"n": [10, 0, 4], "r_q": [0.3, np.nan, 0.5]}, index=idx)
    got = cluster_calibration({"GradCAM": SimpleNamespace(table=val)}, {"GradCAM": SimpleNamespace(table=test)})
    assert list(got.index) == [0, 2]                                        # cluster 1 has no test image
    np.testing.assert_allclose(got["predicted"], [0.9, 0.75])
    np.testing.assert_allclose(got["observed"], [0.7, 0.5])
    assert got["n"].tolist() == [10, 4] and (got["method"] == "GradCAM").all()


def test_farmer_table_scores_the_adjusted_answers_the_farmer_sees():
    """The farmer sees the ADJUSTED prediction and its reliability: in a swapped cluster whose original
    answers were all wrong, the swapped answers are all right and shown as reliable. Three clusters:
    A (3 images, 2 right, reliability 2/3), B (4 images all wrong before the swap, all right after,
    reliability 1), C (4 images all right, reliability 1). Band (0.9, 1]: 8 images, all right. Catches
    the original predictions scored in those bands (B's 4 wrong answers: 4 of 8 right)."""
    from types import SimpleNamespace

    from xaibook.cauliflower.experiment import farmer_table

    y_true = np.array([1, 0, 0, 0, 1, 1, 0, 1, 1, 0, 0])
    pred = np.array([1, 0, 1, 1, 0, 0, 1, 1, 1, 0, 0])
    adjusted = np.array([1, 0, 1, 0, 1, 1, 0, 1, 1, 0, 0])                # cluster B (images 3-6) swapped
    result = SimpleNamespace(pred=pred, adjusted=adjusted, reliability_adjusted=np.r_[np.full(3, 2 / 3), np.ones(8)])
    table = farmer_table(result, y_true)
    assert [str(b) for b in table.index] == ["(0.5, 0.75]", "(0.9, 1.0]"]
    assert table["test images"].tolist() == [3, 8]
    np.testing.assert_allclose(table["share right"], [2 / 3, 1.0])


def test_worst_clusters_skip_empty_clusters_and_take_the_second_largest_share():
    from types import SimpleNamespace

    from xaibook.cauliflower.experiment import worst_clusters

    # validation shares wrong per cluster; cluster 3 is empty (NaN) and must not count as worst or second
    table = pd.DataFrame({"r_q": [0.2, 0.9, 0.5, np.nan, 0.1]})
    worst, second = worst_clusters({"Grad-CAM": SimpleNamespace(table=table)})
    assert worst["Grad-CAM"] == pytest.approx(0.9)
    assert second["Grad-CAM"] == pytest.approx(0.5)
