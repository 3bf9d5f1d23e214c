"""The claims registry: every reproduced number beside the paper's, every claim as a check.

A chapter opens a :class:`Scorecard`, records numbers and claims while it runs, and writes
``results/<chapter>.json`` atomically at the end. The expected bands for the ``fast`` profile
live in ``xaibook/bands/<chapter>.json``; they are derived from runs over several seeds by
``python -m xaibook.build bands`` (never from one run) and committed. A number outside its band,
or a claim that must hold in the current profile and does not, makes the test suite fail.

Schema of the results file (one per chapter)::

    {"chapter", "profile", "data": "synthetic" | "real",
     "provenance": {"seed", "commit", "versions", "device", "wall_time_s"},
     "numbers": [{"key", "label", "paper", "ours", "unit", "delta", "tolerance",
                  "band": [lo, hi] | null, "in_band": bool | null, "verdict", "source"}],
     "claims":  [{"key", "statement", "holds", "must_hold": [...], "evidence", "source"}]}
"""
from __future__ import annotations

import json
import math
import platform
import subprocess
import time
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from . import paths
from ._utils.io import atomic_write_json

PROFILES = ("fast", "paper")
DATA_KINDS = ("synthetic", "real")
LIMITS = {"%": (0.0, 100.0), "fraction": (0.0, 1.0)}


@dataclass
class Number:
    key: str
    label: str
    paper: float | None
    ours: float
    unit: str = ""
    tolerance: float | None = None
    band: list[float] | None = None
    source: str = ""
    gated: bool = True

    @property
    def delta(self) -> float | None:
        return None if self.paper is None else self.ours - self.paper

    @property
    def in_band(self) -> bool | None:
        if self.band is None:
            return None
        lo, hi = self.band
        return bool(lo <= self.ours <= hi)

    @property
    def verdict(self) -> str:
        """Agreement with the paper: ``reproduced`` when ``|ours - paper| <= tolerance``."""
        if self.paper is None:
            return "no paper value"
        if self.tolerance is None:
            return "not comparable"
        return "reproduced" if abs(self.ours - self.paper) <= self.tolerance else "differs"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(delta=self.delta, in_band=self.in_band, verdict=self.verdict)
        return d


@dataclass
class Claim:
    key: str
    statement: str
    holds: bool
    must_hold: list[str] = field(default_factory=list)
    evidence: str = ""
    source: str = ""
    gated: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_bands(chapter: str) -> dict[str, Any]:
    """The committed bands of ``chapter`` (empty when none were derived yet)."""
    ref = resources.files("xaibook") / "bands" / f"{chapter}.json"
    if not ref.is_file():
        return {"numbers": {}, "claims": {}}
    return json.loads(ref.read_text())


def _git_commit() -> str:
    root = paths.project_root()
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return sha + ("-dirty" if dirty else "")


def _versions() -> dict[str, str]:
    import numpy
    import torch
    import torchvision

    from . import __version__

    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "numpy": numpy.__version__, "xaibook": __version__}


def describe_device(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(torch.device(device))} (CUDA {torch.version.cuda})"
    return f"CPU: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


class Scorecard:
    """Collects a chapter's numbers and claims and writes ``results/<chapter>.json``.

    Bands and ``must_hold`` come from the committed bands file for the run's profile, so a
    notebook never states its own pass criteria.
    """

    def __init__(self, chapter: str, *, profile: str, data: str, seed: int, device: str = "cpu",
                 results_dir: str | Path | None = None) -> None:
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
        if data not in DATA_KINDS:
            raise ValueError(f"data must be one of {DATA_KINDS}, got {data!r}")
        self.chapter, self.profile, self.data, self.seed, self.device = chapter, profile, data, seed, device
        self.results_dir = Path(results_dir) if results_dir else paths.results_dir()
        self.numbers: dict[str, Number] = {}
        self.claims: dict[str, Claim] = {}
        self._bands = load_bands(chapter) if profile == "fast" and data == "synthetic" else {"numbers": {}, "claims": {}}
        self._t0 = time.perf_counter()

    def number(self, key: str, label: str, ours: float, *, paper: float | None = None, unit: str = "",
               tolerance: float | None = None, source: str = "", gate: bool = True) -> float:
        """Record a reproduced number; returns ``ours`` so it can be used inline.

        ``gate=False`` for numbers that depend on the machine (throughput, wall time): they are
        reported but never get a band, since speed is measured by benchmarks, not asserted.
        """
        if key in self.numbers:
            raise KeyError(f"number {key!r} recorded twice in chapter {self.chapter}")
        ours = float(ours)
        if not math.isfinite(ours):
            raise ValueError(f"number {key!r} of chapter {self.chapter} is not finite: {ours}")
        band = self._bands["numbers"].get(key, {}).get("band") if gate else None
        self.numbers[key] = Number(key, label, None if paper is None else float(paper), ours, unit,
                                   tolerance, band, source, gate)
        return ours

    def claim(self, key: str, statement: str, holds: bool, *, evidence: str = "", source: str = "",
              gate: bool = True) -> bool:
        """Record a qualitative claim of the paper as a check on this run (``gate=False``: never required)."""
        if key in self.claims:
            raise KeyError(f"claim {key!r} recorded twice in chapter {self.chapter}")
        must_hold = list(self._bands["claims"].get(key, {}).get("must_hold", [])) if gate else []
        self.claims[key] = Claim(key, statement, bool(holds), must_hold, evidence, source, gate)
        return bool(holds)

    def failures(self) -> list[str]:
        """Numbers outside their band and must-hold claims that do not hold, as messages."""
        out = [f"{n.key} = {n.ours:.4g} outside band {n.band}" for n in self.numbers.values() if n.in_band is False]
        out += [f"claim {c.key} does not hold: {c.statement}" for c in self.claims.values()
                if self.profile in c.must_hold and not c.holds]
        missing = set(self._bands["numbers"]) - set(self.numbers)
        out += [f"number {k} has a band but was not recorded" for k in sorted(missing)]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "chapter": self.chapter,
            "profile": self.profile,
            "data": self.data,
            "provenance": {"seed": self.seed, "commit": _git_commit(), "versions": _versions(),
                           "device": describe_device(self.device),
                           "wall_time_s": round(time.perf_counter() - self._t0, 2)},
            "numbers": [n.to_dict() for n in self.numbers.values()],
            "claims": [c.to_dict() for c in self.claims.values()],
        }

    def write(self) -> Path:
        return atomic_write_json(self.results_dir / f"{self.chapter}.json", self.to_dict())

    def numbers_frame(self, keys: list[str] | None = None):
        """The paper | ours | delta | verdict table for display in the chapter."""
        import pandas as pd

        rows = [self.numbers[k] for k in (keys or list(self.numbers))]
        return pd.DataFrame({
            "quantity": [n.label for n in rows],
            "paper": [n.paper for n in rows],
            "ours": [n.ours for n in rows],
            "delta": [n.delta for n in rows],
            "band (fast)": ["" if n.band is None else f"[{n.band[0]:.3g}, {n.band[1]:.3g}]" for n in rows],
            "verdict": [n.verdict for n in rows],
        }).set_index("quantity")

    def claims_frame(self):
        import pandas as pd

        return pd.DataFrame({
            "claim": [c.statement for c in self.claims.values()],
            "holds": ["yes" if c.holds else "no" for c in self.claims.values()],
            "must hold in": [", ".join(c.must_hold) or "-" for c in self.claims.values()],
            "evidence": [c.evidence for c in self.claims.values()],
        }).set_index("claim")


def derive_bands(runs: list[dict[str, Any]], *, rel_pad: float = 0.5, abs_pad: dict[str, float] | None = None) -> dict[str, Any]:
    """Bands from several seeded runs of one chapter.

    For each number: ``[min - pad, max + pad]`` with ``pad = max(rel_pad * (max - min), floor)``;
    the floor is ``abs_pad[unit]`` (default 2 for percentages, 0.02 for fractions, else 5% of
    ``|mean|``); percentages are clipped to [0, 100] and fractions to [0, 1]. A claim must hold
    in ``fast`` only if it held in every run.
    """
    floors = {"%": 2.0, "fraction": 0.02, "pp": 2.0}
    floors.update(abs_pad or {})
    numbers: dict[str, Any] = {}
    # a number absent from some run (e.g. the energy of incorrect predictions when there were
    # none) gets no band: it cannot be required of every run
    for key in [k for k in runs[0]["numbers"] if all(k in r["numbers"] for r in runs)
                and runs[0]["numbers"][k].get("gated", True)]:
        vals = [r["numbers"][key]["ours"] for r in runs]
        unit = runs[0]["numbers"][key]["unit"]
        spread = max(vals) - min(vals)
        mean = sum(vals) / len(vals)
        pad = max(rel_pad * spread, floors.get(unit, 0.05 * abs(mean)))
        lo, hi = min(vals) - pad, max(vals) + pad
        if unit in LIMITS:      # a share cannot leave its natural range, whatever the padding
            lo, hi = max(lo, LIMITS[unit][0]), min(hi, LIMITS[unit][1])
        numbers[key] = {"band": [round(lo, 4), round(hi, 4)], "observed": vals}
    claims = {}
    for key in runs[0]["claims"]:
        held = [bool(r["claims"][key]["holds"]) for r in runs]
        required = all(held) and runs[0]["claims"][key].get("gated", True)
        claims[key] = {"must_hold": ["fast"] if required else [], "held": f"{sum(held)}/{len(held)}"}
    return {"profile": "fast", "seeds": [r["seed"] for r in runs],
            "rule": f"band = [min - pad, max + pad], pad = max({rel_pad} x spread, unit floor {floors})",
            "numbers": numbers, "claims": claims}
