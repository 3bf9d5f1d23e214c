"""The claims registry, bands and the registry decorator."""
from __future__ import annotations

import json

import pytest

from xaibook import claims
from xaibook.claims import Scorecard, derive_bands
from xaibook.registry import Registry


@pytest.fixture
def card(tmp_path, monkeypatch):
    bands = {"numbers": {"f1": {"band": [90.0, 95.0]}}, "claims": {"better": {"must_hold": ["fast"]}}}
    monkeypatch.setattr(claims, "load_bands", lambda chapter: bands)
    return Scorecard("99_test", profile="fast", data="synthetic", seed=3, results_dir=tmp_path)


def test_number_verdicts_and_delta(card):
    card.number("f1", "F1 (%)", 93.0, paper=97.45, unit="%", tolerance=5.0)
    card.number("p", "P (%)", 80.0, paper=97.95, unit="%", tolerance=5.0)
    card.number("n", "count", 10, paper=None)
    n = card.numbers
    assert n["f1"].delta == pytest.approx(-4.45) and n["f1"].verdict == "reproduced" and n["f1"].in_band
    assert n["p"].verdict == "differs" and n["p"].in_band is None
    assert n["n"].verdict == "no paper value"


def test_failures_name_out_of_band_numbers_and_failed_claims(card):
    card.number("f1", "F1", 96.0)
    card.claim("better", "A beats B", False)
    card.claim("extra", "not required", False)
    fails = card.failures()
    assert any("f1 = 96 outside band [90.0, 95.0]" in f for f in fails)
    assert any("claim better does not hold" in f for f in fails)
    assert not any("extra" in f for f in fails)


def test_a_banded_number_that_was_not_recorded_is_a_failure(card):
    card.claim("better", "A beats B", True)
    assert card.failures() == ["number f1 has a band but was not recorded"]


def test_paper_profile_has_no_bands(tmp_path):
    c = Scorecard("01_foam", profile="paper", data="real", seed=0, results_dir=tmp_path)
    c.number("binary_f1", "F1", 10.0)
    assert c.numbers["binary_f1"].band is None and c.failures() == []


def test_duplicates_and_non_finite_values_are_refused(card):
    card.number("f1", "F1", 93.0)
    with pytest.raises(KeyError, match="recorded twice"):
        card.number("f1", "F1", 94.0)
    with pytest.raises(ValueError, match="not finite"):
        card.number("x", "x", float("nan"))


def test_write_is_atomic_and_follows_the_schema(card, tmp_path):
    card.number("f1", "F1", 93.0, paper=97.45, unit="%", tolerance=5)
    card.claim("better", "A beats B", True, evidence="93 > 70")
    path = card.write()
    assert [p.name for p in tmp_path.iterdir()] == ["99_test.json"]
    r = json.loads(path.read_text())
    assert {"chapter", "profile", "data", "provenance", "numbers", "claims"} <= set(r)
    assert {"seed", "commit", "versions", "device", "wall_time_s"} <= set(r["provenance"])
    assert {"key", "label", "paper", "ours", "unit", "band", "verdict"} <= set(r["numbers"][0])
    assert {"key", "statement", "holds", "must_hold", "evidence"} <= set(r["claims"][0])
    assert r["claims"][0]["must_hold"] == ["fast"] and r["provenance"]["seed"] == 3


def test_bad_profile_or_data_is_refused(tmp_path):
    with pytest.raises(ValueError, match="profile"):
        Scorecard("x", profile="quick", data="synthetic", seed=0, results_dir=tmp_path)
    with pytest.raises(ValueError, match="data"):
        Scorecard("x", profile="fast", data="fake", seed=0, results_dir=tmp_path)


def test_derive_bands_rule():
    runs = [{"seed": s, "numbers": {"f1": {"ours": v, "unit": "%"}, "e": {"ours": w, "unit": "fraction"}},
             "claims": {"a": {"holds": True}, "b": {"holds": s != 1}}}
            for s, v, w in [(0, 90.0, 0.5), (1, 94.0, 0.52), (2, 92.0, 0.51)]]
    b = derive_bands(runs)
    assert b["numbers"]["f1"]["band"] == [88.0, 96.0]          # pad = max(0.5 * 4, 2) = 2
    assert b["numbers"]["e"]["band"] == [0.48, 0.54]           # pad = max(0.01, 0.02) = 0.02
    assert b["claims"]["a"]["must_hold"] == ["fast"] and b["claims"]["b"]["must_hold"] == []
    assert b["claims"]["b"]["held"] == "2/3"


def test_registry_refuses_duplicates_and_names_unknowns():
    reg: Registry[int] = Registry("widget")
    reg.add("a", 1)
    with pytest.raises(KeyError, match="already registered"):
        reg.add("a", 2)
    with pytest.raises(KeyError, match="unknown widget 'b'; known: a"):
        reg.get("b")


def test_ungated_numbers_and_claims_get_no_band_and_are_never_required(card):
    card.number("f1", "F1", 93.0)
    card.number("fps", "maps per second", 12.0, gate=False)
    card.claim("better", "A beats B", True)
    card.claim("faster", "batching is faster", False, gate=False)
    assert card.numbers["fps"].band is None and card.claims["faster"].must_hold == []
    assert card.failures() == []
    runs = [{"seed": s, "numbers": {"fps": {"ours": v, "unit": "", "gated": False}},
             "claims": {"faster": {"holds": True, "gated": False}}} for s, v in [(0, 10.0), (1, 11.0)]]
    b = derive_bands(runs)
    assert b["numbers"] == {} and b["claims"]["faster"]["must_hold"] == []


def test_bands_of_shares_stay_in_their_natural_range():
    runs = [{"seed": s, "numbers": {"f1": {"ours": v, "unit": "%"}, "e": {"ours": w, "unit": "fraction"}},
             "claims": {}} for s, v, w in [(0, 99.0, 0.01), (1, 100.0, 0.0)]]
    b = derive_bands(runs)
    assert b["numbers"]["f1"]["band"] == [97.0, 100.0] and b["numbers"]["e"]["band"] == [0.0, 0.03]


def test_atomic_write_gives_the_usual_file_mode(tmp_path):
    import os
    import stat

    from xaibook._utils.io import atomic_write_text

    mask = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "r.json", "{}")
    finally:
        os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644 and path.read_text() == "{}"


def test_atomic_directory_gives_the_usual_folder_mode(tmp_path):
    import os
    import stat

    from xaibook._utils.io import atomic_directory

    mask = os.umask(0o022)
    try:
        with atomic_directory(tmp_path / "data") as tmp:
            (tmp / "x.txt").write_text("x")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o755       # not mkdtemp's 0700
    assert (tmp_path / "data" / "x.txt").read_text() == "x"
