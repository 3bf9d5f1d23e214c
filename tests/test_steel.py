"""Chapter 04_steel_defects: RLE, the patch dataset of Lorentz et al. 2021, the stand-in, the download."""
from __future__ import annotations

import re
import stat
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from xaibook.steel import (BACKGROUND_THRESHOLD, CROP_LEFT, MULTIPLE, N_PATCHES, PAPER_CROP, PAPER_TABLE1, PATCH,
                           KaggleDownloadError, SteelDataError, UnsafeArchiveError, check_archive, cut_image,
                           download_severstal, extract_archive, find_credentials, load_patches, patch_columns,
                           patch_table, read_index, render_image, rle_decode, rle_encode, table1, write_standin)
from xaibook.steel.dataset import IMAGE_HEIGHT as H, IMAGE_WIDTH as W

# ---------------------------------------------------------------------------------------------
# RLE


def test_rle_hand_checked_example():
    # column-major: column 0 reads 1,1,0 and column 1 reads 0,1,1 -> pixels 1-2 and 5-6
    mask = np.array([[1, 0], [1, 1], [0, 1]], dtype=bool)
    assert rle_encode(mask) == "1 2 5 2"
    np.testing.assert_array_equal(rle_decode("1 2 5 2", (3, 2)), mask)


def test_rle_numbers_pixels_down_each_column_first():
    one = np.zeros((H, W), bool)
    one[1, 0] = True
    assert rle_encode(one) == "2 1"
    one[:] = False
    one[0, 1] = True
    assert rle_encode(one) == "257 1"
    assert rle_decode("257 1")[0, 1] and rle_decode("257 1").sum() == 1


@pytest.mark.parametrize("shape", [(3, 2), (7, 5), (H, W)])
def test_rle_round_trip_random_masks(shape):
    rng = np.random.default_rng(sum(shape))
    for density in (0.01, 0.3, 0.9):
        mask = rng.random(shape) < density
        rle = rle_encode(mask)
        np.testing.assert_array_equal(rle_decode(rle, shape), mask)
        assert rle_encode(rle_decode(rle, shape)) == rle


def test_rle_empty_and_full_masks():
    assert rle_encode(np.zeros((H, W), bool)) == ""
    assert not rle_decode("").any() and not rle_decode("  \n").any()
    assert rle_encode(np.ones((H, W), bool)) == f"1 {H * W}"
    assert rle_decode(f"1 {H * W}").all()


def test_rle_touching_runs_are_one_run():
    np.testing.assert_array_equal(rle_decode("1 2 3 2", (3, 2)), rle_decode("1 4", (3, 2)))
    assert rle_encode(rle_decode("1 2 3 2", (3, 2))) == "1 4"


@pytest.mark.parametrize("rle, match", [
    ("1 2 3", r"odd number of values \(3\).*'3'"),
    ("1 x", r"'x' \(a length"),
    ("1.5 2", r"'1.5' \(a start"),
    ("-1 2", r"'-1'"),
    ("0 2", r"start 0 is below 1"),
    ("4 0", r"'4 0' has length 0"),
    ("5 3", r"'5 3' ends at pixel 7, beyond the 6 pixels"),
    ("1 3 2 2", r"'2 2' overlaps or precedes the run '1 3'"),
    ("5 1 1 1", r"'1 1' overlaps or precedes the run '5 1'"),
    ("1 99999999999999999999", r"'99999999999999999999' is far beyond the 6 pixels"),
])
def test_rle_malformed_strings_name_the_value(rle, match):
    with pytest.raises(ValueError, match=match):
        rle_decode(rle, (3, 2))


def test_rle_encode_refuses_non_masks():
    with pytest.raises(ValueError, match="2-D"):
        rle_encode(np.zeros((2, 2, 2), bool))
    with pytest.raises(ValueError, match="values other than 0 and 1"):
        rle_encode(np.array([[0, 2]]))


# ---------------------------------------------------------------------------------------------
# patches, background, labels


def test_crop_splits_the_surplus_evenly_and_the_papers_34_cannot_be():
    assert CROP_LEFT == 32 and N_PATCHES * PATCH + 2 * CROP_LEFT == W
    assert N_PATCHES * PATCH + 2 * PAPER_CROP != W
    assert patch_columns(0) == slice(32, 288) and patch_columns(5) == slice(1312, 1568)
    with pytest.raises(ValueError, match="patch index 6"):
        patch_columns(6)


def test_paper_table1_is_consistent():
    assert PAPER_TABLE1["n"].sum() == 35041
    np.testing.assert_allclose(100 * PAPER_TABLE1["n"] / 35041, PAPER_TABLE1["percent"], atol=0.06)


def test_background_rule_at_its_boundaries():
    grey = np.full((H, W), 100, np.uint8)
    p0, p1, p2, p3 = (patch_columns(i) for i in range(4))
    # 0.95 * 65536 = 62259.2: 62259 black pixels are 94.9996% (kept), 62260 are 95.0012% (dropped)
    for cols, n_black in ((p0, 62259), (p1, 62260)):
        block = grey[:, cols].copy()
        block.reshape(-1)[:n_black] = 0
        grey[:, cols] = block
    grey[:, p2] = BACKGROUND_THRESHOLD - 1      # background: below the threshold
    grey[:, p3] = BACKGROUND_THRESHOLD          # steel: at the threshold
    rows, _, _ = cut_image("x.jpg", grey, np.zeros((4, H, W), bool))
    assert [r["dropped"] for r in rows] == [False, True, True, False, False, False]
    assert rows[0]["background_share"] == pytest.approx(62259 / 65536)
    assert [r["background_share"] for r in rows[2:]] == [1.0, 0.0, 0.0, 0.0]


def test_labels_by_classes_touching_each_patch():
    masks = np.zeros((4, H, W), bool)
    masks[2, 10:20, 100:110] = True       # class 3, patch 0: 100 pixels
    masks[0, 0:2, 600:602] = True         # class 1, patch 2
    masks[3, 100:102, 600:604] = True     # class 4, patch 2 too -> multiple
    masks[1, :, 0:32] = True              # class 2 in the cropped margins only: no label
    masks[1, :, 1568:] = True
    masks[2, 50, 287:289] = True          # one pixel each side of the patch 0/1 border
    rows, _, union = cut_image("x.jpg", np.full((H, W), 90, np.uint8), masks)
    assert [r["label"] for r in rows] == [3, 3, MULTIPLE, 0, 0, 0]
    assert [r["classes"] for r in rows] == ["3", "3", "1+4", "", "", ""]
    assert [r["defect_pixels"] for r in rows] == [101, 1, 12, 0, 0, 0]
    assert union[0, 10:20, 68:78].all() and union[0].sum() == 101


# a hand-made data folder: three images with known masks and black areas


def _write_jpeg(path: Path, grey: np.ndarray) -> None:
    Image.fromarray(grey).convert("RGB").save(path, "JPEG", quality=95)


def _rect(r0, r1, c0, c1):
    m = np.zeros((H, W), bool)
    m[r0:r1, c0:c1] = True
    return rle_encode(m)


@pytest.fixture(scope="module")
def handmade(tmp_path_factory):
    root = tmp_path_factory.mktemp("steel") / "hand"
    (root / "train_images").mkdir(parents=True)
    a = np.full((H, W), 128, np.uint8)
    b = a.copy()
    b[:, :536] = 0            # black up to column 535: patch 0 all, patch 1 248/256 = 96.9% (dropped)
    c = a.copy()
    c[:, :528] = 0            # patch 1 240/256 = 93.75% black (kept); edges on 8-px JPEG blocks
    for name, img in [("aaa.jpg", a), ("bbb.jpg", b), ("ccc.jpg", c)]:
        _write_jpeg(root / "train_images" / name, img)
    rows = [("aaa.jpg", 1, _rect(0, 2, 600, 602)), ("aaa.jpg", 3, _rect(10, 20, 100, 110)),
            ("aaa.jpg", 4, _rect(100, 102, 600, 604)), ("bbb.jpg", 3, _rect(0, 256, 1400, 1410))]
    pd.DataFrame(rows, columns=["ImageId", "ClassId", "EncodedPixels"]).to_csv(root / "train.csv", index=False)
    return root


def _to_old_format(root: Path, dest: Path) -> Path:
    """The same data with train.csv in the original ImageId_ClassId format."""
    import shutil
    shutil.copytree(root, dest)
    cur = pd.read_csv(root / "train.csv")
    ids = sorted(p.name for p in (root / "train_images").iterdir())
    rle = {(i, c): r for i, c, r in cur.itertuples(index=False)}
    old = pd.DataFrame([(f"{i}_{c}", rle.get((i, c), "")) for i in ids for c in (1, 2, 3, 4)],
                       columns=["ImageId_ClassId", "EncodedPixels"])
    old.to_csv(dest / "train.csv", index=False)
    return dest


def test_both_csv_formats_give_the_same_index(handmade, tmp_path):
    current = read_index(handmade)
    old = read_index(_to_old_format(handmade, tmp_path / "old"))
    pd.testing.assert_frame_equal(current, old)
    assert list(current["image_id"]) == ["aaa.jpg", "bbb.jpg", "ccc.jpg"]
    assert (current.loc[2, ["rle_1", "rle_2", "rle_3", "rle_4"]] == "").all()
    assert current.loc[0, "rle_3"] == _rect(10, 20, 100, 110)


def test_patch_table_and_table1_known_answers(handmade):
    every = patch_table(handmade, images="all")
    labels = every.pivot(index="image_id", columns="patch", values="label")
    assert labels.loc["aaa.jpg"].tolist() == [3, 0, MULTIPLE, 0, 0, 0]
    assert labels.loc["bbb.jpg"].tolist() == [0, 0, 0, 0, 0, 3]
    dropped = every.pivot(index="image_id", columns="patch", values="dropped")
    assert dropped.loc["bbb.jpg"].tolist() == [True, True, False, False, False, False]
    assert dropped.loc["ccc.jpg"].tolist() == [True, False, False, False, False, False]
    share = every.set_index(["image_id", "patch"])["background_share"]
    assert share["bbb.jpg", 1] == pytest.approx(248 / 256) and share["ccc.jpg", 1] == pytest.approx(240 / 256)
    t_all = table1(every).set_index("class")["n"]
    assert t_all.to_dict() == {"1": 0, "2": 0, "3": 2, "4": 0, "no defect": 12, "multiple": 1}
    # the paper cut only images with a defect: ccc.jpg does not count
    t_def = table1(patch_table(handmade)).set_index("class")
    assert t_def["n"].to_dict() == {"1": 0, "2": 0, "3": 2, "4": 0, "no defect": 7, "multiple": 1}
    assert t_def.loc["3", "percent"] == pytest.approx(20.0)


def test_loader_known_answers(handmade):
    full = load_patches(handmade)
    assert full.labels.tolist() == [3, 0, 0, 0, 0, 0, 0, 0, 3]
    assert full.table[["image_id", "patch"]].values.tolist() == [
        ["aaa.jpg", 0], ["aaa.jpg", 1], ["aaa.jpg", 3], ["aaa.jpg", 4], ["aaa.jpg", 5],
        ["bbb.jpg", 2], ["bbb.jpg", 3], ["bbb.jpg", 4], ["bbb.jpg", 5]]
    assert full.images.shape == (9, 3, 256, 256) and full.images.dtype == torch.uint8
    assert (full.images[:, 0] == full.images[:, 2]).all()
    assert abs(full.images.float().mean().item() - 128) < 1.5
    assert full.masks[0, 10:20, 68:78].all() and full.masks[0].sum() == 100
    assert full.masks[8, :, 1400 - 1312:1410 - 1312].all() and full.masks[8].sum() == 2560
    assert full.table["defect_pixels"].tolist() == [100, 0, 0, 0, 0, 0, 0, 0, 2560]
    assert len(full.all_patches) == 12
    small = load_patches(handmade, 64)
    assert small.images.shape == (9, 3, 64, 64)
    # rows 10-19 and columns 68-77 of the patch fall in the 4x4 blocks 2-4 and 17-19
    expected = np.zeros((64, 64), bool)
    expected[2:5, 17:20] = True
    np.testing.assert_array_equal(small.masks[0].numpy(), expected)
    assert small.labels.tolist() == full.labels.tolist()
    sub = load_patches(handmade, 64, image_ids=["bbb.jpg"])
    assert sub.labels.tolist() == [0, 0, 0, 3]


class TestBadInput:
    @pytest.fixture
    def copy(self, handmade, tmp_path):
        import shutil
        return Path(shutil.copytree(handmade, tmp_path / "copy"))

    def test_missing_folder(self, tmp_path):
        with pytest.raises(SteelDataError, match=r"does not exist.*download_severstal.*write_standin"):
            read_index(tmp_path / "nowhere")

    def test_missing_csv(self, copy):
        (copy / "train.csv").unlink()
        with pytest.raises(SteelDataError, match=r"train.csv is missing"):
            read_index(copy)

    def test_missing_image_folder(self, copy):
        import shutil
        shutil.rmtree(copy / "train_images")
        with pytest.raises(SteelDataError, match=r"train_images is missing"):
            read_index(copy)

    def test_unknown_format(self, copy):
        (copy / "train.csv").write_text("image,label\na.jpg,3\n")
        with pytest.raises(SteelDataError, match=r"header image,label.*ImageId_ClassId,EncodedPixels.*ImageId,ClassId"):
            read_index(copy)

    def test_malformed_old_row(self, copy, tmp_path):
        old = _to_old_format(copy, tmp_path / "old")
        df = pd.read_csv(old / "train.csv", keep_default_na=False)
        df.loc[5, "ImageId_ClassId"] = "bbb.jpg_7"
        df.to_csv(old / "train.csv", index=False)
        with pytest.raises(SteelDataError, match=r"data row 6: ImageId_ClassId 'bbb.jpg_7'"):
            read_index(old)

    def test_bad_class_in_current_row(self, copy):
        df = pd.read_csv(copy / "train.csv")
        df.loc[1, "ClassId"] = 5
        df.to_csv(copy / "train.csv", index=False)
        with pytest.raises(SteelDataError, match=r"data row 2: ImageId 'aaa.jpg', ClassId '5'"):
            read_index(copy)

    def test_bad_rle_names_row_and_value(self, copy):
        df = pd.read_csv(copy / "train.csv")
        df.loc[3, "EncodedPixels"] = "10 5 12 3"
        df.to_csv(copy / "train.csv", index=False)
        with pytest.raises(SteelDataError, match=r"data row 4 \(image 'bbb.jpg', class 3\).*'12 3' overlaps"):
            read_index(copy)

    def test_duplicate_row(self, copy):
        df = pd.read_csv(copy / "train.csv")
        pd.concat([df, df.iloc[[0]]]).to_csv(copy / "train.csv", index=False)
        with pytest.raises(SteelDataError, match=r"data row 5: image 'aaa.jpg', class 1 is listed twice"):
            read_index(copy)

    def test_defect_of_a_missing_image(self, copy):
        (copy / "train_images" / "bbb.jpg").unlink()
        with pytest.raises(SteelDataError, match=r"data row 4: image 'bbb.jpg' has a defect but .*bbb.jpg does not exist"):
            read_index(copy)

    def test_old_format_lists_a_missing_image(self, copy, tmp_path):
        old = _to_old_format(copy, tmp_path / "old")
        (old / "train_images" / "ccc.jpg").unlink()
        with pytest.raises(SteelDataError, match=r"ccc.jpg is listed in .*train.csv but does not exist"):
            read_index(old)

    def test_corrupt_jpeg_names_the_file(self, copy):
        (copy / "train_images" / "bbb.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
        with pytest.raises(SteelDataError, match=r"bbb.jpg is not a readable JPEG"):
            load_patches(copy, 64)

    def test_wrong_size_names_the_file(self, copy):
        _write_jpeg(copy / "train_images" / "aaa.jpg", np.full((256, 1599), 100, np.uint8))
        with pytest.raises(SteelDataError, match=r"aaa.jpg is 1599 wide x 256 high"):
            patch_table(copy)


# ---------------------------------------------------------------------------------------------
# the stand-in


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    return write_standin(tmp_path_factory.mktemp("steel") / "standin", n_images=180, seed=3)


@pytest.fixture(scope="module")
def standin_patches(standin):
    return load_patches(standin, 32)


def test_masks_can_stay_at_full_size(standin, standin_patches):
    full = load_patches(standin, 32, mask_size=256)
    assert full.masks.shape[1:] == (256, 256) and full.images.shape[2:] == (32, 32)
    assert torch.equal(full.labels, standin_patches.labels)
    # "any pixel" downsampling only ever adds area: each small pixel is set iff its 8x8 block has a defect
    blocks = full.masks.reshape(len(full.masks), 32, 8, 32, 8).any(dim=(2, 4))
    assert torch.equal(blocks, standin_patches.masks)
    assert full.masks.float().mean() < standin_patches.masks.float().mean()


def test_standin_class3_patches_are_a_tenth_defect(standin_patches):
    # grounded in the Severstal annotations (streaks annotated one by one); a median class-3
    # patch that is a third defect saturates the distance pointing game (chapter 04)
    c3 = standin_patches.table[standin_patches.table["label"] == 3]
    assert 0.04 < (c3["defect_pixels"] / 256 ** 2).median() < 0.2


def test_standin_layout(standin):
    files = sorted((standin / "train_images").iterdir())
    assert len(files) == 180 and all(len(f.stem) == 9 and f.suffix == ".jpg" for f in files)
    with Image.open(files[0]) as im:
        assert im.format == "JPEG" and im.mode == "RGB" and im.size == (1600, 256)
        rgb = np.asarray(im).astype(int)
    assert np.abs(rgb[..., 0] - rgb[..., 2]).max() <= 2
    assert (standin / "train.csv").read_text().splitlines()[0] == "ImageId,ClassId,EncodedPixels"
    index = read_index(standin)
    defective = (index[["rle_1", "rle_2", "rle_3", "rle_4"]] != "").any(axis=1).mean()
    assert 0.4 < defective < 0.66          # 53% in the competition


def test_standin_same_seed_same_bytes(tmp_path):
    a = write_standin(tmp_path / "a", n_images=4, seed=11)
    b = write_standin(tmp_path / "b", n_images=4, seed=11)
    c = write_standin(tmp_path / "c", n_images=4, seed=12)
    names = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all((a / n).read_bytes() == (b / n).read_bytes() for n in names)
    assert (a / "train.csv").read_bytes() != (c / "train.csv").read_bytes()


def test_an_interrupted_standin_leaves_nothing(tmp_path, monkeypatch):
    import xaibook.steel.standin as st
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return render_image(*args, **kwargs)

    monkeypatch.setattr(st, "render_image", broken)
    with pytest.raises(KeyboardInterrupt):
        write_standin(tmp_path / "d", n_images=5, seed=0)
    assert list(tmp_path.iterdir()) == []


def test_standin_background_makes_the_95_rule_matter(standin_patches):
    every = standin_patches.all_patches
    assert 0.05 < every["dropped"].mean() < 0.3
    partly = every[(every["background_share"] > 0.05) & ~every["dropped"]]
    assert len(partly) >= 5                 # steel at the strip's edge is kept
    # defects are drawn on the steel, not on the black beyond it
    assert every.loc[every["dropped"], "defect_pixels"].sum() < 0.01 * every["defect_pixels"].sum()


def test_standin_table1_matches_the_papers_order_of_magnitude(standin_patches):
    ours = table1(standin_patches.all_patches).set_index("class")["percent"]
    paper = PAPER_TABLE1.set_index("class")["percent"]
    for cls in ("no defect", "3"):
        assert 0.75 < ours[cls] / paper[cls] < 1.33, (cls, ours[cls])
    for cls in ("1", "4"):
        assert 0.4 < ours[cls] / paper[cls] < 2.5, (cls, ours[cls])
    assert ours["2"] < 3 and ours["multiple"] < 3 and ours["multiple"] > 0
    assert ours["no defect"] > ours["3"] > max(ours["1"], ours["4"]) > ours["2"]


@pytest.mark.parametrize("cls", [1, 2, 3, 4])
def test_standin_class_looks(cls):
    rng = np.random.default_rng(cls)
    grey, masks = render_image((cls,), rng, background=False)
    m = masks[cls - 1]
    assert m.any() and not np.delete(masks, cls - 1, axis=0).any()
    inside, outside = grey[m].astype(float), grey[~m].astype(float)
    rows, cols = np.nonzero(m)
    if cls == 1:      # small dark pits: the darkest pixels are much darker than the surface
        assert inside.min() < np.percentile(outside, 0.1) - 15 and m.mean() < 0.05
    elif cls == 2:    # fine bright scratches: narrow bands, bright peaks
        assert inside.max() > np.percentile(outside, 99.9) and m.sum(axis=1).max() <= 4 * 9
    elif cls == 3:    # streaks along the rolling direction: taller than wide per group
        assert rows.max() - rows.min() >= 60
    else:             # large dark blotches
        assert inside.mean() < outside.mean() - 15 and m.sum() > 2000


# ---------------------------------------------------------------------------------------------
# the download, without network: fake `kaggle` executables and crafted zips


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN", "KAGGLE_CONFIG_DIR", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(var, raising=False)
    return home


def _fake_kaggle(tmp_path: Path, monkeypatch, script: str) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    exe = bin_dir / "kaggle"
    exe.write_text(script)
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    return exe


def _failing(message: str, code: int = 1) -> str:
    """A fake CLI that prints what the real one prints on failure, and exits with ``code``."""
    return f"#!{sys.executable}\nimport sys\nprint({message!r})\nsys.exit({code})\n"


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in ("bin", "home"))


def test_kaggle_not_installed(tmp_path, monkeypatch, home):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(KaggleDownloadError, match=r"pip install kaggle"):
        download_severstal(tmp_path / "data")


def test_no_credentials(tmp_path, monkeypatch, home):
    _fake_kaggle(tmp_path, monkeypatch, _failing("should not run"))
    with pytest.raises(KaggleDownloadError, match=r"no Kaggle credentials.*\.kaggle/kaggle.json.*"
                                                   r"\.config/kaggle/kaggle.json.*chmod 600.*KAGGLE_USERNAME"):
        download_severstal(tmp_path / "data")
    assert _leftovers(tmp_path) == []


def test_credentials_are_found_where_the_cli_looks(home, monkeypatch):
    cfg = home / ".config" / "kaggle"
    cfg.mkdir(parents=True)
    (cfg / "kaggle.json").write_text('{"username": "u", "key": "k"}')
    (cfg / "kaggle.json").chmod(0o600)
    assert find_credentials() == str(cfg / "kaggle.json")
    legacy = home / ".kaggle"
    legacy.mkdir()
    (legacy / "kaggle.json").write_text('{"username": "u", "key": "k"}')
    (legacy / "kaggle.json").chmod(0o644)
    with pytest.warns(UserWarning, match=r"chmod 600"):
        assert find_credentials() == str(legacy / "kaggle.json")
    (legacy / "kaggle.json").write_text("{not json")
    with pytest.raises(KaggleDownloadError, match=r"kaggle.json is not valid JSON"):
        find_credentials()
    monkeypatch.setenv("KAGGLE_USERNAME", "u")
    monkeypatch.setenv("KAGGLE_KEY", "k")
    assert find_credentials() == "environment"


@pytest.mark.parametrize("message, code, match", [
    ("403 - Forbidden - You must accept this competition's rules before you'll be able to download files.", 1,
     r"not accepted the rules.*https://www.kaggle.com/c/severstal-steel-defect-detection/rules.*cannot be accepted "
     r"through the API"),
    ("403 - Forbidden", 0, r"403 Forbidden"),       # older CLI versions exit 0 after an HTTP error
    ("401 - Unauthorized", 1, r"did not accept your credentials \(401"),
    ("requests.exceptions.ConnectionError: HTTPSConnectionPool(host=www.kaggle.com, port=443): Max retries "
     "exceeded with url: /api/v1/competitions/data/download-all/severstal-steel-defect-detection", 1,
     r"could not reach www.kaggle.com"),
    ("something else broke", 2, r"failed \(exit code 2\).*something else broke"),
])
def test_cli_failures_become_clear_messages(tmp_path, monkeypatch, home, message, code, match):
    monkeypatch.setenv("KAGGLE_USERNAME", "u")
    monkeypatch.setenv("KAGGLE_KEY", "k")
    _fake_kaggle(tmp_path, monkeypatch, _failing(message, code))
    with pytest.raises(KaggleDownloadError, match=match):
        download_severstal(tmp_path / "data")
    assert _leftovers(tmp_path) == []        # no data folder, no temporary folder


def _competition_zip(path: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(prefix + "train.csv", "ImageId,ClassId,EncodedPixels\n")
        zf.writestr(prefix + "sample_submission.csv", "ImageId,EncodedPixels,ClassId\n")
        zf.writestr(prefix + "train_images/0002cc93b.jpg", b"jpeg bytes")
    return path


def test_download_runs_the_cli_and_unpacks(tmp_path, monkeypatch, home):
    monkeypatch.setenv("KAGGLE_USERNAME", "u")
    monkeypatch.setenv("KAGGLE_KEY", "k")
    log = tmp_path / "argv.txt"
    _fake_kaggle(tmp_path, monkeypatch, f"""#!{sys.executable}
import sys, zipfile
from pathlib import Path
Path({str(log)!r}).write_text(" ".join(sys.argv[1:]))
out = Path(sys.argv[sys.argv.index("-p") + 1]) / "severstal-steel-defect-detection.zip"
with zipfile.ZipFile(out, "w") as zf:
    zf.writestr("train.csv", "ImageId,ClassId,EncodedPixels\\n")
    zf.writestr("train_images/0002cc93b.jpg", b"jpeg bytes")
""")
    dest = download_severstal(tmp_path / "data")
    argv = log.read_text().split()
    assert argv[:4] == ["competitions", "download", "-c", "severstal-steel-defect-detection"] and argv[4] == "-p"
    assert (dest / "train.csv").is_file() and (dest / "train_images" / "0002cc93b.jpg").read_bytes() == b"jpeg bytes"
    assert _leftovers(tmp_path) == ["argv.txt", "data"]
    # a complete folder is kept without calling Kaggle again
    _fake_kaggle(tmp_path, monkeypatch, _failing("must not run"))
    assert download_severstal(dest) == dest


@pytest.mark.parametrize("member, why", [
    ("/etc/evil", "absolute path"),
    ("C:\\evil.txt", "absolute path"),
    ("../evil", r"'\.\.'"),
    ("train_images/../../evil", r"'\.\.'"),
])
def test_unsafe_members_are_refused_before_unpacking(tmp_path, member, why):
    path = _competition_zip(tmp_path / "x.zip")
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr(zipfile.ZipInfo(member), b"payload")
    with pytest.raises(UnsafeArchiveError, match=rf"unsafe archive .*x.zip: member {re.escape(repr(member))} .*{why}"):
        extract_archive(path, tmp_path / "data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.zip"]


def test_symlink_members_are_refused(tmp_path):
    path = _competition_zip(tmp_path / "x.zip")
    info = zipfile.ZipInfo("train_images/link.jpg")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(UnsafeArchiveError, match=r"member 'train_images/link.jpg' is a symbolic link"):
        check_archive(path)


def test_extract_lifts_a_single_top_folder_and_checks_the_content(tmp_path):
    dest = extract_archive(_competition_zip(tmp_path / "a.zip", "severstal/"), tmp_path / "a")
    assert (dest / "train.csv").is_file() and (dest / "train_images" / "0002cc93b.jpg").is_file()
    with zipfile.ZipFile(tmp_path / "b.zip", "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(KaggleDownloadError, match=r"does not hold train.csv and train_images/ \(found: readme.txt\)"):
        extract_archive(tmp_path / "b.zip", tmp_path / "b")
    assert not (tmp_path / "b").exists()
    (tmp_path / "c.zip").write_bytes(b"not a zip")
    with pytest.raises(KaggleDownloadError, match=r"c.zip is not a readable zip archive"):
        extract_archive(tmp_path / "c.zip", tmp_path / "c")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_standin_annotations_stop_at_the_strips_edge():
    """Annotators outline the steel only: where the strip's edge is in view, no defect mask reaches a column that
    is black from top to bottom (beyond the edge), even for large blotches drawn near it."""
    leaks = []
    for seed in range(8):
        grey, masks = render_image((4, 3), np.random.default_rng(seed), background=True)
        black = grey.max(axis=0) < 20                       # columns wholly beyond the strip's edge
        assert 80 <= black.sum() < W - 200
        leaks.append(int(masks[:, :, black].sum()))
    assert leaks == [0] * 8


def test_small_patches_average_the_pixels_they_stand_for():
    """At 64 px a pixel stands for a 4x4 block of the 256-px patch: resizing averages, so columns alternating 40
    and 200 (a fine striation) become an even 120 away from the border (where the filter is cut), where picking
    one pixel per block would keep 40s or 200s."""
    from xaibook.steel.dataset import _resize_grey

    grey = np.tile(np.array([40, 200], np.uint8), (PATCH, PATCH // 2))
    small = _resize_grey(grey, 64)
    assert small.shape == (64, 64)
    assert np.abs(small[:, 1:-1].astype(int) - 120).max() <= 1         # the border blocks' filters are cut
