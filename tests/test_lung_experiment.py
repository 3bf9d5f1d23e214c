"""Chapter 03_lung_sliding's analyses: metrics, the audit, patient verdicts, motion ablations and saliency
measures, each against answers worked out by hand."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from xaibook.lung import FAST, LungStandinSpec, PatchSet, binary_metrics, draw_patients, patient_verdicts
from xaibook.lung import paper as ref
from xaibook.lung.experiment import (CONFIGS, ConfigResult, History, Split, _bce, band_energy, clip_starts, fit_binary,
                                     motion_ablation, paper_claims, pleura_band_mask, roughness, split_set,
                                     verdict_accuracy)
from xaibook.lung.standin import Scene, pleura_depth_px


def test_binary_metrics_by_hand():
    y = np.array([1, 1, 1, 1, 0, 0, 0])
    p = np.array([0.9, 0.8, 0.4, 0.6, 0.7, 0.1, 0.2])     # tp 3, fn 1, fp 1, tn 2
    m = binary_metrics(y, p)
    assert m["accuracy"] == pytest.approx(5 / 7)
    assert m["sensitivity"] == pytest.approx(3 / 4) and m["specificity"] == pytest.approx(2 / 3)
    assert m["F1"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))
    assert m["balanced accuracy"] == pytest.approx((3 / 4 + 2 / 3) / 2)


def test_the_papers_numbers_imply_present_as_the_positive_class():
    # Table 1, ResNet3D-18 on all_30x30: accuracy 0.8913 = p 0.9360 + (1 - p) 0.7853 -> p = 0.7034
    p = ref.implied_prevalence(0.8913, 0.9360, 0.7853)
    assert p == pytest.approx(0.106 / 0.1507, abs=1e-4)
    assert ref.implied_f1(0.9360, 0.7853, p) == pytest.approx(0.9238, abs=2e-4)
    # with "absent" positive, sensitivity and specificity swap and the F1 would be far lower
    assert ref.implied_f1(0.7853, 0.9360, 1 - p) < 0.85


def test_audit_flags_exactly_the_inconsistent_numbers():
    failed = [c.item for c in ref.audit() if not c.consistent]
    assert failed == ["Fig. 4: 2_90x90 = present + absent",
                      "Table 5, ResNet3D-18 all_30x30: accuracy as Table 1",
                      "Sect. 4.2 vs Table 4: ResNet3D-34 on 2_60x60",
                      "Sect. 4.3 vs Table 4: ResNet3D-18 on all_90x90",
                      "Table 5's M-mode sensitivity against Sect. 2's account of Jaščur et al.",
                      "Sect. 4.2: the best 60x60 model worse than the best 30x30 model on every metric"]
    assert len(ref.TABLE4) == len(CONFIGS) == 15


def test_every_audit_check_can_fail(monkeypatch):
    """Tables edited so each inconsistent check is repaired, and each consistent one contradicted."""
    before = {c.item: c.consistent for c in ref.audit()}
    t4, t5 = ref.TABLE4.copy(), ref.TABLE5.copy()
    t5.loc[0, "accuracy"] = 0.8913
    t5.loc[3, "sensitivity"] = 0.82
    t4.loc[t4["data set"] == "2_60x60", "specificity"] = 0.70
    monkeypatch.setattr(ref, "TABLE4", t4)
    monkeypatch.setattr(ref, "TABLE5", t5)
    repaired = {c.item: c.consistent for c in ref.audit()}
    for item in ("Table 5, ResNet3D-18 all_30x30: accuracy as Table 1",
                 "Table 5's M-mode sensitivity against Sect. 2's account of Jaščur et al.",
                 "Sect. 4.2: the best 60x60 model worse than the best 30x30 model on every metric"):
        assert not before[item] and repaired[item], item
    t5.loc[3, "sensitivity"] = 0.90                                  # the 3D model's 0.936 is then 3.6 points better
    monkeypatch.setattr(ref, "CLIPS", {"present": 300, "absent": 48})
    broken = {c.item: c.consistent for c in ref.audit()}
    for item in ("Sensitivity 'more than 7.5% better' than the M-mode model",
                 "Clips: 115 present + 48 absent from 28 + 20 patients"):
        assert before[item] and not broken[item], item

def test_patient_verdicts_average_probabilities():
    v = patient_verdicts(np.array(["a", "a", "b", "b", "b"]), np.array([1, 1, 0, 0, 0]),
                         np.array([0.9, 0.3, 0.6, 0.6, 0.2]))
    assert v.loc["a", "p"] == pytest.approx(0.6) and v.loc["a", "call"] == 1
    assert v.loc["b", "p"] == pytest.approx(1.4 / 3) and v.loc["b", "call"] == 0
    assert verdict_accuracy(v) == 1.0


def test_roughness_is_one_for_white_noise_near_zero_for_smooth_maps_and_scale_free():
    rng = np.random.default_rng(0)
    noise = torch.from_numpy(rng.standard_normal((1, 20, 32, 32)))          # |N(0, 1)|: independent neighbours
    uniform = torch.from_numpy(rng.uniform(size=(1, 20, 32, 32)))
    t, h, w = np.meshgrid(np.arange(20), np.arange(32), np.arange(32), indexing="ij")
    blob = torch.from_numpy(np.exp(-((h - 16) ** 2 + (w - 16) ** 2) / 60.0 - (t - 10) ** 2 / 40.0)[None])
    r_noise, r_uniform, r_blob = roughness(noise)[0], roughness(uniform)[0], roughness(blob)[0]
    assert r_noise == pytest.approx(1.0, abs=0.02) and r_uniform == pytest.approx(1.0, abs=0.02)
    assert r_blob < 0.05
    assert roughness(torch.ones(1, 4, 5, 5))[0] == 0.0
    assert roughness(3.0 * noise)[0] == pytest.approx(r_noise)
    half = 0.5 * noise + 0.5 * blob / blob.std() * noise.abs().std()        # structure plus noise: in between
    assert r_blob < roughness(half)[0] < r_noise


def test_pleura_band_and_its_energy_by_hand():
    depth = np.array([3.0, 4.0])                 # the pleura's row in two frames (unified px)
    mask = pleura_band_mask(depth, top=2, patch=4, half_px=0.5)     # rows 2..5
    assert mask[0, :, 0].tolist() == [False, True, False, False]    # row 3
    assert mask[1, :, 0].tolist() == [False, False, True, False]    # row 4
    maps = torch.zeros(1, 2, 4, 4)
    maps[0, 0, 1] = 1.0
    maps[0, 1, 0] = 1.0
    share, area = band_energy(maps, mask[None])
    assert share[0] == pytest.approx(0.5) and area[0] == pytest.approx(0.25)


def test_clip_starts_count_clips_per_video():
    assert clip_starts(["a", "a", "b", "a", "b"], 60).tolist() == [0, 60, 0, 120, 60]


def test_pleura_depth_follows_the_rendered_pleural_line():
    spec = LungStandinSpec(n_present=1, n_absent=0, scale=0.5, chest_wall_mm=(0.8, 0.8), hand_drift_mm=0.0,
                           b_lines_mean=0.0)
    p = draw_patients(spec, seed=3)[0]
    scene = Scene(p, spec)
    n = 12
    depth = pleura_depth_px(p, spec, p.fps, n)
    m = scene.motion(np.arange(int(round(p.seconds * p.fps))) / p.fps)
    roi = scene.roi()
    for k in (0, n - 1):
        profile = scene.frame(k, m)[:, (roi["left"] + roi["right"]) // 2]
        brightest = np.argmax(profile[roi["top"] - 5: roi["bottom"]]) + roi["top"] - 5
        assert abs(brightest - depth[k]) <= 1.5


class _MotionDetector(nn.Module):
    """Logit = 50 (mean |frame difference| - 0.05): calls 'present' exactly when the clip moves."""

    def forward(self, x):
        return 50 * (x.diff(dim=2).abs().mean(dim=(1, 2, 3, 4)) - 0.05)[:, None]


def test_motion_ablation_flips_every_present_call_of_a_motion_detector():
    rng = np.random.default_rng(0)
    moving = rng.integers(0, 255, (4, 60, 4, 4)).astype(np.uint8)
    still = np.repeat(moving[:, :1], 60, axis=1)
    patches = np.concatenate([moving, still])
    s = PatchSet("toy", patches, np.array([1] * 4 + [0] * 4), np.array(["p"] * 8, dtype=object), np.arange(8),
                 np.zeros(8, int))
    cfg = dataclasses.replace(FAST, frame_stride=1)
    model = _MotionDetector()
    from xaibook.lung.experiment import predict, to_input
    p = predict(model, to_input(patches, cfg))
    r = ConfigResult(18, "toy", model, History(), Split(np.arange(0), np.arange(0), np.arange(8)), p,
                     binary_metrics(s.y, p), 0.0)
    out = motion_ablation(r, s, cfg, seed=0)
    assert out["present (real clips)"] == 0.5 and out["present (frozen)"] == 0.0
    assert out["flipped to absent (frozen)"] == 1.0


def test_split_set_keeps_patients_apart_and_caps_sizes():
    patients = np.array([f"P{i % 10}" for i in range(200)], dtype=object)
    s = PatchSet("toy", np.zeros((200, 2, 1, 1), np.uint8), np.arange(200) % 2, patients, np.arange(200),
                 np.zeros(200, int))
    split = {f"P{i}": ("test" if i < 3 else "train") for i in range(10)}
    cfg = dataclasses.replace(FAST, max_train=50, max_test=40)
    sp = split_set(s, split, {"P3", "P4"}, cfg, seed=0)
    assert len(sp.train) == 50 and len(sp.test) == 40 and len(sp.val) == 20
    assert set(patients[sp.test]) <= {"P0", "P1", "P2"} and set(patients[sp.val]) == {"P3", "P4"}
    assert not set(patients[sp.train]) & {"P0", "P1", "P2", "P3", "P4"}


def test_fit_binary_learns_and_keeps_the_best_validation_epoch():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 3, generator=g)
    y = (x[:, 0] > 0).long()
    model = nn.Sequential(nn.Linear(3, 1))
    hist = fit_binary(model, (x[:192], y[:192]), (x[192:], y[192:]), epochs=6, batch_size=32, lr=0.05, l2=0.0,
                      generator=torch.Generator().manual_seed(1))
    assert hist.best_epoch == int(np.argmin(hist.val_loss))
    with torch.no_grad():
        acc = ((model(x[192:])[:, 0] > 0).long() == y[192:]).float().mean().item()
    assert acc > 0.9


@pytest.mark.parametrize("precise", [False, True])
def test_fit_binary_precise_bn_evaluates_with_the_training_sets_statistics(precise):
    """With ``precise_bn`` the kept network's batch norm holds the mean over the training set's batches of 128 of
    its input's batch mean and (unbiased) variance under the final weights; without it, the running averages
    that lag the weights (momentum 0.1), which differ from those."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 3, generator=g) * 2 + 1
    y = (x[:, 0] > 1).long()
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 1))
    hist = fit_binary(model, (x[:256], y[:256]), (x[256:], y[256:]), epochs=3, batch_size=32, lr=0.05, l2=0.0,
                      generator=torch.Generator().manual_seed(1), precise_bn=precise)
    assert not model.training and hist.steps == 3 * 8
    with torch.no_grad():
        h = model[0](x[:256])
    batches = [h[i:i + 128] for i in (0, 128)]
    mean = torch.stack([b.mean(0) for b in batches]).mean(0)
    var = torch.stack([b.var(0, unbiased=True) for b in batches]).mean(0)
    bn = model[1]
    if precise:
        torch.testing.assert_close(bn.running_mean, mean, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(bn.running_var, var, rtol=1e-5, atol=1e-6)
        assert bn.momentum == 0.1                       # the training momentum is restored
    else:
        assert (bn.running_mean - mean).abs().max() > 1e-3


def test_fit_binary_on_epoch_sees_each_epochs_measured_network_and_changes_nothing():
    """``on_epoch(epoch, model)`` runs once per epoch on the network whose validation loss was just recorded
    (eval mode, statistics recomputed), and a run with it keeps the same weights as a run without it."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 3, generator=g) * 2 + 1
    y = (x[:, 0] > 1).long()

    def run(on_epoch=None):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 1))
        hist = fit_binary(model, (x[:256], y[:256]), (x[256:], y[256:]), epochs=3, batch_size=32, lr=0.05, l2=0.0,
                          generator=torch.Generator().manual_seed(1), precise_bn=True, on_epoch=on_epoch)
        return model, hist

    seen = []
    model, hist = run(lambda epoch, m: seen.append((epoch, m.training, _bce(m, x[256:], y[256:].float()))))
    assert [(epoch, training) for epoch, training, _ in seen] == [(0, False), (1, False), (2, False)]
    assert [loss for *_, loss in seen] == hist.val_loss
    plain, plain_hist = run()
    assert plain_hist.val_loss == hist.val_loss and plain_hist.best_epoch == hist.best_epoch
    for key, value in plain.state_dict().items():
        assert torch.equal(value, model.state_dict()[key]), key


def _table(acc: dict[tuple[int, str], float], sens=0.9, spec=0.5) -> pd.DataFrame:
    return pd.DataFrame([{"model": f"ResNet3D-{d}", "data set": n, "accuracy": acc.get((d, n), 0.6),
                          "sensitivity": sens, "specificity": spec, "F1": 0.8} for d, n in CONFIGS])


def test_paper_claims_hold_on_the_papers_own_table_and_fail_when_reversed():
    """On the paper's own Table 4 every claim of the paper holds (the M-mode model: Jaščur et al.'s numbers,
    their 0.89 read as accuracy here); reversed inputs fail them."""
    paper_table = ref.TABLE4
    mm = {"accuracy": 0.85, "sensitivity": 0.86, "specificity": 0.92}
    checks = {c.key: c for c in paper_claims(paper_table, mm, 0.5, 0.8, 0.6, 0.3)}
    assert all(c.holds for c in checks.values()), [k for k, c in checks.items() if not c.holds]
    assert {c.resolution for c in checks.values()} == {0.02}
    assert checks["best_config"].margin == pytest.approx(0.8913 - 0.8849)
    assert checks["depth_hurts_at_90"].margin == pytest.approx(min(0.8815 - 0.8419, 0.8419 - 0.8267))
    assert checks["r18_worst_on_2_30"].margin == pytest.approx(0.7953 - 0.7047)
    assert checks["r34_best_on_2_60"].margin == pytest.approx(0.8596 - 0.7978)
    assert checks["r50_best_on_all_60"].margin == pytest.approx(0.7909 - 0.6970)
    assert checks["best60_below_best30"].margin == pytest.approx(0.8913 - 0.8596)
    assert checks["90_beats_all_60"].margin == pytest.approx((0.8815 + 0.8419 + 0.8267 - 0.6848 - 0.6970 - 0.7909) / 3)
    assert checks["3d_beats_mmode_acc"].margin == pytest.approx(0.8913 - 0.85)
    assert checks["saliency_on_pleura"].margin == pytest.approx(0.3)          # trained 0.6 against untrained 0.3
    assert checks["saliency_on_pleura"].source.startswith("beyond the paper")
    worse = paper_claims(paper_table, {"accuracy": 0.95, "sensitivity": 0.99, "specificity": 0.5}, 0.8, 0.5, 0.2, 0.3)
    assert [c.key for c in worse if not c.holds] == ["3d_beats_mmode_acc", "3d_vs_mmode", "smoothgrad_less_noisy",
                                                     "saliency_on_pleura"]
    flat = {c.key: c for c in paper_claims(_table({(18, "all_30x30"): 0.7, (50, "all_90x90"): 0.9}),
                                           {"accuracy": 0.6, "sensitivity": 0.8, "specificity": 0.6}, 0.5, 0.8, 0.6,
                                           0.3)}
    assert not flat["best_config"].holds and not flat["depth_hurts_at_90"].holds
    assert not flat["r18_worst_on_2_30"].holds and flat["r18_worst_on_2_30"].margin == 0


def test_the_untrained_twin_is_the_trained_networks_starting_point_and_leaves_the_rng_alone():
    from xaibook.lung.experiment import untrained_twin

    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a, b = untrained_twin(18, FAST, 0), untrained_twin(18, FAST, 0)
    assert torch.equal(torch.rand(1), before)                       # the caller's stream is untouched
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters())) and not a.training
    torch.manual_seed(0 * 1000 + 18)                                 # what run_config seeds before building it
    from xaibook.models.resnet3d import ResNet3D
    ref_model = ResNet3D(18, 1, 1, FAST.width)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), ref_model.parameters()))


def test_closing_sentences_follow_the_run():
    """The closing section's sentences turn with the numbers: motion, smoothness and the pleura control."""
    from xaibook.lung.experiment import chapter_summary

    table = _table({(18, "all_30x30"): 0.9})
    table["best epoch"] = [1, 2, 3] * 5
    hist = History()
    hist.steps = 140
    results = [ConfigResult(d, n, None, hist, Split(np.arange(0), np.arange(0), np.arange(0)), np.zeros(0), {}, 0.0)
               for d, n in CONFIGS]
    ablation = pd.DataFrame({"flipped to absent (frozen)": [0.8], "flipped to absent (shuffled)": [0.1]})
    med = {"roughness": {"vanilla": 0.9, "SmoothGrad": 0.3}, "band": {"vanilla": 0.5, "SmoothGrad": 0.5},
           "band_area": 0.375, "control": {"vanilla": 0.45, "SmoothGrad": 0.49}}
    mm = {"accuracy": 0.8, "balanced accuracy": 0.75}
    out = chapter_summary(table, results, mm, ablation, pd.Series([0.8]), med, 16, {"all_30x30": 8, "2_60x60": 15})
    assert out["top_config"] == "ResNet3D-18 on all_30x30" and out["steps_max"] == 140
    assert out["motion_text"].startswith("a still clip flips many more") and out["patient_points"] == 6.25
    assert out["smooth_text"].startswith("SmoothGrad's maps are smoother") and out["patch_sizes"] == "8, 15"
    assert out["pleura_text"].endswith("no more than the architecture alone puts there")
    ablation.iloc[0] = [0.3, 0.25]
    med["roughness"]["SmoothGrad"] = 0.9
    med["control"]["SmoothGrad"] = 0.2
    out = chapter_summary(table, results, mm, ablation, pd.Series([0.8]), med, 16, {"all_30x30": 30})
    assert out["motion_text"].startswith("a still clip flips about as many")
    assert out["smooth_text"].startswith("SmoothGrad's maps are not smoother")
    assert out["pleura_text"].endswith("training moved the saliency towards the pleura")
    assert "8" not in out["patch_sizes"]


def test_training_cost_is_three_forward_passes_per_patch_and_epoch(monkeypatch):
    import xaibook.lung.experiment as E

    monkeypatch.setattr(E, "forward_flops", lambda depth, patch, frames, width: 1e9 * depth)
    counts = pd.DataFrame({"patches": [1000] * 6}, index=["2_30x30", "all_30x30", "2_60x60", "all_60x60", "2_90x90",
                                                            "all_90x90"])
    cost = E.training_cost(counts, E.PAPER, tflops=1.0)
    row = cost[(cost["model"] == "ResNet3D-34") & (cost["data set"] == "2_60x60")].iloc[0]
    assert row["training patches"] == 560                             # 1000 x 0.7 x 0.8
    assert row["training PFLOP"] == pytest.approx(3 * 34e9 * 560 * 16 / 1e15)
    assert row["minutes"] == pytest.approx(3 * 34e9 * 560 * 16 / 1e12 / 60)


def test_forward_flops_grow_with_the_clip():
    from xaibook.lung.experiment import forward_flops

    small, large = forward_flops(18, 30), forward_flops(18, 60)
    assert 3.5 < large / small < 4.5                                   # 4x the pixels, about 4x the work
    assert forward_flops(18, 30, width=32) < small / 3                 # a half-width network: about a quarter
    assert forward_flops(50, 8, frames=20, width=8) > 0                # the fast profile's smallest clip (1x1x1 deep)


def test_cohort_split_holds_out_training_patients_of_both_classes():
    from xaibook.lung.experiment import split_cohort

    table = pd.DataFrame({"patient": [f"P{i:02d}" for i in range(48)], "y": [1] * 28 + [0] * 20})
    cohort = split_cohort(table, FAST, seed=4)
    test = {p for p, side in cohort.side.items() if side == "test"}
    assert cohort.n_test == len(test) == round(0.3 * 28) + round(0.3 * 20)
    assert not cohort.val_patients & test
    val_labels = table.set_index("patient").loc[sorted(cohort.val_patients), "y"]
    assert sorted(val_labels.value_counts().to_dict().items()) == [(0, round(0.2 * 14)), (1, round(0.2 * 20))]


def test_table5_takes_the_papers_three_picks_and_the_mmode_model():
    from xaibook.lung.experiment import table5

    acc = {(d, n): 0.5 + 0.01 * i for i, (d, n) in enumerate(CONFIGS)}
    t5 = table5(_table(acc), {"accuracy": 0.8, "sensitivity": 0.7, "specificity": 0.9, "F1": 0.75})
    assert t5["accuracy"].tolist() == pytest.approx([acc[(18, "all_30x30")], acc[(34, "2_60x60")],
                                                     acc[(18, "all_90x90")], 0.8])
    assert t5["model"].iloc[-1] == "ResNet-18 (M-mode)"


def test_table4_offers_accuracy_for_all_and_the_rest_for_table5_only(tmp_path):
    from xaibook.book.claims import Scorecard
    from xaibook.lung.experiment import record_table4

    results = [ConfigResult(d, n, None, History(), Split(np.arange(0), np.arange(0), np.arange(0)), np.zeros(0),
                            {"accuracy": 0.8, "sensitivity": 0.9, "specificity": 0.6, "F1": 0.85}, 0.0)
               for d, n in CONFIGS]
    card = Scorecard("03_lung_sliding", profile="paper", data="real", seed=0, results_dir=tmp_path)
    record_table4(card, results, ref.TABLE4.set_index(["model", "data set"]))
    assert len(card.numbers) == 60 and card.numbers["acc_r18_all_30x30"].paper == pytest.approx(89.13)
    assert card.numbers["sens_r34_2_60x60"].gated and not card.numbers["sens_r50_2_60x60"].gated


def test_saliency_record_without_the_simulators_truth_has_roughness_only(tmp_path):
    from xaibook.book.claims import Scorecard
    from xaibook.lung.experiment import SaliencyStudy, record_saliency

    study = SaliencyStudy(np.arange(2), torch.zeros(2, 1, 3, 4, 4), torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 4),
                          {"vanilla": np.array([0.8, 1.0]), "SmoothGrad": np.array([0.2, 0.4])})
    card = Scorecard("03_lung_sliding", profile="paper", data="real", seed=0, results_dir=tmp_path)
    frame = record_saliency(card, study)
    assert sorted(card.numbers) == ["roughness_smoothgrad", "roughness_vanilla"]
    assert card.numbers["roughness_vanilla"].ours == pytest.approx(0.9) and list(frame.columns) == ["roughness (median)"]
    assert np.isnan(study.medians()["band_area"])


def test_binary_metrics_known_answer():
    """8 clips, 5 present: 4 found (1 missed), 2 of 3 absent right (1 false alarm)."""
    from xaibook.lung.experiment import binary_metrics

    y = np.array([1, 1, 1, 1, 1, 0, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.2, 0.1, 0.3, 0.55])
    m = binary_metrics(y, p)
    assert m["sensitivity"] == pytest.approx(4 / 5) and m["specificity"] == pytest.approx(2 / 3)
    assert m["precision"] == pytest.approx(4 / 5) and m["accuracy"] == pytest.approx(6 / 8)
    assert m["F1"] == pytest.approx(2 * 4 / (2 * 4 + 1 + 1))
    m2 = binary_metrics(np.array([1, 1, 0, 0]), np.array([0.9, 0.9, 0.9, 0.1]))
    assert m2["sensitivity"] == 1.0 and m2["precision"] == pytest.approx(2 / 3)      # they differ here


def test_predict_returns_probabilities_not_logits():
    from torch import nn

    from xaibook.lung.experiment import predict

    class Logit(nn.Module):
        def forward(self, x):
            return x.flatten(1)[:, :1] * 10.0                  # logits far outside [0, 1]

    p = predict(Logit(), torch.tensor([[1.0], [-1.0], [0.0]]))
    np.testing.assert_allclose(p, [1 / (1 + np.exp(-10)), 1 / (1 + np.exp(10)), 0.5], rtol=1e-6)


def _tiny_result(split: Split, p_test: np.ndarray, channels: int) -> ConfigResult:
    """A trained configuration on "all_8x8" whose network is one seeded 3D convolution, tanh, pooling and a
    logit: enough for saliency_study to take gradients through."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv3d(1, channels, 3, padding=1), nn.Tanh(), nn.AdaptiveAvgPool3d(1), nn.Flatten(),
                          nn.Linear(channels, 1))
    return ConfigResult(depth=18, data_set="all_8x8", model=model, history=History(), split=split, p_test=p_test,
                        metrics={}, seconds=0.0)


def test_saliency_study_explains_data_set_patches_picked_through_the_test_split():
    """Known indices: the test split is [2, 3, 5, 6, 7] of the data set; of those, 3, 6 and 7 are present at the
    pleura and 6 is called absent, so the study explains data-set patches 3 and 7 (not positions 1 and 4 of the
    split), and SmoothGrad's noise makes its maps differ from vanilla gradients."""
    from xaibook.lung.experiment import saliency_study, to_input

    rng = np.random.default_rng(0)
    n, frames, side = 8, 8, 8
    s = PatchSet("all_8x8", rng.integers(0, 256, (n, frames, side, side), dtype=np.uint8),
                 y=np.array([1, 1, 0, 1, 0, 0, 1, 1]), patient=np.zeros(n, int), clip=np.zeros(n, int),
                 row=np.array([0, 0, 0, 0, 1, 0, 0, 0]))
    cfg = dataclasses.replace(FAST, frame_stride=1, smoothgrad_samples=4, saliency_patches=10, batch_size=4)
    r = _tiny_result(Split(train=np.array([0, 1]), val=np.array([4]), test=np.array([2, 3, 5, 6, 7])),
                     np.array([0.9, 0.8, 0.7, 0.2, 0.6]), channels=4)
    study = saliency_study(r, s, clips=None, cfg=cfg)
    assert study.index.tolist() == [3, 7]
    assert bool((study.smooth >= 0).all())                     # the mean of absolute gradients (tf-keras-vis)
    assert torch.equal(study.inputs, to_input(s.patches[[3, 7]], cfg))
    assert not torch.allclose(study.smooth, study.vanilla, atol=1e-6)


def test_saliency_study_places_each_band_at_its_own_clips_time_in_the_video(monkeypatch):
    """The pleura moves through a video (breathing, pulse, the hand); a patch of the video's second clip must
    get the pleura's depth in frames 60-119, not that of the first two seconds. With a pleura whose depth (px)
    equals the frame index, the band of a patch from clip 1 of video "a" sits at depths 60, 61, ... and one
    from clip 0 at 0, 1, ... (unified size = video size; frame_stride 2 keeps every other frame)."""
    import types

    import xaibook.lung.experiment as ex
    import xaibook.lung.standin as standin
    from xaibook.lung.experiment import saliency_study

    frames, side = 60, 8
    monkeypatch.setattr(standin, "pleura_depth_px", lambda p, spec, fps, n: np.arange(n, dtype=float))
    seen = []

    def band(depth, top, patch, half):
        seen.append(np.asarray(depth).copy())
        mask = np.zeros((len(depth), patch, patch), bool)
        mask[:, 0] = True
        return mask

    monkeypatch.setattr(ex, "pleura_band_mask", band)
    cfg = dataclasses.replace(FAST, frame_stride=2, smoothgrad_samples=2, saliency_patches=10, batch_size=4)
    spec = types.SimpleNamespace(frame_size=lambda width: cfg.size)
    patient = types.SimpleNamespace(width=1.0, depth_mm=50.0)
    clips = types.SimpleNamespace(files=["a.mp4", "a.mp4"], rois=[{"top": 10}, {"top": 10}])
    rng = np.random.default_rng(0)
    s = PatchSet("all_8x8", rng.integers(0, 256, (2, frames, side, side), dtype=np.uint8), y=np.array([1, 1]),
                 patient=np.zeros(2, int), clip=np.array([1, 0]), row=np.array([0, 0]))
    r = _tiny_result(Split(train=np.array([], int), val=np.array([], int), test=np.array([0, 1])),
                     np.array([0.9, 0.9]), channels=2)
    saliency_study(r, s, clips, cfg, truth=(spec, {"a.mp4": patient}))
    assert [d.tolist() for d in seen] == [list(range(60, 120, 2)), list(range(0, 60, 2))]


def test_energy_per_frame_is_each_frames_share_averaged_over_patches():
    """Known answer: patch 1 has all its |gradient| in frame 2 of 3, patch 2 splits it 1:3 between frames 0 and
    1; the curve through the clip is the mean of the shares, [1/8, 3/8, 1/2], one value per FRAME (not per row)."""
    from xaibook.lung.experiment import SaliencyStudy

    maps = torch.zeros(2, 3, 4, 5)
    maps[0, 2, 1, 1] = -2.0                       # absolute values: a negative gradient is energy too
    maps[1, 0, 3, 4], maps[1, 1, 0, 0] = 1.0, 3.0
    study = SaliencyStudy(np.arange(2), torch.zeros(2, 1, 3, 4, 5), vanilla=maps, smooth=maps.flip(1), roughness={})
    np.testing.assert_allclose(study.per_frame("vanilla"), [1 / 8, 3 / 8, 1 / 2])
    np.testing.assert_allclose(study.per_frame("SmoothGrad"), [1 / 2, 3 / 8, 1 / 8])


def test_mmode_baseline_trains_validates_and_tests_on_the_3d_models_patients(monkeypatch):
    """The M-mode network keeps the 3D models' patient split: it trains on the training side minus the
    validation patients, picks its checkpoint on those patients alone and is tested on the test side. Four
    patients, one M-mode image each per clip; image k's pixels all equal k so each set can be read back."""
    import types

    import xaibook.lung.experiment as ex

    clip_id = np.array([0, 1, 2, 3, 4, 5])               # patients: P0 P0 P1 P2 P3 P3
    x = np.broadcast_to(np.arange(6, dtype=np.float32)[:, None, None], (6, 4, 4)).copy()
    monkeypatch.setattr(ex, "m_mode_images", lambda clips, cfg: (x, np.array([1, 0, 1, 0, 1, 0]), clip_id))
    seen = {}

    def fake_fit(model, train, val, **kw):
        seen["train"], seen["val"] = train[0][:, 0, 0, 0], val[0][:, 0, 0, 0]
        return History()

    monkeypatch.setattr(ex, "fit_binary", fake_fit)
    monkeypatch.setattr(ex, "predict", lambda model, xt, device="cpu": np.full(len(xt), 0.7))
    clips = types.SimpleNamespace(patients=["P0", "P0", "P1", "P2", "P3", "P3"])
    side = {"P0": "train", "P1": "train", "P2": "test", "P3": "train"}
    result = ex.run_mmode(clips, side, {"P1"}, FAST, seed=0)
    read = lambda t: (t * 0.25 + 0.5).round().int().tolist()       # noqa: E731  (undo the (x - 0.5) / 0.25 input)
    assert read(seen["train"]) == [0, 1, 4, 5] and read(seen["val"]) == [2]
    assert result.test_clips.tolist() == [3] and result.y_test.tolist() == [0]


def test_verdict_table_averages_each_patients_test_patches_and_clips():
    """Three Table-5 configurations on one toy set of 6 patches from 3 patients (a, b present; c absent):
    patch probabilities chosen so that the per-patient means call a right, b wrong and c right (2 of 3);
    the M-mode model's clips call all three right."""
    from types import SimpleNamespace

    from xaibook.lung.experiment import MModeResult, TABLE5, verdict_table

    patient = np.array(["a", "a", "b", "b", "c", "c"], dtype=object)
    y = np.array([1, 1, 1, 1, 0, 0])
    s = PatchSet("toy", np.zeros((6, 1, 1, 1), np.uint8), y, patient, np.arange(6), np.zeros(6, int))
    p = np.array([0.9, 0.3, 0.4, 0.5, 0.2, 0.6])          # a 0.6 right, b 0.45 wrong, c 0.4 right
    split = Split(np.arange(0), np.arange(0), np.arange(6))
    results = [ConfigResult(d, n, None, History(), split, p, {}, 0.0) for d, n in TABLE5]
    sets = {n: s for _, n in TABLE5}
    clips = SimpleNamespace(patients=["a", "b", "c", "c"])
    mmode = MModeResult(None, History(), np.array([0, 1, 2, 3]), np.array([1, 1, 0, 0]),
                        np.array([0.7, 0.8, 0.1, 0.6]), {})             # c: mean 0.35, right
    out = verdict_table(results, sets, clips, mmode)
    assert out.iloc[:3].tolist() == pytest.approx([2 / 3] * 3) and out["ResNet-18 M-mode"] == 1.0


def test_run_config_trains_the_stated_steps_and_reproduces_per_seed():
    """A ResNet3D-18 of width 2 on 12 random 8x8 patches, one epoch of one step: one optimiser step is
    counted, every test patch gets a probability, and the same seed gives the same probabilities."""
    from xaibook.lung.experiment import run_config

    rng = np.random.default_rng(0)
    s = PatchSet("toy", rng.integers(0, 256, (12, 6, 8, 8), dtype=np.uint8), np.array([0, 1] * 6),
                 np.array(["p"] * 12, dtype=object), np.arange(12), np.zeros(12, int))
    split = Split(train=np.arange(6), val=np.arange(6, 9), test=np.arange(9, 12))
    cfg = dataclasses.replace(FAST, width=2, epochs=1, max_steps=1, batch_size=4, frame_stride=2)
    a = run_config(18, "toy", s, split, cfg, seed=3)
    b = run_config(18, "toy", s, split, cfg, seed=3)
    assert a.history.steps == 1 and a.history.best_epoch == 0 and len(a.p_test) == 3
    np.testing.assert_array_equal(a.p_test, b.p_test)
    assert set(a.metrics) >= {"accuracy", "sensitivity", "specificity", "F1", "balanced accuracy"}


def _toy_study():
    """A width-2 ResNet3D-18 trained one step on 12 random 8-frame 8x8 patches, and a study of its first two test patches."""
    from xaibook.lung.experiment import SaliencyStudy, run_config, to_input

    rng = np.random.default_rng(0)
    s = PatchSet("toy", rng.integers(0, 256, (12, 8, 8, 8), dtype=np.uint8), np.array([0, 1] * 6),
                 np.array(["p"] * 12, dtype=object), np.arange(12), np.zeros(12, int))
    split = Split(train=np.arange(6), val=np.arange(6, 9), test=np.arange(9, 12))
    cfg = dataclasses.replace(FAST, width=2, epochs=1, max_steps=1, batch_size=4, frame_stride=1,
                              smoothgrad_samples=2, sanity_patches=2)
    r = run_config(18, "toy", s, split, cfg, seed=3)
    x = to_input(s.patches[[9, 10]], cfg)
    study = SaliencyStudy(np.array([9, 10]), x, x[:, 0], x[:, 0], {})
    return s, split, cfg, r, study


def test_label_check_averages_over_its_permutations_the_first_seeded_by_the_seed():
    """Known answer: with 3 permutations the table is the mean over (permutation, patch) pairs of the comparisons
    with the networks trained on each permutation, the k-th permuted by ``draw_seed(seed, k)`` (the first by
    ``seed`` itself, as with one permutation), and the returned run is the first permutation's."""
    from xaibook.lung.experiment import label_check, run_config, study_maps
    from xaibook.saliency.sanity import MEASURES, draw_seed, similarity

    s, split, cfg, r, study = _toy_study()
    one, first = label_check(r, s, study, dataclasses.replace(cfg, label_shuffles=1), seed=3)
    three, first3 = label_check(r, s, study, dataclasses.replace(cfg, label_shuffles=3), seed=3)
    np.testing.assert_array_equal(first.p_test, first3.p_test)
    seen = np.concatenate([split.train, split.val])
    ref_maps = study_maps(r.model, study.inputs, cfg)
    by_hand = {m: [] for m in ref_maps}
    for k in range(3):
        y = s.y.copy()
        y[seen] = s.y[seen][np.random.default_rng(draw_seed(3, k)).permutation(len(seen))]
        twin = run_config(18, "toy", dataclasses.replace(s, y=y), split, cfg, 3)
        for m, maps in study_maps(twin.model, study.inputs, cfg).items():
            by_hand[m].append(similarity(ref_maps[m], maps))
    for m, frames in by_hand.items():
        expected = pd.concat(frames, ignore_index=True)[list(MEASURES)].mean()
        np.testing.assert_allclose(three.loc[m, list(MEASURES)].to_numpy(float), expected.to_numpy(float), atol=1e-12)
        first_only = frames[0][list(MEASURES)].mean()
        np.testing.assert_allclose(one.loc[m, list(MEASURES)].to_numpy(float), first_only.to_numpy(float), atol=1e-12)
    with pytest.raises(ValueError, match="label_shuffles"):
        label_check(r, s, study, dataclasses.replace(cfg, label_shuffles=0), seed=3)


def test_sanity_check_reads_the_last_step_from_the_mean_over_its_draws():
    """The fully randomised network is drawn ``sanity_draws`` times: the last step is the mean over the draws
    (draw 0 the cascade's own, then ``draw_seed``), the earlier steps are the one-draw table's."""
    from xaibook.lung.experiment import sanity_check, study_maps
    from xaibook.models import randomisation_cascade
    from xaibook.saliency.sanity import draw_seed, randomised, similarity

    s, split, cfg, r, study = _toy_study()
    one = sanity_check(r, study, dataclasses.replace(cfg, sanity_draws=1), seed=3)
    four = sanity_check(r, study, dataclasses.replace(cfg, sanity_draws=4), seed=3)
    last = one["randomised down to"].iloc[-1]
    earlier = one["randomised down to"] != last
    pd.testing.assert_frame_equal(one[earlier].reset_index(drop=True), four[earlier].reset_index(drop=True))
    layers = randomisation_cascade(r.model)
    ref_maps = study_maps(r.model, study.inputs, cfg)
    vals = [one.loc[~earlier & (one["map"] == "vanilla"), "Spearman |map|"].item()]
    for d in range(1, 4):
        maps = study_maps(randomised(r.model, layers, draw_seed(3, d)), study.inputs, cfg)
        vals.append(similarity(ref_maps["vanilla"], maps["vanilla"])["Spearman |map|"].mean())
    got = four.loc[(four["randomised down to"] == last) & (four["map"] == "vanilla"), "Spearman |map|"].item()
    assert got == pytest.approx(np.mean(vals), abs=1e-12)
    assert abs(got - vals[0]) > 1e-6                          # the draws differ: the mean is not draw 0's


def test_saliency_medians_are_medians_not_means():
    """Roughness over three patches 0.1, 0.2, 0.9 (one rough outlier): the median is 0.2, the mean 0.4.
    The claim 'SmoothGrad is less noisy' and the scorecard quote the median. Catches a mean."""
    from xaibook.lung.experiment import SaliencyStudy

    study = SaliencyStudy(np.arange(3), torch.zeros(3, 1, 2, 2, 2), torch.zeros(3, 2, 2, 2), torch.zeros(3, 2, 2, 2),
                          {"vanilla": np.array([0.1, 0.2, 0.9]), "SmoothGrad": np.array([0.1, 0.1, 0.7])},
                          band_share={"vanilla": np.array([0.3, 0.0, 0.6]), "SmoothGrad": np.array([0.5, 0.2, 0.2])},
                          band_area=np.array([0.1, 0.4, 0.25]))
    med = study.medians()
    assert med["roughness"] == pytest.approx({"vanilla": 0.2, "SmoothGrad": 0.1})
    assert med["band"] == pytest.approx({"vanilla": 0.3, "SmoothGrad": 0.2})
    assert med["band_area"] == pytest.approx(0.25)


def test_3d_vs_mmode_margin_is_the_smaller_of_both_gaps_each_positive_when_it_holds():
    """The best 3D model (ResNet3D-18 on all_30x30: sensitivity 0.936, specificity 0.7853) against an M-mode
    model at sensitivity 0.86, specificity 0.92: both halves hold, margin min(0.076, 0.1347) = 0.076.
    Against 0.80 / 0.80: min(0.136, 0.0147) = 0.0147, the specificity gap binding. Catches a specificity
    gap taken the wrong way round (M-mode minus 3D flipped: margins -0.1347 and -0.0147 for a claim that holds)."""
    for mm, want in (({"accuracy": 0.85, "sensitivity": 0.86, "specificity": 0.92}, 0.936 - 0.86),
                     ({"accuracy": 0.85, "sensitivity": 0.80, "specificity": 0.80}, 0.80 - 0.7853)):
        claim = {c.key: c for c in paper_claims(ref.TABLE4, mm, 0.5, 0.8, 0.6, 0.3)}["3d_vs_mmode"]
        assert claim.holds and claim.margin == pytest.approx(want)
    worse = {c.key: c for c in paper_claims(ref.TABLE4, {"accuracy": 0.85, "sensitivity": 0.86, "specificity": 0.70},
                                            0.5, 0.8, 0.6, 0.3)}["3d_vs_mmode"]
    assert not worse.holds and worse.margin == pytest.approx(0.70 - 0.7853)


def test_mmode_images_read_the_column_from_half_a_region_above_it_to_its_bottom():
    """One 9-frame clip of 12x12 px, pixel value 16 row + column + 7 t; region rows 4-10, columns 0-12.
    Two M-mode lines at the interior points of linspace(0, 11, 4): columns 4 and 7. Each image runs from
    half a region-height (3 rows) above the region, row 1, to its bottom, row 9: 9 rows x 9 frames, resized
    to 9 x 9 (unchanged). Catches an image that starts at the region's top (the chest wall dropped), columns
    at the region's edges, or the image transposed (time down the rows)."""
    from types import SimpleNamespace

    from xaibook.lung.experiment import m_mode_images

    t, r, c = np.meshgrid(np.arange(9), np.arange(12), np.arange(12), indexing="ij")
    clip = (16 * r + c + 7 * t).astype(np.uint8)
    clips = SimpleNamespace(clips=[clip], rois=[{"top": 4, "bottom": 10, "left": 0, "right": 12}], y=[1])
    x, y, clip_id = m_mode_images(clips, dataclasses.replace(FAST, mmode_columns=2, mmode_size=9))
    assert x.shape == (2, 9, 9) and y.tolist() == [1, 1] and clip_id.tolist() == [0, 0]
    for image, col in zip(x, (4, 7)):
        rows, frames = np.meshgrid(np.arange(1, 10), np.arange(9), indexing="ij")
        np.testing.assert_allclose(image, (16 * rows + col + 7 * frames) / 255.0, atol=1e-5)
