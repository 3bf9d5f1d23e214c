"""Every chapter's closing section ("What reproduced and what did not") states results only through
glued values computed from the run: its fixed prose may not contain a constant of the fast profile
(a setting in which the fast profile departs from the paper's), so that a paper-profile run never
states a fast-profile fact. The glued sentences themselves are tested per chapter (their
``*_sentence``/``chapter_summary`` functions, on fabricated paper-profile inputs where they name a
classifier, a count or a size)."""
from __future__ import annotations

import dataclasses
import importlib
import re
from pathlib import Path

import pytest

from xaibook.book.chapters import CHAPTERS

ROOT = Path(__file__).resolve().parents[1]
MODULES = {"01_foam": "xaibook.foam.experiment", "02_cauliflower": "xaibook.cauliflower.experiment",
           "03_lung_sliding": "xaibook.lung.experiment", "04_steel_defects": "xaibook.steel.experiment",
           "05_feature_cam": "xaibook.featurecam.experiment"}
#: how the fast profile's values are also written in prose
ALIASES = {"efficientnet_lite0": ("Lite0", "EfficientNet"), "efficientnet_lite1": ("Lite1",),
           "efficientnet_lite2": ("Lite2",), "photographs": ("photographs", "ten photographs")}


def closing_text(chapter: str) -> str:
    src = (ROOT / "notebooks" / f"{chapter}.py").read_text()
    part = src.split("## What reproduced and what did not", 1)[1]
    part = re.split(r"\n# %%(?! \[markdown\])|\n# ## ", part)[0]
    return re.sub(r"\{glue:[a-z]+\}`[^`]*`", "<glued>", part)


def fast_constants(chapter: str) -> set[str]:
    mod = importlib.import_module(MODULES[chapter])
    out: set[str] = set()
    for f in dataclasses.fields(mod.PAPER):
        a, b = getattr(mod.PAPER, f.name), getattr(mod.FAST, f.name)
        if a == b:
            continue
        for v in (b if isinstance(b, (tuple, list)) else (b,)):
            if isinstance(v, bool) or v is None:
                continue
            text = str(v)
            if isinstance(v, (int, float)) and float(v) in (0.0, 1.0):
                continue                     # 0 and 1 are everywhere in prose
            out.add(text)
            out.update(ALIASES.get(text, ()))
    return out


@pytest.mark.parametrize("chapter", sorted(MODULES))
def test_closing_prose_holds_no_fast_profile_constant(chapter):
    assert chapter in CHAPTERS
    text = closing_text(chapter)
    found = sorted(c for c in fast_constants(chapter) if re.search(rf"(?<![\w.]){re.escape(c)}(?![\w])", text))
    assert not found, f"{chapter}'s closing prose states fast-profile values {found}; glue them from the run"
