"""The bands hold on a kernel path that did not derive them (issue: numbers that reproduce on every machine).

The fast profile's bands come from seeds x the ``native`` and ``avx2`` kernel paths. Here chapter
01 runs once more on ``native-1thread``, a thread count no derivation run used, which changes
the training trajectory (measured: see :mod:`xaibook.kernels`). Its gated numbers must stay in
their bands and its must-hold claims must hold, as they must on a reader's machine.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from xaibook.book import build
from xaibook.book.claims import load_bands

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.chapters
CHAPTER, KERNEL = "01_foam", "native-1thread"


def test_chapter_holds_its_bands_on_an_unseen_kernel_path(tmp_path):
    bands = load_bands(CHAPTER)
    assert KERNEL not in bands["runs_summary"]["kernels"], "the check must use a path the bands did not see"
    build.execute([CHAPTER], profile="fast", out_dir=tmp_path, results_dir=tmp_path, root=ROOT, kernel=KERNEL)
    r = json.loads((tmp_path / f"{CHAPTER}.json").read_text())
    assert r["provenance"]["kernel_path"] == KERNEL and r["provenance"]["threads"] == 1
    out_of_band = [f"{n['key']} = {n['ours']:.4g} not in {n['band']}" for n in r["numbers"] if n["in_band"] is False]
    failed = [c["key"] for c in r["claims"] if ("fast" in c["must_hold"] and not c["holds"])
              or ("fast" in c.get("must_fail", []) and c["holds"])]
    assert not out_of_band and not failed, (out_of_band, failed)
