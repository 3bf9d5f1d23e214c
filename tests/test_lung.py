"""Chapter 03_lung_sliding's data layer: video I/O, the paper's preprocessing by hand, the simulator's
seashore and barcode signs, and bad input (errors that name the file, the row and the fix)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xaibook.lung import (LungDataError, LungStandinSpec, build_patch_sets, cut_clips, draw_patients, load_clips,
                          load_index, m_mode, read_video, scale_roi, split_patients, tile_patches, unify,
                          write_standin, write_video)
from xaibook.lung.standin import Scene

TINY = LungStandinSpec(n_present=3, n_absent=2, scale=0.25, seconds_present=(2.2, 2.6), seconds_absent=(2.1, 2.3))


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    return write_standin(tmp_path_factory.mktemp("lung") / "data", TINY, seed=0)


@pytest.mark.parametrize("ext", [".mp4", ".avi"])
def test_video_round_trip_keeps_frames_and_rate(tmp_path, ext):
    y, x = np.mgrid[0:48, 0:64]
    frames = np.stack([((x * 3 + y + 5 * k) % 200 + 20).astype(np.uint8) for k in range(12)])
    video = read_video(write_video(tmp_path / f"v{ext}", frames, 30))
    assert video.frames.shape == frames.shape and video.fps == 30.0 and video.seconds == pytest.approx(0.4)
    assert np.abs(video.frames.astype(int) - frames).mean() < 3          # visually lossless
    assert [p.name for p in tmp_path.iterdir()] == [f"v{ext}"]           # nothing half-written left


def test_truncated_video_names_the_file(tmp_path):
    path = write_video(tmp_path / "v.mp4", np.full((10, 32, 32), 128, np.uint8), 30)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(LungDataError, match=r"v\.mp4"):
        read_video(path)


def test_unify_takes_the_target_rate_instants_and_keeps_the_length():
    frames = np.arange(108, dtype=np.uint8)[:, None, None] * np.ones((1, 4, 6), np.uint8)   # 2 s at 54 fps
    out = unify(frames, 54.0, size=(4, 6), target_fps=30)
    assert out.shape == (60, 4, 6)
    assert out[:, 0, 0].tolist() == [int(np.floor(k * 54 / 30 + 1e-9)) for k in range(60)]
    with pytest.raises(LungDataError, match="24 fps is below the 30 fps"):
        unify(frames, 24.0, size=(4, 6))
    constant = unify(np.full((30, 480, 854), 77, np.uint8), 30.0)
    assert constant.shape == (30, 480, 640) and (constant == 77).all()      # 854x480 squeezed to 640x480


def test_clips_patches_and_regions_by_hand():
    frames = np.arange(130)[:, None, None] * np.ones((1, 8, 8), int)
    clips = cut_clips(frames, 60)
    assert clips.shape == (2, 60, 8, 8) and clips[1, 0, 0, 0] == 60       # the last 10 frames are dropped
    clip = np.zeros((2, 10, 12), int)
    clip[:, :, :] = np.arange(10)[:, None] * 100 + np.arange(12)[None, :]  # value = 100 * row + col
    tiles = tile_patches(clip, {"top": 1, "bottom": 10, "left": 2, "right": 12}, 4)
    assert tiles.shape == (2, 2, 2, 4, 4)                                  # 9 // 4 rows, 10 // 4 columns
    assert tiles[1, 1, 0, 0, 0] == 100 * (1 + 4) + (2 + 4)
    assert scale_roi({"top": 48, "bottom": 240, "left": 85, "right": 427}, (480, 854)) == \
        {"top": 48, "bottom": 240, "left": 64, "right": 320}
    with pytest.raises(LungDataError, match="not inside the 640x480 frame"):
        scale_roi({"top": 0, "bottom": 500, "left": 0, "right": 10}, (480, 640))


def test_patch_sets_count_rows_and_columns():
    clip = np.zeros((60, 200, 200), np.uint8)
    roi = {"top": 10, "bottom": 10 + 95, "left": 0, "right": 185}      # 3 rows x 6 cols of 30, 1 x 3 of 60, 1 x 2 of 90
    sets = build_patch_sets([clip, clip], [roi, roi], [1, 0], ["A", "B"])
    assert sets["all_30x30"].counts() == {"patches": 36, "present": 18, "absent": 18}
    assert sets["2_30x30"].counts()["patches"] == 24 and set(sets["2_30x30"].row) == {0, 1}
    assert sets["all_60x60"].counts()["patches"] == 6 and sets["2_60x60"].counts()["patches"] == 6
    assert sets["all_90x90"].counts()["patches"] == 4 and sets["all_90x90"].patches.shape == (4, 60, 90, 90)


def test_patient_split_is_stratified_and_respects_a_given_split():
    table = pd.DataFrame({"patient": [f"P{i}" for i in range(20)], "y": [1] * 10 + [0] * 10})
    split = split_patients(table, seed=3)
    test = [p for p, s in split.items() if s == "test"]
    assert len(test) == 6 and sum(int(p[1:]) < 10 for p in test) == 3
    assert split == split_patients(table, seed=3)
    given = table.assign(split=["test"] + ["train"] * 19)
    assert split_patients(given)["P0"] == "test"


def test_standin_loads_through_the_clinic_path(standin):
    table = load_index(standin)
    assert sorted(table["label"]) == ["absent"] * 2 + ["present"] * 3
    assert set(table["file"].str[-4:]) <= {".mp4", ".avi"}
    _, clips = load_clips(standin, size=(120, 160), min_patch=8)
    assert len(clips.clips) == 5 and all(c.shape == (60, 120, 160) for c in clips.clips)   # one 2-s clip each
    assert clips.y == [1, 1, 1, 0, 0]


def test_simulated_sliding_shows_the_seashore_sign_and_its_absence_the_barcode():
    """Below the pleura an M-mode line changes over time with sliding (sand) and stays put without (barcode)."""
    spec = LungStandinSpec(scale=0.5, chest_wall_mm=(0.0, 0.0), hand_drift_mm=0.0, lung_pulse_share=0.0,
                           b_lines_mean=0.0)
    change = {}
    for p in draw_patients(spec, 1)[26:30]:          # two with sliding, two without
        p = p.__class__(**{**p.__dict__, "seconds": 2.0, "fps": 30})
        scene = Scene(p, spec)
        frames = scene.render()
        roi = scene.roi()
        mm = m_mode(frames, column=(roi["left"] + roi["right"]) // 2).astype(float)
        pleura = int(round(scene.pleura_z * scene.px_per_mm))
        tissue, lung = mm[pleura - 25:pleura - 5], mm[pleura + 5:pleura + 60]
        change[p.sliding] = change.get(p.sliding, []) + [np.abs(np.diff(lung, axis=1)).mean()
                                                         / max(np.abs(np.diff(tissue, axis=1)).mean(), 1.0)]
    assert min(change[True]) > 3 * max(change[False])


def test_bad_tables_name_the_file_row_and_fix(standin, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(standin, bad)
    videos = pd.read_csv(bad / "videos.csv")
    with pytest.raises(LungDataError, match="data folder not found"):
        load_index(tmp_path / "nowhere")
    videos.assign(label=["present", "maybe"] + list(videos["label"][2:])).to_csv(bad / "videos.csv", index=False)
    with pytest.raises(LungDataError, match=r"row 3: label 'maybe'"):
        load_index(bad)
    videos.assign(split=["train", "test"] + ["train"] * (len(videos) - 2),
                  patient=["P01", "P01"] + list(videos["patient"][2:])).to_csv(bad / "videos.csv", index=False)
    with pytest.raises(LungDataError, match="patient P01 is in both splits"):
        load_index(bad)
    videos.to_csv(bad / "videos.csv", index=False)
    rois = pd.read_csv(bad / "roi.csv")
    rois.iloc[1:].to_csv(bad / "roi.csv", index=False)
    with pytest.raises(LungDataError, match="no region of interest for"):
        load_index(bad)
    rois.assign(bottom=rois["top"] + 4).to_csv(bad / "roi.csv", index=False)
    with pytest.raises(LungDataError, match=r"roi\.csv row 2 .* smaller than one 8x8 patch; mark the whole"):
        load_clips(bad, size=(120, 160), min_patch=8)


def test_bad_videos_and_regions_name_the_file_row_and_fix(standin, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(standin, bad)
    rois = pd.read_csv(bad / "roi.csv")
    first = rois["file"].iloc[0]
    rois.assign(right=[10_000] + list(rois["right"][1:])).to_csv(bad / "roi.csv", index=False)
    with pytest.raises(LungDataError, match=rf"roi\.csv row 2 \({first}\).*not inside the .* frame; mark it"):
        load_clips(bad, size=(120, 160), min_patch=8)
    pd.concat([rois, rois.iloc[:1]]).to_csv(bad / "roi.csv", index=False)
    with pytest.raises(LungDataError, match=f"{first} has two regions"):
        load_index(bad)
    rois.to_csv(bad / "roi.csv", index=False)
    with pytest.raises(LungDataError, match=r"smaller than the 640x480 .* export the video at 640x480"):
        load_clips(bad)                                   # the stand-in's 160x120 videos are too small for 640x480
    video = bad / first
    video.write_bytes(video.read_bytes()[:300])           # truncated
    with pytest.raises(LungDataError, match=first.split("/")[-1]):
        load_clips(bad, size=(120, 160), min_patch=8)
    assert sorted(p.name for p in bad.iterdir()) == ["roi.csv", "truth.json", "videos", "videos.csv"]   # nothing added


def test_pleura_depth_at_30_fps_reads_the_54_fps_video_at_the_same_instants():
    """Unified frame j (30 fps) is source frame floor(1.8 j) of a 54-fps video, as unify() picks it: frames
    0, 1, 3, 5, 7, 9, 10, 12, 14, 16 for j = 0..9, and frame 54 (one second) for j = 30."""
    import dataclasses

    from xaibook.lung import pleura_depth_px

    spec = LungStandinSpec(n_present=1, n_absent=0, scale=0.25, chest_wall_mm=(0.8, 0.8), hand_drift_mm=0.0)
    p = dataclasses.replace(draw_patients(spec, seed=3)[0], fps=54, seconds=2.0)
    native = pleura_depth_px(p, spec, 54, 108)
    unified = pleura_depth_px(p, spec, 30.0, 60)
    assert len(np.unique(native.round(6))) > 50                      # the pleura moves: the instants matter
    np.testing.assert_array_equal(unified[:10], native[[0, 1, 3, 5, 7, 9, 10, 12, 14, 16]])
    assert unified[30] == native[54] and unified[59] == native[106]


def test_only_patients_without_sliding_get_the_lung_pulse():
    """The lung pulse is the confounder of the absent class (a pleura that moves without sliding): with a share
    of 1 every patient without sliding has one of 0.1-0.4 mm and no patient with sliding has any."""
    cohort = draw_patients(LungStandinSpec(n_present=6, n_absent=6, lung_pulse_share=1.0), seed=0)
    assert all(p.lung_pulse_mm == 0.0 for p in cohort if p.sliding)
    assert all(0.1 <= p.lung_pulse_mm <= 0.4 for p in cohort if not p.sliding)
    none = draw_patients(LungStandinSpec(n_present=6, n_absent=6, lung_pulse_share=0.0), seed=0)
    assert all(p.lung_pulse_mm == 0.0 for p in none)


def test_patch_sets_record_each_patchs_clip_and_row():
    """Two clips (value = 100 x clip + column), a region one 4-px row high and two patches wide: four patches,
    clips 0, 0, 1, 1, row 0 each, and each patch is its own clip's pixels. Catches a patch that records its
    column as its clip (the saliency study then places the pleural band with another clip's region and time)."""
    clips = [np.broadcast_to(100 * k + np.arange(8)[None, None, :], (2, 8, 8)).astype(np.uint8) for k in range(2)]
    roi = {"top": 0, "bottom": 4, "left": 0, "right": 8}
    s = build_patch_sets(clips, [roi, roi], [1, 0], ["A", "B"], patches=(4,))["all_4x4"]
    assert s.clip.tolist() == [0, 0, 1, 1] and s.row.tolist() == [0, 0, 0, 0]
    assert s.y.tolist() == [1, 1, 0, 0] and s.patient.tolist() == ["A", "A", "B", "B"]
    assert s.patches[2, 0, 0].tolist() == [100, 101, 102, 103] and s.patches[1, 0, 0].tolist() == [4, 5, 6, 7]


def test_patient_split_is_drawn_at_random_not_taken_in_name_order():
    """Kolarik et al. split 70:30 by patient at random. Which patients are held out depends on the seed and is not
    the first ones by name: an unshuffled split would hold out P00-P02 and P10-P12 (e.g. the first patients
    recruited) whatever the seed."""
    table = pd.DataFrame({"patient": [f"P{i:02d}" for i in range(20)], "y": [1] * 10 + [0] * 10})
    held_out = [frozenset(p for p, s in split_patients(table, seed=seed).items() if s == "test") for seed in range(6)]
    assert all(len(t) == 6 for t in held_out)
    assert len(set(held_out)) > 1
    assert frozenset({"P00", "P01", "P02", "P10", "P11", "P12"}) not in held_out


def test_unify_low_passes_detail_finer_than_the_new_grid():
    """854 px squeezed to 640 (a factor 0.75): columns alternating 40 and 200 (period 2 px, finer than the new grid
    can show) come out damped around their mean 120 (within 93-147), not aliased to a full-contrast beat between
    40 and 200 as bilinear sampling without antialiasing gives."""
    frames = np.tile(np.array([40, 200], np.uint8), (30, 480, 427))
    out = unify(frames, 30.0)[0, :, 2:-2].astype(int)
    assert out.shape == (480, 636)
    assert 80 < out.min() and out.max() < 160 and abs(out.mean() - 120) < 2
