"""Chapter 01_foam: the stand-in, the data layout and its errors, and the chapter's analyses."""
from __future__ import annotations

import shutil

import numpy as np
import torch
import pandas as pd
import pytest

from xaibook.foam import (CLASSES, FAST, TABLE1, THRESHOLDS_MM, FoamDataError, StandinSpec, adjacent_error_share,
                          box_masks, ensure_standin, factor_effects, foam_class, load_images, load_manifest,
                          make_splits, moving_average_f1, ranked_confusions, simulate_run, table2,
                          threshold_error_share, write_standin)
from xaibook.foam.paper import audit
from xaibook.foam.standin import expert_label

TINY = StandinSpec(image_size=32, smartphone_interval_s=60.0, action_camera_interval_s=200.0, dense_runs=(8,))


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    root = tmp_path_factory.mktemp("foam") / "data"
    return write_standin(root, TINY, seed=7)


def test_table1_is_a_full_factorial_in_the_papers_run_order():
    assert sorted(TABLE1["run_order"]) == list(range(1, 9))
    assert len(TABLE1.drop_duplicates(["volume_ml", "dye", "bench_light"])) == 8
    assert TABLE1.set_index("experiment").loc[6, "run_order"] == 1


def test_same_seed_same_bytes(tmp_path, standin):
    again = write_standin(tmp_path / "again", TINY, seed=7)
    a, b = load_manifest(standin), load_manifest(again)
    pd.testing.assert_frame_equal(a, b)
    for rel in a["image"].iloc[::25]:
        assert (standin / rel).read_bytes() == (again / rel).read_bytes()


def test_layout_cameras_and_dense_test_run(standin):
    m = load_manifest(standin)
    assert set(m["camera"]) == {"smartphone", "action_camera"}
    assert set(m.loc[m["camera"] == "action_camera", "run"]) == {3, 5, 8}
    per_run = m[m["camera"] == "smartphone"].groupby("run").size()
    # run 8 is filmed every 3 s, the others every 60 s here
    assert per_run[8] > 15 * per_run.drop(8).max()
    assert all((standin / p).is_file() for p in m["image"])


def test_expert_disagrees_only_near_thresholds():
    rng = np.random.default_rng(0)
    h = rng.uniform(0, 20, 20000)
    labels = expert_label(h, rng)
    wrong = labels != foam_class(h)
    dist = np.min(np.abs(h[:, None] - np.array(THRESHOLDS_MM)[None]), axis=1)
    assert 0.03 < wrong.mean() < 0.3
    assert dist[wrong].max() < 0.5 * max(THRESHOLDS_MM)
    assert wrong[dist < 0.3].mean() > 5 * wrong[dist > 3].mean()


def test_runs_start_without_foam_and_grow_some():
    p = simulate_run(1200, 1.0, np.random.default_rng(1))
    assert p["foam_mm"].iloc[:60].max() < THRESHOLDS_MM[0]
    assert p["foam_mm"].max() > THRESHOLDS_MM[1]


def test_box_covers_the_interface(standin):
    m = load_manifest(standin)
    masks = box_masks(m, 32, 32)
    assert masks.any((1, 2)).all()
    assert (m["box_bottom"] > m["box_top"]).all()
    higher = m["foam_mm"] > 8
    assert ((m["box_bottom"] - m["box_top"])[higher].mean() > (m["box_bottom"] - m["box_top"])[~higher].mean())


def test_ensure_standin_reuses_an_identical_folder(tmp_path):
    spec = StandinSpec(image_size=16, smartphone_interval_s=300.0, action_camera_interval_s=900.0)
    root = ensure_standin(tmp_path / "d", spec, seed=1)
    stamp = (root / "manifest.csv").stat().st_mtime_ns
    ensure_standin(root, spec, seed=1)
    assert (root / "manifest.csv").stat().st_mtime_ns == stamp
    ensure_standin(root, spec, seed=2)
    assert (root / "manifest.csv").stat().st_mtime_ns != stamp


def test_an_interrupted_render_leaves_nothing(tmp_path, monkeypatch):
    import xaibook.foam.standin as st

    def broken(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(st, "render_frame", broken)
    with pytest.raises(KeyboardInterrupt):
        write_standin(tmp_path / "d", TINY, seed=0)
    assert list(tmp_path.iterdir()) == []


class TestBadInput:
    @pytest.fixture
    def copy(self, standin, tmp_path):
        dst = tmp_path / "copy"
        shutil.copytree(standin, dst)
        return dst

    def test_missing_folder(self, tmp_path):
        with pytest.raises(FoamDataError, match=r"does not exist.*write_standin"):
            load_manifest(tmp_path / "nowhere")

    def test_missing_manifest(self, tmp_path):
        with pytest.raises(FoamDataError, match="manifest.csv is missing"):
            load_manifest(tmp_path)

    def test_missing_column(self, copy):
        m = pd.read_csv(copy / "manifest.csv").drop(columns="run")
        m.to_csv(copy / "manifest.csv", index=False)
        with pytest.raises(FoamDataError, match="lacks the column.*run"):
            load_manifest(copy)

    def test_unknown_label_names_the_row(self, copy):
        m = pd.read_csv(copy / "manifest.csv")
        m.loc[4, "label"] = "lots"
        m.to_csv(copy / "manifest.csv", index=False)
        with pytest.raises(FoamDataError, match=r"data row 5 .*'lots' is not one of"):
            load_manifest(copy)

    def test_corrupt_image_names_the_file(self, copy):
        m = load_manifest(copy)
        (copy / m["image"].iloc[3]).write_bytes(b"not a png")
        with pytest.raises(FoamDataError, match=r"00003.png is not a readable image"):
            load_images(copy, m, 32)

    def test_missing_image_names_the_file(self, copy):
        m = load_manifest(copy)
        (copy / m["image"].iloc[2]).unlink()
        with pytest.raises(FoamDataError, match=r"00002.png is listed in .* but does not exist"):
            load_images(copy, m, 32)

    def test_garbage_csv(self, tmp_path):
        (tmp_path / "manifest.csv").write_bytes(b"\xff\xfe\x00garbage")
        with pytest.raises(FoamDataError, match="manifest.csv"):
            load_manifest(tmp_path)


def test_splits_follow_the_papers_design(standin):
    m = load_manifest(standin)
    s = make_splits(m, FAST, seed=0)
    test_rows = m.iloc[s.binary_test]
    assert set(test_rows["run"]) == {8} and set(test_rows["camera"]) == {"smartphone"}
    assert not set(m.index[m["run"] == 8]) & (set(s.binary_train) | set(s.binary_val))
    for a, b in [(s.binary_train, s.binary_val), (s.fine_train, s.fine_test), (s.fine_val, s.fine_test)]:
        assert not set(a) & set(b)
    counts = np.bincount(m["y"].to_numpy()[s.fine_test], minlength=4)
    assert counts[3] == max(counts)                      # enriched in high foam, as the paper's 386
    assert len(s.fine_val) == round(0.1 * (len(m) - len(s.fine_test)))


def test_table2_totals(standin):
    m = load_manifest(standin)
    t = table2(m)
    assert t.loc["total", "whole data set"] == len(m)
    assert list(t.index[:4]) == [f"{c} foam" for c in CLASSES]


def test_moving_average_by_hand():
    # one isolated false positive is removed by a 3-frame average; a lasting change is kept
    p = np.array([0, 0, 0.9, 0, 0, 1, 1, 1, 1, 1], float)
    y = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    t = moving_average_f1(p, y, (1, 3))
    assert t.loc[1, "errors"] == 1
    assert t.loc[3, "errors"] == 1        # the false positive goes, the onset lags one frame
    assert t.loc[1, "F1 (%)"] == pytest.approx(100 * 10 / 11)


def test_factor_effects_by_hand():
    m = pd.DataFrame({"volume_ml": [200, 200, 240, 240], "dye": [0, 1, 0, 1], "bench_light": [0, 0, 1, 1]})
    e = factor_effects(m, np.array([True, True, True, False]))
    assert e.loc["volume_ml", "effect B - A (pp)"] == pytest.approx(-50)
    assert e.loc["dye", "effect B - A (pp)"] == pytest.approx(-50)


def test_confusion_structure():
    cm = np.array([[5, 1, 0, 0], [0, 5, 2, 0], [0, 1, 5, 1], [0, 0, 4, 2]])
    assert adjacent_error_share(cm) == 1.0
    assert ranked_confusions(cm).index[0] == "high -> medium"
    cm[0, 3] = 9
    assert adjacent_error_share(cm) == pytest.approx(9 / 18)


def test_threshold_error_share():
    assert threshold_error_share(np.array([1.0, 1.4, 5.0]), np.array([True, True, True]), 1.5, 1.0) == pytest.approx(2 / 3)
    assert np.isnan(threshold_error_share(np.array([1.0]), np.array([False]), 1.5, 1.0))


def test_paper_audit_known_findings():
    checks = {c.item: c for c in audit()}
    assert checks["Table 2: whole = action + smartphone, per class"].consistent
    assert "856" in checks["Fine-grained test set: 98 + 218 + 154 + 386"].recomputed
    binary = checks["Binary P/R/F1 from integer counts (195 no foam, 477 foam)"]
    assert not binary.consistent and "TN=189 TP=473" in binary.recomputed
    assert "77.50" in checks["Fine-grained F1 vs harmonic mean of its P and R"].recomputed


def test_claims_of_the_paper_with_their_margins():
    from xaibook.foam import confusion_claims, energy_claim, f1_claim, temporal_claim

    c = f1_claim(97.0, 75.0)
    assert c.holds and c.margin == 22.0 and c.evidence == "97.0 vs 75.0"
    # rows: true no, low, medium, high; row-normalised error rates: high->medium 10/50 = 0.2,
    # medium->low 6/40 = 0.15, low->no 3/30 = 0.1, high->no 2/50 = 0.04 (not adjacent)
    cm = np.array([[20, 0, 0, 0], [3, 27, 0, 0], [0, 6, 34, 0], [2, 0, 10, 38]])
    checks = {k.key: k for k in confusion_claims(cm)}
    assert checks["adjacent_confusions"].holds and checks["adjacent_confusions"].margin == pytest.approx(19 / 21 - 0.8)
    assert checks["high_to_medium_top"].holds and checks["high_to_medium_top"].margin == pytest.approx(0.2 - 0.15)
    assert checks["medium_to_low_second"].holds and checks["medium_to_low_second"].margin == pytest.approx(0.15 - 0.1)
    e = energy_claim("fine", 0.2, 0.25, 12)
    assert not e.holds and e.margin == pytest.approx(-0.05)
    assert energy_claim("binary", 0.3, 0.0, 0).margin is None          # no incorrect prediction: nothing to compare
    assert not temporal_claim(99.6, 99.5).holds


def test_conditioning_table_counts_every_tasks_test_frames_at_the_named_layer():
    """One row per task, from that task's model, test frames and predicted classes; the counts are
    those of GradCAMpp.conditioning on the same inputs, and the columns say what they count."""
    from torch import nn

    from xaibook.foam import conditioning_table
    from xaibook.saliency import build_method
    from xaibook.training import to_input

    class Net(nn.Module):
        def __init__(self, seed: int) -> None:
            super().__init__()
            torch.manual_seed(seed)
            self.layer3 = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(torch.relu(self.layer3(x)).mean((2, 3)))

    images = torch.randint(0, 256, (6, 3, 8, 8), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    tasks = {"binary": {"test": np.array([0, 2, 4])}, "fine": {"test": np.array([1, 3])}}
    models = {"binary": Net(1), "fine": Net(2)}
    preds = {"binary": np.array([0, 1, 1]), "fine": np.array([1, 0])}
    table = conditioning_table(models, images, preds, tasks, "layer3")
    assert list(table.index) == ["binary", "fine"]
    assert {"channels with a gradient", "with a negative alpha", "with a denominator near zero"} <= set(table.columns)
    cam = build_method("gradcampp", models["fine"], models["fine"].layer3, variant="gradcam-pytorch")
    want = cam.conditioning([(to_input(images[[1, 3]]), torch.tensor([1, 0]))])
    assert table.loc["fine", "with a negative alpha"] == want.negative
    assert table.loc["fine", "channels with a gradient"] == want.channels == 4


def test_box_masks_read_rows_from_top_and_bottom_and_columns_from_left_and_right():
    """A known box, not a property: rows 2-5 and columns 10-13 of a 16-px image, halved to 8 px."""
    m = pd.DataFrame({"box_top": [4], "box_bottom": [10], "box_left": [20], "box_right": [26]})
    mask = box_masks(m, 32, 16)[0]
    assert mask.shape == (16, 16)
    assert torch.nonzero(mask.any(1)).flatten().tolist() == [2, 3, 4]            # rows: top..bottom
    assert torch.nonzero(mask.any(0)).flatten().tolist() == [10, 11, 12]         # columns: left..right
    assert int(mask.sum()) == 9


def test_binary_labels_count_every_foam_level_as_foam():
    from xaibook.foam import binary_labels

    assert binary_labels(torch.tensor([0, 1, 2, 3, 1, 0])).tolist() == [0, 1, 1, 1, 1, 0]


def test_closing_sentences_follow_the_numbers_whichever_way_they_come_out():
    from xaibook.foam.experiment import energy_sentence, temporal_sentence

    assert "as the paper saw by eye" in energy_sentence("binary", 0.30, 0.10, 5)
    assert "do not come from looking elsewhere" in energy_sentence("fine", 0.18, 0.26, 9)
    assert "as much energy" in energy_sentence("fine", 0.200, 0.195, 9)
    assert "no error" in energy_sentence("binary", 0.3, float("nan"), 0)
    assert temporal_sentence(95.5, 97.4, 30.0).startswith("Averaging three frames raises the F1 from 95.5% to 97.4%")
    assert "scattered in time" in temporal_sentence(95.5, 97.4, 30.0)
    assert temporal_sentence(95.5, 94.0, 80.0).startswith("Averaging three frames lowers")
    assert "come in runs" in temporal_sentence(95.5, 94.0, 80.0)
    assert "leaves the F1 where it was" in temporal_sentence(95.5, 95.7, 80.0)


def test_closing_sentences_on_confusions_and_tasks_follow_the_run_and_the_data():
    from xaibook.foam import confusion_sentence, task_sentence

    assert confusion_sentence(80).endswith("as the paper reports")
    assert "unlike in the paper" in confusion_sentence(40)
    assert "stand-in" in task_sentence("synthetic") and "stand-in" not in task_sentence("real")


def test_moving_average_is_trailing_so_a_step_is_seen_late_never_early():
    """The online sensor averages the frame and the k - 1 BEFORE it (fewer at the start): a perfect
    detector's rising step is then seen one frame late (one missed foam frame, no false alarm).
    Catches a window cut from the wrong end of the full convolution (the frame and the k - 1 AFTER it),
    which sees the step one frame early (a false alarm at frame 3, F1 8/9 instead of 6/7): a sensor that
    peeks into the future. The isolated-spike input of test_moving_average_by_hand is symmetric and
    cannot tell the two apart."""
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    t = moving_average_f1(y.astype(float), y, (1, 3))
    assert t.loc[1, "F1 (%)"] == pytest.approx(100.0) and t.loc[1, "errors"] == 0
    # k = 3: frame 4 averages (0, 0, 1) = 1/3 < 0.5 -> missed; frame 5 (0, 1, 1) = 2/3 -> foam
    # TP = 3, FN = 1, FP = 0: F1 = 2 * 3 / (2 * 3 + 1) = 6/7
    assert t.loc[3, "errors"] == 1
    assert t.loc[3, "F1 (%)"] == pytest.approx(100 * 6 / 7)
    # the first frame is averaged with nothing before it: a lone first-frame detection survives
    first = moving_average_f1(np.array([0.9, 0, 0, 0, 1, 1]), np.array([1, 0, 0, 0, 1, 1]), (3,))
    assert first.loc[3, "errors"] == 1                  # frame 4: (0, 0, 1) = 1/3 -> missed; frame 0 kept


def test_ranked_confusions_rank_by_row_normalised_rate_not_by_count():
    """Fig. 3B's confusions are ranked by the share of each TRUE class's frames that goes wrong, so a
    big class does not win by size. Here high foam has 100 frames (10 taken for medium: rate 0.1) and
    medium 20 (5 taken for low: rate 0.25): medium -> low comes first although it has half the count.
    Catches a ranking by raw count (the existing confusion tests use matrices where both orders agree)."""
    from xaibook.foam import confusion_claims

    cm = np.array([[10, 0, 0, 0], [0, 10, 0, 0], [0, 5, 15, 0], [0, 0, 10, 90]])
    ranked = ranked_confusions(cm)
    assert list(ranked.index) == ["medium -> low", "high -> medium"]
    np.testing.assert_allclose(ranked["rate"], [0.25, 0.1])
    assert ranked["count"].tolist() == [5, 10]
    checks = {k.key: k for k in confusion_claims(cm)}
    assert not checks["high_to_medium_top"].holds                 # second by rate, first only by count
    assert checks["high_to_medium_top"].margin == pytest.approx(0.1 - 0.25)
    assert checks["medium_to_low_second"].holds


def test_pick_examples_takes_the_most_confident_of_each_kind():
    """Fig. 4 shows the k MOST confident correct and incorrect predictions, most confident first.
    Catches a sort that lost its sign (the least confident, borderline frames instead)."""
    from xaibook.foam import pick_examples

    confidence = np.array([0.9, 0.6, 0.99, 0.7, 0.55, 0.8])
    correct = np.array([True, True, False, False, True, False])
    right, wrong = pick_examples(correct, confidence, 2)
    assert right.tolist() == [0, 1]           # correct: 0 (0.9), 1 (0.6), 4 (0.55)
    assert wrong.tolist() == [2, 5]           # incorrect: 2 (0.99), 5 (0.8), 3 (0.7)
    right, wrong = pick_examples(correct, confidence, 5)
    assert right.tolist() == [0, 1, 4] and wrong.tolist() == [2, 5, 3]


def test_sanity_check_explains_the_tasks_test_frames_with_their_predicted_classes(monkeypatch):
    """The randomisation check explains frames spread over each task's TEST set (positions
    spread_sample picks within it, mapped to manifest rows through tasks[name]["test"]), each with the
    class the trained model predicted for that very frame. Every image here is filled with its own
    row number, and GradCAM++ is replaced by a recorder, so the frames and classes each map is asked
    for can be read back (the cascade is cut to the classifier alone: only the frames matter here).
    Catches positions within the test set used as manifest rows (the first frames of the manifest
    explained with the classes of other frames)."""
    import dataclasses

    from torch import nn

    import xaibook.foam.experiment as fx

    seen = []

    def recorder(model, x, classes, layer, **kwargs):
        seen.append((tuple(x[:, 0, 0, 0].tolist()), tuple(np.asarray(classes).tolist())))
        return x.float().mean(1) + torch.arange(64.0).reshape(8, 8)       # maps that differ within a frame

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 2)

    monkeypatch.setattr(fx, "gradcampp_maps", recorder)
    monkeypatch.setattr("xaibook.models.randomisation_cascade", lambda model: ["fc"])
    images = torch.arange(12, dtype=torch.uint8)[:, None, None, None].expand(12, 3, 8, 8).contiguous()
    tasks = {"binary": {"test": np.array([5, 7, 9, 11])}, "fine": {"test": np.array([2, 4, 6])}}
    preds = {"binary": np.array([1, 0, 1, 0]), "fine": np.array([3, 1, 2])}
    cfg = dataclasses.replace(fx.FAST, sanity_frames=2, sanity_draws=1)
    table = fx.sanity_check({"binary": Net(), "fine": Net()}, images, preds, tasks, "layer4", cfg, seed=0)
    assert table["map"].tolist() == ["GradCAM++, binary model", "GradCAM++, fine model"]
    # spread_sample(4, 2) = positions 0 and 3 -> rows 5 and 11; spread_sample(3, 2) = 0 and 2 -> rows 2 and 6;
    # each task's frames are explained twice (trained model, then its randomised copy)
    assert seen == [((5, 11), (1, 0))] * 2 + [((2, 6), (3, 2))] * 2


def test_box_masks_round_outwards_at_a_non_integer_scale():
    """Stored 32 px -> 16 px: top 5 -> row 2.5, bottom 11 -> 5.5, left 3 -> 1.5, right 9 -> 4.5. The box grows
    to whole pixels (floor the start, ceil the exclusive end): rows 2-5 and columns 1-4, 16 pixels, not the
    9 that truncation (int()) would keep."""
    m = pd.DataFrame({"box_top": [5], "box_bottom": [11], "box_left": [3], "box_right": [9]})
    mask = box_masks(m, 32, 16)[0]
    assert torch.nonzero(mask.any(1)).flatten().tolist() == [2, 3, 4, 5]
    assert torch.nonzero(mask.any(0)).flatten().tolist() == [1, 2, 3, 4]
    assert int(mask.sum()) == 16


def test_the_box_follows_the_camera_drift_to_the_rendered_walls():
    """The box's left and right edges sit on the vessel walls the renderer drew (the brightest columns above
    the liquid), whichever way the mount drifted: at a drift of 5% the walls move 5 px, and so must the box."""
    from xaibook.foam.standin import SMARTPHONE, render_frame

    state = dict(volume_ml=200, dye=False, bench_light=False, led=False, foam_mm=0.0, stirrer_rpm=500.0,
                 aeration_ml_min=5.0, residue_mm=0.0, phase=0.0, led_glare_mm=50.0, splash=False)
    for drift in (0.0, 0.05, -0.04):
        img, (top, bottom, left, right) = render_frame(state, SMARTPHONE, 100, np.random.default_rng(0), (drift, 0.0))
        profile = img[:20].astype(float).mean(axis=(0, 2))            # rows above the liquid: walls are bright
        wall_left, wall_right = int(np.argmax(profile[:50])), 50 + int(np.argmax(profile[50:]))
        assert abs(left - wall_left) <= 1 and abs((right - 1) - wall_right) <= 1, (drift, left, right,
                                                                                 wall_left, wall_right)


def test_load_images_keeps_rows_as_rows(tmp_path):
    """One red pixel at row 0, column 3 of a 4x4 image stays at [channel 0, row 0, column 3] (no transpose)."""
    from PIL import Image

    arr = np.zeros((4, 4, 3), np.uint8)
    arr[0, 3, 0] = 255
    Image.fromarray(arr).save(tmp_path / "a.png")
    out = load_images(tmp_path, pd.DataFrame({"image": ["a.png"]}), 4)
    assert out.shape == (1, 3, 4, 4) and int(out[0, 0, 0, 3]) == 255 and int(out[0, 0, 3, 0]) == 0
    assert int(out.sum()) == 255


def test_factor_effects_take_the_sorted_lower_level_as_a_whatever_row_comes_first():
    """The manifest lists runs in the paper's run order, so a test set can start at a factor's HIGH level
    (run 1 is experiment 6: 240 mL, lights on). Level A is still the lower, sorted level: here every
    factor's high level is right on 1 of 2 rows (50%) and its low level on 2 of 2 (100%), effect -50.
    Catches levels taken in the order the rows show them (level A = 240 mL, effect +50: the sign flips)."""
    m = pd.DataFrame({"volume_ml": [240, 240, 200, 200], "dye": [True, False, True, False],
                      "bench_light": [True, True, False, False]})
    e = factor_effects(m, np.array([False, True, True, True]))
    assert e.loc["volume_ml", "level A"] == 200 and e.loc["volume_ml", "level B"] == 240
    assert e.loc["volume_ml", "accuracy A (%)"] == pytest.approx(100.0)
    assert e.loc["volume_ml", "effect B - A (pp)"] == pytest.approx(-50.0)
    assert not e.loc["dye", "level A"] and e.loc["dye", "effect B - A (pp)"] == pytest.approx(-50.0)
    assert e.loc["bench_light", "effect B - A (pp)"] == pytest.approx(-50.0)


def test_fine_test_set_uses_half_the_high_foam_images_at_the_papers_proportions():
    """Class counts 100 / 300 / 200 / 400 (no, low, medium, high). The paper's proportions 98:218:154:386
    put 386/856 of the test set in high foam, so half the high-foam images (200) make a test set of
    round(200 * 856 / 386) = 444: quotas 51, 113, 80, 200, each capped at half its class (no foam: 50).
    Catches a test set sized as half the high-foam images in total (quotas 23, 51, 36, 90)."""
    y = np.repeat([0, 1, 2, 3], [100, 300, 200, 400])
    m = pd.DataFrame({"y": y, "run": np.arange(len(y)) % 8 + 1, "camera": "smartphone"})
    s = make_splits(m, FAST, seed=0)
    assert np.bincount(y[s.fine_test], minlength=4).tolist() == [50, 113, 80, 200]
    assert len(s.fine_val) == round(0.1 * (len(y) - 443))
