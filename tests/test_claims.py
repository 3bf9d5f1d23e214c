"""The claims registry, bands and the registry decorator."""
from __future__ import annotations

import json

import numpy as np
import pytest

from xaibook.book import claims
from xaibook.book.claims import Scorecard, derive_bands
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
    assert n["f1"].delta == pytest.approx(-4.45) and n["f1"].verdict == "reproduced (this run)" and n["f1"].in_band
    assert n["p"].verdict == "differs (this run)" and n["p"].in_band is None
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
    assert {"seed", "commit", "versions", "device", "wall_time_s", "cpu", "capability", "threads", "blas",
            "kernel_path"} <= set(r["provenance"])
    assert "/" not in json.dumps(r["provenance"]["blas"]) and str(tmp_path) not in path.read_text()
    assert {"key", "label", "paper", "ours", "unit", "band", "verdict"} <= set(r["numbers"][0])
    assert {"key", "statement", "holds", "must_hold", "evidence"} <= set(r["claims"][0])
    assert r["claims"][0]["must_hold"] == ["fast"] and r["provenance"]["seed"] == 3


def test_bad_profile_or_data_is_refused(tmp_path):
    with pytest.raises(ValueError, match="profile"):
        Scorecard("x", profile="quick", data="synthetic", seed=0, results_dir=tmp_path)
    with pytest.raises(ValueError, match="data"):
        Scorecard("x", profile="fast", data="fake", seed=0, results_dir=tmp_path)


def _runs(values: dict[str, list[float]], units: dict[str, str], claims: dict[str, list] | None = None,
          kernels=("native", "avx2"), resolution: dict[str, float] | None = None) -> list[dict]:
    """Runs over seeds x kernel paths: values listed seed by seed, each seed's kernels in turn (numbers, claims)."""
    n = len(next(iter((values or claims).values())))
    out = []
    for i in range(n):
        seed, kernel = i // len(kernels), kernels[i % len(kernels)]
        out.append({"seed": seed, "kernel": kernel,
                    "numbers": {k: {"ours": v[i], "unit": units[k], "label": k} for k, v in values.items()},
                    "claims": {k: {"holds": m[i] is None or m[i] > 0, "margin": m[i],
                                   "resolution": (resolution or {}).get(k)} for k, m in (claims or {}).items()}})
    return out


def test_band_is_the_stated_prediction_interval():
    from scipy import stats

    vals = [90.0, 91.0, 92.0, 93.0, 94.0, 90.5, 91.5, 92.5, 93.5, 92.0]       # 5 seeds x 2 kernels
    b = derive_bands(_runs({"f1": vals}, {"f1": ""}))
    e = b["numbers"]["f1"]
    mean, sd = np.mean(vals), np.std(vals, ddof=1)
    alpha = 0.01 / 5 / 1                                                      # one gated quantity
    k = stats.t.ppf(1 - alpha / 2, 5 - 1)                                      # df counts seeds
    half = k * sd * np.sqrt(1 + 1 / 10)
    assert e["band"] == pytest.approx([mean - half, mean + half], abs=1e-5)
    assert e["mean"] == pytest.approx(mean) and (e["min"], e["max"], e["n"]) == (90.0, 94.0, 10)
    assert b["alpha_per_quantity"] == pytest.approx(alpha) and b["runs_summary"]["gated_numbers"] == 1


def test_bands_are_bonferroni_corrected_over_what_is_gated():
    rng = np.random.default_rng(0)
    values = {f"x{i}": list(50 + rng.normal(0, 1, 20)) for i in range(4)}
    b = derive_bands(_runs(values, dict.fromkeys(values, "%")))
    assert b["runs_summary"]["gated_numbers"] == 4
    assert b["alpha_per_quantity"] == pytest.approx(0.01 / 5 / 4)


def test_uninformative_numbers_are_shown_not_gated_and_the_rest_get_the_freed_budget():
    rng = np.random.default_rng(1)
    values = {"tight": list(80 + rng.normal(0, 1, 20)), "wild": list(50 + rng.normal(0, 25, 20)),
              "effect": list(rng.normal(0, 3, 20))}
    b = derive_bands(_runs(values, {"tight": "%", "wild": "%", "effect": "pp"}))
    assert b["numbers"]["wild"]["band"] is None and "natural range" in b["numbers"]["wild"]["reason"]
    assert b["numbers"]["effect"]["band"] is None and "zero" in b["numbers"]["effect"]["reason"]
    assert b["numbers"]["tight"]["band"] is not None
    assert b["alpha_per_quantity"] == pytest.approx(0.002)                    # only 'tight' is gated
    assert b["numbers"]["wild"]["mean"] == pytest.approx(np.mean(values["wild"]))   # the spread is still shown


def test_bands_keep_every_run_inside_and_stay_in_natural_ranges():
    b = derive_bands(_runs({"share": [99.0, 100.0, 99.5, 100.0, 99.8, 99.9], "n": [3, 5, 4, 4, 6, 3],
                            "e": [0.0, 0.01, 0.0, 0.02, 0.01, 0.0]}, {"share": "%", "n": "count", "e": "fraction"}))
    lo, hi = b["numbers"]["share"]["band"]
    assert hi == 100.0 and lo < 99.0
    assert b["numbers"]["e"]["band"][0] == 0.0
    assert b["numbers"]["n"]["band"] is None or b["numbers"]["n"]["band"][0] >= 0.0     # counts never negative


def test_band_covers_new_runs_at_the_stated_rate():
    """Monte Carlo: for normal numbers the band misses a new run at most alpha of the time (a spread of
    20 points, so the machine floor of 1 point barely matters)."""
    rng = np.random.default_rng(2)
    misses, trials = 0, 400
    for _ in range(trials):
        b = derive_bands(_runs({"x": list(rng.normal(500, 20, 20))}, {"x": "pp"}), suite_alpha=0.2, suite_chapters=1)
        lo, hi = b["numbers"]["x"]["band"]
        misses += not lo <= rng.normal(500, 20) <= hi
    assert misses / trials <= 0.2 + 3 * np.sqrt(0.2 * 0.8 / trials)
    assert misses / trials >= 0.05          # and is not needlessly wide (the rule is not min/max + pad)


def test_claim_verdicts_come_from_the_margin_interval():
    from scipy import stats

    values = {"f1": [90.0 + i % 3 for i in range(20)]}
    margins = {"safe": [5.0 + 0.1 * (i % 4) for i in range(20)],
               "fails": [-3.0 - 0.2 * (i % 5) for i in range(20)],
               "close": [0.5 + (i % 5) * 0.4 for i in range(20)],
               "tiny": [0.001 * ((i % 5) - 2) for i in range(20)],
               "once_failed": [1.0] * 19 + [-0.1],
               "no_margin": [None] * 20}
    runs = _runs(values, {"f1": "%"}, margins)
    for r in runs:
        r["claims"]["tiny"]["resolution"] = 0.01
    b = derive_bands(runs)
    c = b["claims"]
    assert (c["safe"]["verdict"], c["safe"]["must_hold"], c["safe"]["must_fail"]) == ("holds", ["fast"], [])
    assert (c["fails"]["verdict"], c["fails"]["must_hold"], c["fails"]["must_fail"]) == ("fails", [], ["fast"])
    assert c["close"]["verdict"] == "undecided" and c["close"]["must_hold"] == c["close"]["must_fail"] == []
    assert c["tiny"]["verdict"] == "no effect" and c["tiny"]["held"] == "8/20"
    assert c["once_failed"]["verdict"] == "undecided" and c["once_failed"]["held"] == "19/20"
    assert c["no_margin"]["verdict"] == "undecided" and "without a margin" in c["no_margin"]["reason"]
    assert b["runs_summary"]["gated_claims"] == 2
    alpha = 0.002 / 3                                                          # f1, 'safe' and 'fails'
    assert b["alpha_per_quantity"] == pytest.approx(alpha)
    m = np.array(margins["safe"])
    half = stats.t.ppf(1 - alpha, 9) * m.std(ddof=1) * np.sqrt(1 + 1 / 20)     # one-sided on each side
    assert c["safe"]["interval"] == pytest.approx([m.mean() - half, m.mean() + half], abs=1e-5)


def test_every_claim_is_judged_at_the_alpha_the_rule_states():
    """G is the smallest count at which at most G quantities qualify, and every candidate is judged at
    a = 0.002 / G. The rule before 2026-12-04 dropped 'border' while eight undecided claims still
    counted (G = 10, t = 5.46) and never judged it again at the final G, so the bands file called it
    undecided although its interval at the stated a lies above zero."""
    from scipy import stats

    noise = {f"noise{j}": list(np.random.default_rng(j).normal(0, 1, 20)) for j in range(8)}
    margins = {"safe": [5.0 + 0.1 * (i % 4) for i in range(20)],
               "border": [1.15 + 0.2 * ((i % 4) - 1.5) for i in range(20)], **noise}
    b = derive_bands(_runs({}, {}, margins))
    c = b["claims"]
    alpha = 0.002 / 2                                                          # 'safe' and 'border'
    assert b["alpha_per_quantity"] == pytest.approx(alpha) and b["runs_summary"]["gated_claims"] == 2
    k1 = stats.t.ppf(1 - alpha, 9)
    for key in ("border", *noise):                                             # one t for every candidate
        m = np.array(margins[key])
        half = k1 * m.std(ddof=1) * np.sqrt(1 + 1 / 20)
        assert c[key]["interval"][0] == pytest.approx(min(m.mean() - half, m.min()), abs=1e-5)
    assert c["border"]["verdict"] == "holds" and c["border"]["must_hold"] == ["fast"]
    assert all(c[k]["verdict"] == "undecided" and c[k]["must_hold"] == [] for k in noise)
    m = np.array(margins["border"])            # at the old rule's G = 10 the same margins were undecided
    assert m.mean() - stats.t.ppf(1 - 0.002 / 10, 9) * m.std(ddof=1) * np.sqrt(1.05) < 0


def test_a_gated_claim_verdict_fails_the_build_in_both_directions(tmp_path, monkeypatch):
    bands = {"numbers": {}, "claims": {"up": {"must_hold": ["fast"], "verdict": "holds", "interval": [0.1, 0.3]},
                                       "down": {"must_fail": ["fast"], "verdict": "fails", "interval": [-0.3, -0.1]}}}
    monkeypatch.setattr(claims, "load_bands", lambda chapter: bands)

    def card():
        return Scorecard("99_test", profile="fast", data="synthetic", seed=0, results_dir=tmp_path)

    ok = card()
    ok.claim("up", "A beats B", True, margin=0.2)
    ok.claim("down", "C beats D", False, margin=-0.2)
    assert ok.failures() == [] and ok.claims["down"].verdict == "fails" and not ok.claims["down"].changed
    flipped = card()
    flipped.claim("up", "A beats B", False, margin=-0.01)
    flipped.claim("down", "C beats D", True, margin=0.01)
    fails = flipped.failures()
    assert any("claim up does not hold" in f for f in fails)
    assert any("claim down holds, but failed decisively" in f for f in fails)
    assert "[-0.3, -0.1] (–)" not in claims.margin_text([-0.3, -0.1]) and claims.margin_text(None) == "–"
    other_draw = Scorecard("99_test", profile="fast", data="synthetic", seed=0, results_dir=tmp_path, data_seed=1)
    other_draw.claim("up", "A beats B", False)
    assert other_draw.failures() == []       # bands hold for the stand-in they were derived on (data_seed 0)


def test_kernel_effect_compares_paths_of_one_seed_with_the_spread_between_seeds():
    vals = [10.0, 10.0, 20.0, 20.0, 30.0, 30.0]         # kernels do not matter, seeds do
    b = derive_bands(_runs({"x": vals, "y": [1.0, 2.0, 1.0, 2.0, 1.0, 2.0]}, {"x": "", "y": ""}))
    per = b["kernel_effect"]["per_number"]
    assert per["x"]["changed_seeds"] == 0 and per["y"]["changed_seeds"] == 3
    assert per["y"]["mean_abs_change"] == 1.0
    assert "1 of 2 numbers" in b["kernel_effect"]["sentence"]


def test_merged_derivations_over_disjoint_seeds_equal_one_derivation_over_all():
    """Seeds 0-9 and 10-19 derived apart and merged give what one derivation over seeds 0-19 gives: the same
    bands, t (19 degrees of freedom), verdicts and per-run records; shared runs are refused; with one kernel
    path the sentence says the kernel effect was not measured."""
    rng = np.random.default_rng(0)
    vals, margins = list(rng.normal(80, 2, 20)), list(rng.normal(0.1, 0.01, 20))
    runs = _runs({"acc": vals}, {"acc": "%"}, {"up": margins}, kernels=("avx2",), resolution={"up": 0.02})
    whole = derive_bands(runs)
    a, b = derive_bands(runs[:10]), derive_bands(runs[10:])
    a["derivation_wall_time_s"], b["derivation_wall_time_s"] = 100.0, 110.0
    merged = claims.merge_bands([a, b])
    assert merged["runs_summary"]["seeds"] == list(range(20)) and merged["t_one_sided"] == whole["t_one_sided"]
    assert merged["numbers"]["acc"]["band"] == whole["numbers"]["acc"]["band"]
    assert merged["numbers"]["acc"]["values"] == vals and merged["claims"]["up"]["margins"] == margins
    assert merged["claims"]["up"]["interval"] == whole["claims"]["up"]["interval"]
    assert merged["claims"]["up"]["verdict"] == "holds" and merged["derivation_wall_time_s"] == 210.0
    assert whole["kernel_effect"]["pairs"] == 0 and "was not measured" in whole["kernel_effect"]["sentence"]
    with pytest.raises(ValueError, match="share runs"):
        claims.merge_bands([a, a])


def test_verdicts_compare_the_paper_with_our_distribution():
    from xaibook.book.claims import Spread, verdict

    s = Spread(mean=80.0, lo=70.0, hi=90.0, n=20)
    assert verdict(83.0, 5.0, 60.0, s) == "reproduced"        # this run is far off; the distribution agrees
    assert verdict(93.0, 5.0, 80.0, s) == "mixed"
    assert verdict(99.0, 5.0, 95.0, s) == "differs"
    assert verdict(99.0, 5.0, 95.0, None) == "reproduced (this run)"
    assert verdict(None, 5.0, 95.0, s) == "no paper value" and verdict(90.0, None, 95.0, s) == "not comparable"


def test_the_mixed_window_reaches_the_tolerance_on_both_sides_of_our_runs():
    """'mixed' is symmetric: a paper value 3 points outside our runs' range (tolerance 5) is mixed whether it
    lies above our highest run or below our lowest; 6 points outside is 'differs' on either side."""
    from xaibook.book.claims import Spread, verdict

    s = Spread(mean=80.0, lo=70.0, hi=90.0, n=20)
    assert [verdict(p, 5.0, 80.0, s) for p in (64.0, 67.0, 93.0, 96.0)] == ["differs", "mixed", "mixed", "differs"]


def test_our_spread_is_read_from_a_bands_entry_with_its_lowest_and_highest_run():
    """A bands entry's min and max are our lowest and highest run (lo <= mean <= hi), in the new and the old
    (5-seed, ``observed``) format alike."""
    from xaibook.book.claims import Spread, spread_of

    assert spread_of({"mean": 80.0, "min": 70.0, "max": 90.0, "n": 20}) == Spread(80.0, 70.0, 90.0, 20)
    assert spread_of({"observed": [72.0, 90.0, 78.0]}) == Spread(80.0, 72.0, 90.0, 3)
    assert spread_of({"observed": []}) is None


def test_a_margin_that_contradicts_the_claim_is_refused(card):
    with pytest.raises(ValueError, match="contradicts"):
        card.claim("better", "A beats B", True, margin=-0.5)
    with pytest.raises(ValueError, match="why"):
        card.claim("x", "speed", True, gate=False)


def test_registry_refuses_duplicates_and_names_unknowns():
    reg: Registry[int] = Registry("widget")
    reg.add("a", 1)
    with pytest.raises(KeyError, match="already registered"):
        reg.add("a", 2)
    with pytest.raises(KeyError, match="unknown widget 'b'; known: a"):
        reg.get("b")


def test_ungated_numbers_and_claims_get_no_band_and_are_never_required(card):
    card.number("f1", "F1", 93.0)
    card.number("fps", "maps per second", 12.0, gate=False, why="speed")
    card.claim("better", "A beats B", True)
    card.claim("faster", "batching is faster", False, gate=False, why="speed")
    assert card.numbers["fps"].band is None and card.claims["faster"].must_hold == []
    assert card.numbers["fps"].gate_reason == "speed"
    assert card.failures() == []
    runs = [{"seed": s, "kernel": "native", "numbers": {"fps": {"ours": v, "unit": "", "gated": False,
                                                                "gate_reason": "speed"}},
             "claims": {"faster": {"holds": True, "gated": False}}} for s, v in [(0, 10.0), (1, 11.0)]]
    b = derive_bands(runs)
    assert b["numbers"]["fps"]["band"] is None and b["numbers"]["fps"]["reason"] == "speed"
    assert b["numbers"]["fps"]["mean"] == 10.5 and b["claims"]["faster"]["must_hold"] == []


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


def test_spread_note_says_where_the_spread_comes_from(tmp_path, monkeypatch):
    runs = _runs({"f1": [90.0, 91.0, 92.0, 93.0, 91.5, 92.5]}, {"f1": "%"})
    bands = derive_bands(runs)
    monkeypatch.setattr(claims, "load_bands", lambda chapter: bands)
    card = Scorecard("99_test", profile="fast", data="synthetic", seed=0, results_dir=tmp_path)
    card.number("f1", "F1 (%)", 91.0, paper=92.0, unit="%", tolerance=2.0)
    note = card.spread_note()
    assert "6 fast-profile runs: seeds 0-2, each on the CPU kernel paths avx2, native" in note
    assert "CPU kernels change this chapter's numbers" in note
    n = card.numbers["f1"]
    assert n.spread.n == 6 and n.verdict == "reproduced" and n.band == bands["numbers"]["f1"]["band"]
    paper = Scorecard("99_test", profile="paper", data="real", seed=0, results_dir=tmp_path)
    assert "No spread to show" in paper.spread_note()


def test_numbers_and_margins_that_never_moved_are_gated_at_the_machine_floor():
    """A number equal in every run is checked to the machine floor (1 point of a percentage, 0.01 of a
    fraction, clipped to the natural range), not dropped as "no spread"."""
    values = {"always": [100.0] * 20, "share": [0.25] * 20, "moves": [90.0 + (i % 7) for i in range(20)]}
    b = derive_bands(_runs(values, {"always": "%", "share": "fraction", "moves": "%"},
                           {"fixed": [0.2] * 20, "small": [0.004] * 20, "tiny": [0.012] * 20},
                           resolution={"small": 0.01, "tiny": 0.01}))
    assert b["numbers"]["always"]["band"] == [99.0, 100.0]
    assert b["numbers"]["share"]["band"] == [0.24, 0.26]
    assert b["numbers"]["moves"]["band"][0] < 89.0
    # a margin that never moved is a certain verdict, gated like any other; the interval reaches half the
    # resolution beyond the runs: 0.004 +- 0.005 lies within +-0.01 (no effect), 0.012 +- 0.005 above 0 (holds)
    assert b["claims"]["fixed"]["verdict"] == "holds" and b["claims"]["fixed"]["interval"] == [0.2, 0.2]
    assert b["claims"]["small"]["verdict"] == "no effect" and b["claims"]["small"]["interval"] == [-0.001, 0.009]
    assert b["claims"]["tiny"]["verdict"] == "holds" and b["claims"]["tiny"]["interval"] == [0.007, 0.017]


def test_a_bands_file_can_be_gated_again_from_its_recorded_runs():
    from xaibook.book.claims import rederive_bands

    runs = _runs({"f1": [90.0 + (i % 5) for i in range(20)], "e": [0.1 * (i % 3) for i in range(20)]},
                 {"f1": "%", "e": "fraction"}, {"c": [1.0 + 0.1 * (i % 4) for i in range(20)]})
    b = json.loads(json.dumps(derive_bands(runs)))            # as committed: through JSON
    again = rederive_bands(b)
    assert again["numbers"]["f1"]["band"] == b["numbers"]["f1"]["band"]
    assert again["claims"]["c"]["must_hold"] == b["claims"]["c"]["must_hold"] == ["fast"]
    assert rederive_bands(b, suite_alpha=1e-12)["claims"]["c"]["must_hold"] == []   # a stricter rule gates less
    b["single_path_reason"] = "why the runs took one kernel path"                # what the file says beyond gating
    assert rederive_bands(b)["single_path_reason"] == b["single_path_reason"]


def test_claims_without_recorded_runs_are_shown_not_gated():
    from xaibook.book.claims import rederive_bands

    b = json.loads(json.dumps(derive_bands(_runs({"f1": [90.0 + (i % 5) for i in range(20)]}, {"f1": "%"},
                                                 {"c": [1.0 + 0.1 * (i % 4) for i in range(20)]}))))
    b["claims"]["c"].update(holds=None, margins=None, held="20/20")      # an older derivation kept only the count
    again = rederive_bands(b)
    assert again["claims"]["c"]["must_hold"] == [] and again["claims"]["c"]["held"] == "20/20"
    assert "not recorded" in again["claims"]["c"]["reason"]


def test_floating_point_noise_is_not_spread():
    noisy_100 = [100.0, 99.99999999999956, 100.00000000000001] * 6 + [100.0, 100.0]
    b = derive_bands(_runs({"pca": noisy_100}, {"pca": "%"}))
    assert b["numbers"]["pca"]["band"] == [99.0, 100.0]


def test_claims_held_reads_the_share_of_runs(tmp_path):
    from xaibook.book.claims import Scorecard, claims_held

    card = Scorecard("01_foam", profile="paper", data="real", seed=0, results_dir=tmp_path)
    card.claim("a", "A holds", True, gate=False, why="test")
    card.claim("b", "B holds", True, gate=False, why="test")
    card.claims["a"].held, card.claims["b"].held = "19/20", "17/20"
    assert claims_held(card, 0.9) == ["A holds"] and claims_held(card, 0.8) == ["A holds", "B holds"]


def test_the_results_file_records_the_failures(card):
    card.number("f1", "F1", 96.0)
    card.claim("better", "A beats B", True)
    path = card.write()
    assert json.loads(path.read_text())["failures"] == ["f1 = 96 outside band [90.0, 95.0]"]


def test_verdict_summary_groups_claims_by_verdict_or_by_this_runs_outcome(tmp_path):
    from xaibook.book.claims import Scorecard, verdict_summary

    card = Scorecard("01_foam", profile="paper", data="real", seed=0, results_dir=tmp_path)
    assert verdict_summary(card) == "no claims recorded"
    card.claim("a", "A", True, gate=False, why="test")
    card.claim("b", "B", False, gate=False, why="test")
    card.claim("c", "C", True, gate=False, why="test")
    card.claims["a"].verdict = ""                       # a paper-profile run: no bands, no verdict
    card.claims["b"].verdict = card.claims["c"].verdict = ""
    assert verdict_summary(card) == "**held in this run**: `a`, `c`; **did not hold in this run**: `b`"
    card.claims["a"].verdict, card.claims["b"].verdict, card.claims["c"].verdict = "fails", "holds", "undecided"
    assert verdict_summary(card) == "**holds**: `b`; **fails**: `a`; **undecided**: `c`"


def test_deviations_say_which_settings_the_paper_does_not_state():
    import dataclasses

    from xaibook.book.profiles import deviations

    @dataclasses.dataclass(frozen=True)
    class S:
        n: int
        k: int

    table = deviations(S(50, 3), S(6, 2), {"n": "CPU budget", "k": "fewer"}, unstated=("n",))
    assert table.loc["n", "paper"] == "not stated (paper profile: 50)" and table.loc["k", "paper"] == "3"


def test_a_number_on_its_bands_edge_is_inside(card):
    """Bands are closed: the band [90, 95] holds 90 and 95 (a band clipped to its natural range, e.g.
    [99, 100] for a percentage, must hold a run that scores 100)."""
    assert claims.Number("a", "a", None, 95.0, band=[90.0, 95.0]).in_band
    assert claims.Number("b", "b", None, 90.0, band=[90.0, 95.0]).in_band
    assert claims.Number("c", "c", None, 100.0, "%", band=[99.0, 100.0]).in_band
    assert not claims.Number("d", "d", None, 95.001, band=[90.0, 95.0]).in_band
    card.number("f1", "F1", 95.0)
    card.claim("better", "A beats B", True)
    assert card.failures() == []
