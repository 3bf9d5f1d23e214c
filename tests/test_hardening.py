"""The paths nobody ran: parameters checked first, data folders where the README says, NaN refused,
caches that notice damage, downloads that say what broke. One test (at least) per finding of the
hardening issue; each fails on the code before it."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from xaibook import paths

from xaibook.book import build
from xaibook.book.chapters import CHAPTERS
from xaibook.book.notebook import ParameterError, check_parameters

ROOT = Path(__file__).resolve().parents[1]
GOOD = dict(profile="fast", data=None, seed=0, device="cpu")


# --- finding 2: parameters are checked first, each error naming the parameter --------------------

@pytest.mark.parametrize("change, names", [
    ({"profile": "nonsense"}, r"profile='nonsense'.*'fast', 'paper'"),
    ({"data": "realistic"}, r"data='realistic'.*'synthetic', 'real'"),
    ({"seed": -1}, r"seed=-1 must be a non-negative integer"),
    ({"seed": 1.5}, r"seed=1.5 must be a non-negative integer"),
    ({"seed": True}, r"seed=True must be a non-negative integer"),
    ({"device": "gpu"}, r"device='gpu' is not a device"),
    ({"smoke": True}, r"smoke=True checks the paper profile.*profile='fast'"),
    ({"data_dir": "/nonexistent/folder"}, r"data_dir='/nonexistent/folder' is not a folder"),
])
def test_bad_parameters_name_the_parameter(change, names):
    with pytest.raises(ParameterError, match=names):
        check_parameters("01_foam", **{**GOOD, **change})


def test_cuda_without_cuda_names_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ParameterError, match=r"device='cuda' but PyTorch sees no CUDA GPU.*device='cpu'"):
        check_parameters("01_foam", **{**GOOD, "device": "cuda"})


def _code_cells(chapter: str) -> list[str]:
    """The code cells of a notebook's .py pair, in order (the parameters cell included)."""
    text = (ROOT / "notebooks" / f"{chapter}.py").read_text()
    parts = re.split(r"^(# %%.*)$", text, flags=re.M)[1:]
    return [body for marker, body in zip(parts[::2], parts[1::2]) if "[markdown]" not in marker]


@pytest.mark.parametrize("chapter", CHAPTERS.names())
def test_every_notebook_checks_its_parameters_before_any_work(chapter):
    """start_chapter (which checks every parameter) is called in the first code cell after the
    parameters and the Colab install, with data_dir and smoke."""
    work = [c for c in _code_cells(chapter) if "google.colab" not in c and 'profile = "fast"' not in c]
    assert "start_chapter(" in work[0], f"{chapter}: the first working cell does not call start_chapter"
    call = work[0][work[0].index("start_chapter("):]
    assert "data_dir=data_dir" in call and "smoke=smoke" in call


def test_a_bad_profile_stops_the_notebook_in_its_first_cells(tmp_path):
    with pytest.raises(build.ChapterFailed, match=r"ParameterError: profile='nonsense'") as err:
        build.execute(["01_foam"], profile="fast", out_dir=tmp_path, results_dir=tmp_path / "results", root=ROOT,
                      data_dirs=None, extra_params={"profile": "nonsense"})
    assert "cell 3" in str(err.value) or "cell 4" in str(err.value)
    assert not (tmp_path / "results").exists()


# --- finding 3: real data where the README puts it; make book passes data folders ----------------

def test_real_data_lives_in_one_folder_per_chapter_whatever_the_seed():
    for chapter in CHAPTERS.names():
        a = paths.chapter_data_dir(chapter, "real", "paper", 0)
        assert a == paths.chapter_data_dir(chapter, "real", "fast", 7) == paths.data_dir() / chapter / "real"
    assert "--local-dir data/02_cauliflower/real" in (ROOT / "README.md").read_text()
    synthetic = paths.chapter_data_dir("01_foam", "synthetic", "fast", 3)
    assert synthetic.name == "synthetic-fast-seed3"
    assert paths.chapter_data_dir("01_foam", "synthetic", "paper", 3, smoke=True).name == "synthetic-smoke-seed3"


@pytest.mark.parametrize("chapter", [c for c in CHAPTERS.names() if CHAPTERS.get(c).fast_data == "synthetic"])
def test_notebooks_take_their_default_folder_from_one_function(chapter):
    text = (ROOT / "notebooks" / f"{chapter}.py").read_text()
    # the stand-in is drawn by data_seed, apart from the training seed
    assert f'paths.chapter_data_dir("{chapter}", data, profile, data_seed, smoke)' in text


def test_make_book_passes_data_folders_and_device(tmp_path, monkeypatch):
    import papermill

    seen = []
    monkeypatch.setattr(papermill, "execute_notebook", lambda src, dst, parameters, **kw: seen.append(parameters))
    folder = tmp_path / "imagenette"
    folder.mkdir()
    dirs = build.parse_data_dirs([f"05_feature_cam={folder}"])
    build.execute(["01_foam", "05_feature_cam"], profile="paper", out_dir=tmp_path, results_dir=tmp_path / "r",
                  root=ROOT, data_dirs=dirs, device="cuda")
    assert "data_dir" not in seen[0] and seen[1]["data_dir"] == str(folder.resolve())
    assert seen[0]["device"] == seen[1]["device"] == "cuda" and seen[0]["profile"] == "paper"
    with pytest.raises(ValueError, match="CHAPTER=FOLDER"):
        build.parse_data_dirs(["imagenette"])
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        build.parse_data_dirs([f"05_feature_cam={tmp_path / 'missing'}"])
    with pytest.raises(KeyError):
        build.parse_data_dirs([f"99_nothing={folder}"])
    make = subprocess.run(["make", "-n", "book", "PROFILE=paper", f"DATA_DIRS=05_feature_cam={folder}", "DEVICE=cuda"],
                          cwd=ROOT, capture_output=True, text=True)
    assert f"--data-dir 05_feature_cam={folder}" in make.stdout and "--device cuda" in make.stdout


# --- finding 4: NaN and infinity raise where maps, metrics and losses are computed ---------------

def test_nan_in_a_confusion_matrix_raises():
    from xaibook.metrics import row_normalise

    with pytest.raises(ValueError, match="finite non-negative counts"):
        row_normalise(np.array([[1.0, np.nan], [2.0, 3.0]]))
    np.testing.assert_allclose(row_normalise(np.array([[0, 0], [1, 3]])), [[0, 0], [0.25, 0.75]])


def test_nan_maps_raise_in_the_chapter_metrics():
    from xaibook.featurecam.method import explanation_mask
    from xaibook.lung.experiment import roughness
    from xaibook.metrics import energy_inside
    from xaibook.saliency._core import minmax

    maps = torch.rand(2, 8, 8)
    maps[1, 3, 3] = float("nan")
    for call in (lambda: explanation_mask(maps, 80), lambda: roughness(maps[:, None]), lambda: minmax(maps),
                 lambda: energy_inside(maps, torch.ones(2, 8, 8, dtype=torch.bool))):
        with pytest.raises(ValueError, match="NaN or infinite"):
            call()


def test_a_model_with_one_nan_weight_gives_no_map():
    import torchvision

    from xaibook.saliency import build_method
    from xaibook.saliency.targets import class_score

    model = torchvision.models.resnet18(num_classes=3).eval()
    with torch.no_grad():
        model.layer4[1].conv2.weight[0, 0, 0, 0] = float("nan")
    for key in ("gradcam", "gradcampp"):
        with pytest.raises(ValueError, match="NaN or infinite"):
            build_method(key, model, model.layer4).attribute(torch.randn(2, 3, 64, 64), class_score(0))


def test_training_stops_on_a_non_finite_loss():
    from xaibook.lung.experiment import fit_binary
    from xaibook.training import NonFiniteLoss, TrainConfig, fit

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 2))
    images = torch.rand(8, 3, 2, 2)
    images[3] = float("nan")
    labels = torch.tensor([0, 1] * 4)
    with pytest.raises(NonFiniteLoss, match=r"training loss is nan at epoch 1, step 1.*NaN or infinite values"):
        fit(model, (images, labels), (images[:2], labels[:2]), TrainConfig(epochs=2, batch_size=8, lr=1e-3,
                                                                           hflip=False), torch.Generator())
    binary = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 1))
    with pytest.raises(NonFiniteLoss, match="training loss is nan"):
        fit_binary(binary, (images, labels), (images[:2], labels[:2]), epochs=1, batch_size=8, lr=1e-3, l2=0.0,
                   generator=torch.Generator())


def test_max_steps_caps_the_optimiser_steps_per_epoch():
    from xaibook.training import TrainConfig, fit

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 2))
    images, labels = torch.rand(40, 3, 2, 2), torch.tensor([0, 1] * 20)
    result = fit(model, (images, labels), (images[:4], labels[:4]),
                 TrainConfig(epochs=2, batch_size=8, lr=1e-3, hflip=False, max_steps=1), torch.Generator())
    assert result.samples_seen == 2 * 8


# --- finding 5: stale partial folders are cleaned; a cached stand-in is checked file by file -----

def test_partial_folders_of_killed_runs_are_removed(tmp_path):
    from xaibook._utils.io import atomic_directory

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale = tmp_path / f".standin.partial-{dead}-abc"
    stale.mkdir(mode=0o700)
    (stale / "frame.png").write_bytes(b"x" * 100)
    live = tmp_path / f".standin.partial-{os.getppid()}-xyz"        # a process that is running
    live.mkdir()
    old = tmp_path / ".standin.partial-oldformat"
    old.mkdir()
    os.utime(old, (0, 0))
    with atomic_directory(tmp_path / "standin") as tmp:
        (tmp / "manifest.csv").write_text("a\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["standin", live.name])


def test_a_damaged_stand_in_is_rendered_again(tmp_path):
    from xaibook._utils.io import rebuild_unless_stamped

    renders, log = [], []

    def build(root: Path) -> None:
        renders.append(1)
        root.mkdir(exist_ok=True)
        (root / "images").mkdir(exist_ok=True)
        (root / "manifest.csv").write_text("image,label\na.png,no\n")
        (root / "images" / "a.png").write_bytes(b"\x89PNG" + bytes(200))

    root, stamp = tmp_path / "standin", {"version": 1, "seed": 0}
    rebuild_unless_stamped(root, stamp, build, log.append)
    rebuild_unless_stamped(root, stamp, build, log.append)
    assert len(renders) == 1 and log == []
    recorded = json.loads((root / "standin.json").read_text())
    assert recorded["files"]["images/a.png"][0] == 204 and len(recorded["files"]["images/a.png"][1]) == 64
    (root / "images" / "a.png").write_bytes(b"\x89PNG" + bytes(100))     # truncated
    rebuild_unless_stamped(root, stamp, build, log.append)
    assert len(renders) == 2 and "images/a.png changed" in log[-1] and "rendering it again" in log[-1]
    (root / "manifest.csv").unlink()
    rebuild_unless_stamped(root, stamp, build, log.append)
    assert len(renders) == 3 and "manifest.csv is missing" in log[-1]
    (root / "images" / "a.png").write_bytes(b"\x89PNG" + bytes(199) + b"\x01")   # same size, other bytes
    rebuild_unless_stamped(root, stamp, build, log.append)
    assert len(renders) == 4


# --- finding 6: archives that are damaged say so, name the archive and the fix -------------------

def _competition_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("train.csv", "ImageId,ClassId,EncodedPixels\n")
        zf.writestr("train_images/0002cc93b.jpg", b"JPEGDATA" * 64)
    return path


def _flip_a_data_byte(path: Path) -> None:
    blob = bytearray(path.read_bytes())
    at = blob.index(b"JPEGDATA")
    blob[at] ^= 0xFF
    path.write_bytes(bytes(blob))


def test_a_zip_with_a_bad_member_names_the_archive_and_the_fix(tmp_path):
    from xaibook.steel import download

    archive = _competition_zip(tmp_path / "severstal.zip")
    _flip_a_data_byte(archive)
    with pytest.raises(download.KaggleDownloadError, match=r"severstal.zip is damaged: member "
                                                           r"'train_images/0002cc93b.jpg' fails its CRC-32.*again"):
        download.extract_archive(archive, tmp_path / "data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["severstal.zip"]      # nothing half-written


def test_a_truncated_zip_names_the_archive(tmp_path):
    from xaibook.steel import download

    archive = _competition_zip(tmp_path / "severstal.zip")
    archive.write_bytes(archive.read_bytes()[:-30])
    with pytest.raises(download.KaggleDownloadError, match=r"severstal.zip is not a readable zip archive.*again"):
        download.extract_archive(archive, tmp_path / "data")


def test_a_damaged_download_does_not_name_a_deleted_temporary_folder(tmp_path, monkeypatch):
    from xaibook.steel import download

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KAGGLE_USERNAME", "u")
    monkeypatch.setenv("KAGGLE_KEY", "k")
    good = _competition_zip(tmp_path / "good.zip")
    _flip_a_data_byte(good)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kaggle").write_text(f"#!{sys.executable}\nimport shutil, sys\nfrom pathlib import Path\n"
                                    f"shutil.copy({str(good)!r}, Path(sys.argv[sys.argv.index('-p') + 1]) / "
                                    f"'severstal-steel-defect-detection.zip')\n")
    (bin_dir / "kaggle").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(download.KaggleDownloadError) as err:
        download.download_severstal(tmp_path / "data")
    message = str(err.value)
    assert ".download-" not in message and "severstal-steel-defect-detection.zip, deleted" in message
    assert "CRC-32" in message and "again" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "good.zip", "home"]


def test_a_damaged_file_in_a_generated_folder_says_render_again(tmp_path):
    from xaibook.foam import FoamDataError, load_images, load_manifest

    (tmp_path / "images").mkdir()
    (tmp_path / "manifest.csv").write_text("image,run,camera,frame,label\nimages/a.png,1,smartphone,0,no\n")
    (tmp_path / "images" / "a.png").write_bytes(b"not a png")
    manifest = load_manifest(tmp_path)
    with pytest.raises(FoamDataError, match="drop its row"):
        load_images(tmp_path, manifest, 32)
    (tmp_path / "standin.json").write_text("{}")
    with pytest.raises(FoamDataError, match="generated stand-in: delete the folder and run again") as err:
        load_images(tmp_path, manifest, 32)
    assert "drop its row" not in str(err.value)
