"""Profiles: ``fast`` (CPU, synthetic stand-in, minutes) and ``paper`` (real data, the paper's settings)."""
from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping

PROFILES = ("fast", "paper")


def check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    return profile


def select_settings(profile: str, *, fast: Any, paper: Any, smoke: bool = False,
                    smoke_overrides: Mapping[str, Any] | None = None) -> Any:
    """A chapter's settings for ``profile``; ``smoke`` (paper profile only) applies ``smoke_overrides``:
    the paper's code path with every loop cut to its shortest."""
    cfg = {"fast": fast, "paper": paper}[check_profile(profile)]
    if smoke:
        if profile != "paper":
            raise ValueError("smoke=True runs the paper profile's code path; set profile='paper'")
        if not smoke_overrides:
            raise ValueError("this chapter defines no smoke run (its SMOKE overrides)")
        cfg = dataclasses.replace(cfg, **smoke_overrides)
    return cfg


SMOKE_WHY = "smoke run: the shortest loop that exercises the code path (not a result)"


def _shown(value: Any) -> str:
    """A setting as a reader reads it: tuples as comma-separated lists, None as "–"."""
    if value is None:
        return "–"
    if isinstance(value, (tuple, list)):
        return ", ".join(_shown(v) for v in value)
    return str(value)


def deviations(paper: Any, run: Any, why: Mapping[str, str], smoke: Mapping[str, Any] | None = None,
               unstated: Iterable[str] = ()):
    """Table of every setting in which ``run`` differs from ``paper`` (two dataclass instances).

    Every differing field must have a reason in ``why``; a silent deviation raises, so a chapter
    cannot change a setting without saying so. ``smoke``: the fields a smoke run overrides (the
    chapter's ``SMOKE``), each given :data:`SMOKE_WHY` as its reason. ``unstated``: settings the
    paper does not give; their "paper" cell says so and shows the paper profile's own choice, so
    the book's choices are not passed off as the paper's.
    """
    import pandas as pd

    why = {**why, **{k: SMOKE_WHY for k in (smoke or {})}}
    rows = []
    for f in dataclasses.fields(paper):
        a, b = getattr(paper, f.name), getattr(run, f.name)
        if a != b:
            if f.name not in why:
                raise KeyError(f"setting {f.name!r} differs from the paper ({a!r} -> {b!r}) but has no reason")
            shown = f"not stated (paper profile: {_shown(a)})" if f.name in unstated else _shown(a)
            rows.append({"setting": f.name, "paper": shown, "this run": _shown(b), "why": why[f.name]})
    return pd.DataFrame(rows, columns=["setting", "paper", "this run", "why"]).set_index("setting")


def method_table(rows: list[tuple[str, str, Mapping[str, Any]]], layer: str | None = None):
    """The saliency methods a chapter runs, each with the variant its code computes.

    ``rows``: (label in the chapter, registry name, options) per method, as the chapter builds it;
    the definition comes from :func:`xaibook.saliency.describe`, so the table cannot drift from
    the code. ``layer``: the layer CAMs read, shown once per row that uses one.
    """
    import pandas as pd

    from ..saliency import METHODS, describe

    out = []
    for label, name, options in rows:
        uses_layer = METHODS.get(name).contract == "cam" or options.get("method") in ("gradcam", "gradcampp")
        out.append({"method": label, "registry name": name, "layer": layer if uses_layer and layer else "–",
                    "what the code computes": describe(name, **options)})
    return pd.DataFrame(out).set_index("method")
