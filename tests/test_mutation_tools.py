"""The developer commands that count what the tests catch: ``make mutmut``'s parsing of mutmut's results."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def score():
    spec = importlib.util.spec_from_file_location("mutmut_score", ROOT / "scripts" / "mutmut_score.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_results_are_counted_per_module_and_scored_without_the_untested(score):
    lines = ["    xaibook.metrics.pointing.x_distance_mask__mutmut_1: killed",
             "    xaibook.metrics.pointing.x_distance_mask__mutmut_2: survived",
             "    xaibook.metrics.pointing.x_constructed_example__mutmut_7: killed",
             "    xaibook.metrics.classification.xǁPRFǁas_percent__mutmut_3: no tests",
             "    xaibook.metrics.classification.x_confusion__mutmut_12: killed",
             "    xaibook.metrics.classification.x_confusion__mutmut_13: timeout",
             "some progress line mutmut prints"]
    out = score.summarise(lines)
    assert out["per_module"] == {"xaibook.metrics.classification": {"no tests": 1, "killed": 1, "timeout": 1},
                                 "xaibook.metrics.pointing": {"killed": 2, "survived": 1}}
    assert out["caught"] == 3 and out["score"] == pytest.approx(3 / 4)   # timeouts and "no tests" counted apart
    assert out["survivors"] == ["xaibook.metrics.pointing.x_distance_mask__mutmut_2"]


def test_the_configuration_mutates_one_package_and_selects_its_tests(score):
    cfg = score.config("metrics")
    assert "only_mutate =\n    src/xaibook/metrics/*\n" in cfg
    assert all(f"    tests/{t}\n" in cfg for t in score.TESTS["metrics"])
    assert all((ROOT / "tests" / t).is_file() for tests in score.TESTS.values() for t in tests)
    assert "    not chapters\n" in cfg
