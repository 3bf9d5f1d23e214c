"""Chapter 02_cauliflower: the readiness rule, the plant-wise split, the loader and its errors, the stand-in."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from xaibook.cauliflower import (CLASSES, MECHANISMS, PAPER_DATES, PAPER_SPLIT_SIZES, CauliflowerDataError,
                                 StandinSpec, ensure_standin, label_readiness, labels, load_growliflower,
                                 load_images, simulate_plants, split_by_plant, write_standin)
from xaibook.cauliflower.dataset import parse_dates, parse_diameter

SMALL = StandinSpec(n_plants=60, n_field1_plants=4, image_size=64)
TINY = StandinSpec(n_plants=6, n_field1_plants=2, image_size=32)
D = pd.Timestamp("2021-08-23")


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    return write_standin(tmp_path_factory.mktemp("cauliflower") / "growliflower", SMALL, seed=3)


@pytest.fixture(scope="module")
def samples(standin):
    return json.loads((standin / "samples.json").read_text())["samples"]


def frame(rows):
    """Hand-built images: (plant, date, harvested flag, harvest date or None)."""
    return pd.DataFrame([{"plant_id": p, "date": pd.Timestamp(d), "harvested": h,
                          "harvest_date": pd.Timestamp(hd) if hd else pd.NaT} for p, d, h, hd in rows])


# ----------------------------------------------------------------------------- the readiness rule
def test_ready_means_harvested_within_three_days_and_harvested_plants_are_left_out():
    out = label_readiness(frame([
        ("three_days", D, False, "2021-08-26"),
        ("four_days", D, False, "2021-08-27"),
        ("one_day", D, False, "2021-08-24"),
        ("cut_that_day", D, False, "2021-08-23"),
        ("cut_before", D, False, "2021-08-20"),
        ("flagged", D, True, None),
        ("never", D, False, None),
    ])).set_index("plant_id")
    assert set(out.index) == {"three_days", "four_days", "one_day", "never"}
    assert out["ready"].to_dict() == {"three_days": True, "four_days": False, "one_day": True, "never": False}
    assert out.loc["four_days", "days_to_harvest"] == 4
    assert out.loc["three_days", "label"] == "ready" and out.loc["four_days", "label"] == "not_ready"
    assert (out["y"] == out["ready"].astype(int)).all()


def test_harvest_date_is_derived_from_the_first_harvested_flag_when_not_given():
    out = label_readiness(frame([
        ("late", "2021-08-23", False, None), ("late", "2021-08-25", False, None), ("late", "2021-08-30", True, None),
        ("early", "2021-08-23", False, None), ("early", "2021-08-25", True, None), ("early", "2021-08-30", True, None),
        # a given harvest date wins over the (later) flag
        ("given", "2021-08-25", False, "2021-08-27"), ("given", "2021-08-30", True, None),
    ]))
    got = {(r.plant_id, f"{r.date:%m-%d}"): (r.days_to_harvest, r.ready) for r in out.itertuples()}
    assert got == {("late", "08-23"): (7, False), ("late", "08-25"): (5, False),
                   ("early", "08-23"): (2, True), ("given", "08-25"): (2, True)}


def test_values_of_the_mirror_parse():
    assert parse_diameter("12,5") == 12.5 and parse_diameter("58 (7)") == 58 and parse_diameter(14) == 14
    assert np.isnan(parse_diameter("?")) and np.isnan(parse_diameter("")) and np.isnan(parse_diameter(None))
    want = pd.Timestamp("2021-08-30")
    assert parse_dates(["2021_08_30", "2021-08-30", "2021-08-30T00:00:00.000Z", {"$date": 1630281600000}]) == [want] * 4


# ----------------------------------------------------------------------------- the split
def default_field_frame(seed):
    """The default stand-in's images on the paper's dates, from its simulation alone (nothing rendered)."""
    spec = StandinSpec()
    plants = simulate_plants(spec.n_plants, spec, np.random.default_rng(seed))
    days = np.array([(d - pd.Timestamp(spec.planting_date)).days for d in parse_dates(PAPER_DATES)])
    keep = days[None, :] < plants["harvest_day"].to_numpy()[:, None]
    plant, date = np.nonzero(keep)
    return pd.DataFrame({"plant_id": plant, "date": days[date]})


def test_default_standin_has_the_papers_image_count_and_split_sizes():
    f = default_field_frame(seed=0)
    assert abs(len(f) - sum(PAPER_SPLIT_SIZES)) <= 10
    sizes = split_by_plant(f, seed=0)["split"].value_counts()
    for name, paper in zip(("train", "val", "test"), PAPER_SPLIT_SIZES):
        assert abs(sizes[name] - paper) <= 6


def test_split_keeps_each_plant_in_one_split_near_the_targets_and_is_seeded(standin):
    f = load_growliflower(standin)
    a, b, c = (split_by_plant(f, seed=s)["split"] for s in (0, 0, 1))
    assert (a == b).all() and (a != c).any()
    assert (pd.DataFrame({"p": f["plant_id"], "s": a}).groupby("p")["s"].nunique() == 1).all()
    target = np.asarray(PAPER_SPLIT_SIZES) * len(f) / sum(PAPER_SPLIT_SIZES)
    got = a.value_counts()[["train", "val", "test"]].to_numpy()
    assert np.all(np.abs(got - target) < f.groupby("plant_id").size().max())


def test_an_existing_split_column_is_used_as_is():
    f = pd.DataFrame({"plant_id": ["a", "a", "b"], "split": ["test", "val", "train"]})
    assert split_by_plant(f, seed=0)["split"].tolist() == ["test", "val", "train"]
    with pytest.raises(CauliflowerDataError, match="holding|holds"):
        split_by_plant(f.assign(split=["test", "dev", "train"]))


# ----------------------------------------------------------------------------- the loader on the stand-in
def test_loader_keeps_field_2_on_the_papers_dates_and_drops_harvested_plants(standin, samples):
    f = load_growliflower(standin)
    assert set(f["field"]) == {2}
    assert sorted(f["date"].unique()) == parse_dates(PAPER_DATES)
    assert not f["harvested"].any() and (f["days_to_harvest"].isna() | (f["days_to_harvest"] > 0)).all()
    # independent recount from the raw samples.json
    dates = {f"{d:%Y-%m-%d}" for d in parse_dates(PAPER_DATES)}
    raw = [s for s in samples if s["field"] == "Field2" and s["acquisition_date"] in dates]
    kept = [s for s in raw if s["in_situ_harvested"] == "no"]
    assert len(f) == len(kept) < len(raw)
    ready = {s["filepath"]: s["harvest_date"] is not None
             and 0 < (pd.Timestamp(s["harvest_date"]) - pd.Timestamp(s["acquisition_date"])).days <= 3 for s in kept}
    assert f.set_index("image")["ready"].to_dict() == ready
    assert 0.4 < f["ready"].mean() < 0.8


def test_loader_selects_other_fields_and_dates(standin):
    f1 = load_growliflower(standin, field=1, dates=SMALL.field1_dates)
    assert set(f1["field"]) == {1} and f1["plant_id"].str.startswith("2020_").all()
    late = load_growliflower(standin, dates=("2021_09_07", "2021_08_23"))
    assert set(late["date"].dt.strftime("%m-%d")) <= {"09-07", "08-23"}


def test_images_and_labels(standin):
    f = load_growliflower(standin).iloc[:5]
    x = load_images(f, standin, 64)
    assert x.dtype == torch.float32 and x.shape == (5, 3, 64, 64)
    raw = np.asarray(Image.open(standin / f["image"].iloc[2]).convert("RGB"), dtype=np.float32) / 255
    assert torch.equal(x[2], torch.from_numpy(raw).permute(2, 0, 1))
    half = load_images(f, standin, 32)
    assert torch.allclose(half.mean(dim=(2, 3)), x.mean(dim=(2, 3)), atol=0.02)   # resizing keeps the colour
    assert labels(f).tolist() == f["y"].tolist() and CLASSES[1] == "ready"


# ----------------------------------------------------------------------------- errors
def test_missing_root_says_how_to_get_the_data(tmp_path):
    with pytest.raises(CauliflowerDataError) as err:
        load_growliflower(tmp_path / "nowhere")
    msg = str(err.value)
    assert "nowhere" in msg and "huggingface-cli download Voxel51/GrowliFlower" in msg
    assert "load_from_hub" in msg and "synthetic" in msg


def test_bad_json_and_missing_field_name_the_file(tmp_path, samples):
    (tmp_path / "samples.json").write_text("{not json")
    with pytest.raises(CauliflowerDataError, match="samples.json is not valid JSON"):
        load_growliflower(tmp_path)
    (tmp_path / "samples.json").write_text(json.dumps({"samples": "none"}))
    with pytest.raises(CauliflowerDataError, match="not a FiftyOne samples file"):
        load_growliflower(tmp_path)
    stripped = [{k: v for k, v in s.items() if k != "in_situ_harvested"} for s in samples]
    (tmp_path / "samples.json").write_text(json.dumps({"samples": stripped}))
    with pytest.raises(CauliflowerDataError, match="in_situ_harvested") as err:
        load_growliflower(tmp_path)
    assert str(tmp_path / "samples.json") in str(err.value)


def test_unknown_harvested_value_and_empty_selection(tmp_path, samples):
    odd = [dict(s, in_situ_harvested="perhaps") if i == 3 else s for i, s in enumerate(samples)]
    (tmp_path / "samples.json").write_text(json.dumps({"samples": odd}))
    with pytest.raises(CauliflowerDataError, match="'perhaps'.*HARVESTED_TRUE"):
        load_growliflower(tmp_path)
    (tmp_path / "samples.json").write_text(json.dumps({"samples": samples}))
    with pytest.raises(CauliflowerDataError, match="field 2 on 2021-07-01.*Fields present: 1, 2.*2021-08-23"):
        load_growliflower(tmp_path, dates=("2021_07_01",))


def test_corrupt_or_missing_image_is_named(tmp_path, standin):
    root = shutil.copytree(standin, tmp_path / "copy")
    f = load_growliflower(root)
    bad = root / f["image"].iloc[1]
    bad.write_bytes(b"\x00garbage, not a JPEG" * 10)
    with pytest.raises(CauliflowerDataError, match="not a readable image") as err:
        load_images(f.iloc[:3], root, 32)
    assert str(bad) in str(err.value)
    bad.unlink()
    with pytest.raises(CauliflowerDataError, match="does not exist") as err:
        load_images(f.iloc[:3], root, 32)
    assert str(bad) in str(err.value)


# ----------------------------------------------------------------------------- the stand-in
def test_same_seed_same_bytes_other_seed_other_images(tmp_path):
    a = write_standin(tmp_path / "a", TINY, seed=5)
    b = write_standin(tmp_path / "b", TINY, seed=5)
    c = write_standin(tmp_path / "c", TINY, seed=6)
    assert (a / "samples.json").read_bytes() == (b / "samples.json").read_bytes()
    first = json.loads((a / "samples.json").read_text())["samples"][0]["filepath"]
    assert (a / first).read_bytes() == (b / first).read_bytes()
    assert (a / first).read_bytes() != (c / first).read_bytes()
    with pytest.raises(FileExistsError):
        write_standin(a, TINY, seed=5)


def test_ensure_standin_reuses_a_stamped_folder(tmp_path):
    root = ensure_standin(tmp_path / "s", TINY, seed=1)
    stamp = (root / "samples.json").stat().st_mtime_ns
    assert ensure_standin(root, TINY, seed=1) == root and (root / "samples.json").stat().st_mtime_ns == stamp
    ensure_standin(root, TINY, seed=2)
    assert (root / "samples.json").stat().st_mtime_ns != stamp


def test_the_head_is_where_the_ground_truth_says(standin):
    f = load_growliflower(standin)
    assert (f["sim_stem_x"] == 31.5).all() and (f["sim_stem_y"] == 31.5).all()
    shown = f[(f["sim_head_visible"] > 0.3) & ~f["sim_shadow"]]
    assert len(shown) >= 10
    white = load_images(shown, standin, 64).min(dim=1).values.numpy()    # whiteness: the darkest channel
    yy, xx = np.mgrid[0:64, 0:64]
    inside_brighter = []
    for img, r in zip(white, shown.itertuples()):
        disc = np.hypot(xx - r.sim_head_x, yy - r.sim_head_y) < 0.8 * r.sim_head_radius_px
        inside_brighter.append(img[disc].mean() > img[~disc].mean() + 0.1)
    assert np.mean(inside_brighter) > 0.85
    # offsets from the stem stay within the stated 20 cm
    off_cm = np.hypot(f["sim_head_x"] - 31.5, f["sim_head_y"] - 31.5) * f["sim_cm_per_px"]
    assert off_cm.max() <= 20.5


def test_mechanisms_occur_at_their_rates_and_do_what_they_say(standin, samples):
    field2 = pd.DataFrame([s for s in samples if s["field"] == "Field2"])
    per_plant = field2.groupby("plant_id")[["sim_hidden_head", "sim_neighbour_dominates"]].first()
    assert per_plant["sim_hidden_head"].sum() == round(SMALL.p_hidden_head * SMALL.n_plants)
    assert per_plant["sim_neighbour_dominates"].sum() == round(SMALL.p_neighbour_dominates * SMALL.n_plants)
    for name, p in (("sim_shadow", SMALL.p_shadow), ("sim_leaf_glare", SMALL.p_leaf_glare)):
        n = len(field2)
        assert abs(field2[name].sum() - p * n) <= 4 * np.sqrt(n * p * (1 - p)) + 1
    f = load_growliflower(standin)
    assert set(MECHANISMS) <= set(f.columns)
    assert f.loc[f["sim_hidden_head"], "sim_head_visible"].max() < 0.05
    big = f["sim_head_diameter_cm"] > 14
    assert f.loc[big & ~f["sim_hidden_head"], "sim_head_visible"].mean() > 0.3
    assert f.loc[f["sim_neighbour_dominates"], "sim_neighbour_cover"].min() > \
        f.loc[~f["sim_neighbour_dominates"], "sim_neighbour_cover"].median()


def test_a_harvest_date_only_a_later_flight_reveals_labels_the_selected_images(tmp_path, samples):
    """The real mirror has no ``harvest_date`` field: a plant's harvest is the first flight flagged harvested,
    which may be a flight the chapter does not select. Labelled first, then selected: a plant seen unharvested
    on 08-23 and flagged harvested on 08-25 is ready on 08-23 (2 days) even when only 08-23 is asked for."""
    base = {k: v for k, v in samples[0].items() if k != "harvest_date"}
    rows = [dict(base, plant_id="P", field="Field2", acquisition_date=day, in_situ_harvested=flag,
                 filepath=base["filepath"].replace(base["plant_id"], f"P_{day}"))
            for day, flag in (("2021-08-23", "no"), ("2021-08-25", "yes"))]
    (tmp_path / "samples.json").write_text(json.dumps({"samples": rows}))
    out = load_growliflower(tmp_path, field=2, dates=("2021_08_23",))
    assert [(r.plant_id, f"{r.date:%m-%d}", r.days_to_harvest, r.ready) for r in out.itertuples()] == [
        ("P", "08-23", 2, True)]
