"""The build driver: failures name the chapter and cell; the scorecard page shows every number."""
from __future__ import annotations

import json

import nbformat
import pytest

from xaibook.book import build


def test_failing_chapter_names_chapter_and_cell(tmp_path):
    root = tmp_path / "repo"
    (root / "notebooks").mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("profile = 'fast'\nresults_dir = None")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("raise ValueError('bad band')")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / "notebooks" / "99_broken.ipynb")
    with pytest.raises(build.ChapterFailed, match=r"chapter 99_broken failed in cell \d+ .*ValueError: bad band"):
        build.execute(["99_broken"], profile="fast", out_dir=tmp_path / "out", results_dir=tmp_path / "res", root=root)


def test_missing_notebook_is_named(tmp_path):
    (tmp_path / "notebooks").mkdir()
    with pytest.raises(build.ChapterFailed, match="99_none.ipynb does not exist"):
        build.execute(["99_none"], profile="fast", out_dir=tmp_path / "o", results_dir=tmp_path / "r", root=tmp_path)


def test_unknown_chapter_and_profile_are_refused(tmp_path):
    with pytest.raises(KeyError, match="unknown chapter '07_x'"):
        build.select("01_foam 07_x")
    with pytest.raises(ValueError, match="profile"):
        build.execute([], profile="slow", out_dir=tmp_path, results_dir=tmp_path)


def test_scorecard_markdown_lists_numbers_spread_claims_and_provenance():
    result = {"chapter": "01_foam", "profile": "fast", "data": "synthetic",
              "provenance": {"seed": 0, "commit": "abc", "versions": {}, "device": "CPU", "wall_time_s": 99.0,
                             "cpu": "AMD EPYC", "capability": "AVX512", "threads": 2, "kernel_path": "native"},
              "bands": {"runs_summary": {"n": 20, "seeds": list(range(10)), "kernels": ["avx2", "native"],
                                         "gated_numbers": 1, "gated_claims": 0},
                        "kernel_effect": {"sentence": "CPU kernels change this chapter's numbers."}},
              "numbers": [{"key": "f1", "label": "Binary F1 (%)", "paper": 97.45, "ours": 96.8, "unit": "%",
                           "delta": -0.65, "band": [94.0, 99.0], "in_band": True, "verdict": "reproduced",
                           "spread": {"mean": 96.0, "lo": 94.5, "hi": 98.25, "n": 20}},
                          {"key": "n", "label": "Images", "paper": 5135, "ours": 1175.0, "unit": "count",
                           "delta": -3960.0, "band": None, "in_band": None, "verdict": "not comparable",
                           "spread": None}],
              "claims": [{"key": "c", "statement": "Binary beats fine", "holds": False, "must_hold": [],
                          "evidence": "1 vs 2", "source": "", "held": "13/20", "verdict": "undecided",
                          "interval": [-0.05, 0.1]},
                         {"key": "d", "statement": "Fine beats chance", "holds": False, "must_hold": ["fast"],
                          "must_fail": [], "evidence": "0.4", "source": "", "held": "20/20", "verdict": "holds",
                          "interval": [0.02, 0.3]}]}
    md = build.scorecard_markdown([json.loads(json.dumps(result))])
    tag = '<span class="verdict verdict-{}">{}</span>'
    # verdict columns first: in band and verdict, then the values
    assert (f"| Binary F1 (%) | yes | {tag.format('reproduced', 'reproduced')} | 97.45 | 96.80 | [94.00, 99.00] | "
            f"-0.65 | 96.00 [94.50, 98.25] |") in md
    assert f"| Images | – | {tag.format('na', 'not comparable')} | 5135 | 1175 | – | -3960 | – |" in md
    assert "| Binary beats fine | fails | undecided | no | [-0.05, 0.1] (13/20) | 1 vs 2 |" in md
    assert "| Fine beats chance | **fails** | holds | yes | [0.02, 0.3] (20/20) | 0.4 |" in md   # a changed verdict
    assert "Profile **fast**, data **synthetic**, seed 0, commit `abc`, AMD EPYC, torch capability AVX512" in md
    assert "CPU kernels change this chapter's numbers. Our spread comes from 20 runs: seeds 0-9" in md
    assert ": some of our runs come within the tolerance" in md        # the verdicts are defined
    # the summary line: one reproduced number; claims 1 holds, 1 undecided; nothing out of band, 1 verdict changed
    assert (f"| [01 Foam](../notebooks/01_foam.ipynb) ([card](#card-01-foam)) | 0 of 1; **1** of 1 | 1 / 0 / 0 / 1 | "
            f"{tag.format('reproduced', 1)} / 0 / 0 | 0 | fast, synthetic |") in md
    assert "(card-01-foam)=" in md


def test_start_chapter_resolves_data_kind_and_opens_the_scorecard(tmp_path):
    from xaibook.book.notebook import start_chapter

    run = start_chapter("01_foam", profile="paper", data=None, seed=5, device="cpu", results_dir=str(tmp_path),
                        settings=lambda profile, smoke=False: {"profile": profile, "smoke": smoke})
    assert run.data == "real" and run.cfg == {"profile": "paper", "smoke": False}
    assert run.tag == "paper profile, real data"
    smoke = start_chapter("01_foam", profile="paper", data=None, seed=5, device="cpu", results_dir=str(tmp_path),
                          settings=lambda profile, smoke=False: {"smoke": smoke}, smoke=True)
    assert smoke.data == "synthetic" and smoke.cfg == {"smoke": True} and "SMOKE RUN" in smoke.tag
    assert smoke.card.write() is None and not list(tmp_path.iterdir())     # a smoke run writes no result
    assert run.card.seed == 5 and run.card.results_dir == tmp_path
    assert start_chapter("01_foam", profile="fast", data=None, seed=0, device="cpu", results_dir=str(tmp_path),
                         settings=lambda p: None).data == "synthetic"


def test_strip_outputs_clears_outputs_and_counts_only(tmp_path):
    import nbformat

    from xaibook.book.build import strip_outputs

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), nbformat.v4.new_code_cell("1 + 1", execution_count=3,
                outputs=[nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=3)])]
    dirty, clean = tmp_path / "a.ipynb", tmp_path / "b.ipynb"
    nbformat.write(nb, dirty)
    assert strip_outputs([dirty]) == [dirty]
    back = nbformat.read(dirty, as_version=4)
    assert back.cells[1].outputs == [] and back.cells[1].execution_count is None and back.cells[1].source == "1 + 1"
    nbformat.write(back, clean)
    assert strip_outputs([clean]) == []                          # nothing to do: the file is left alone


def test_a_changed_verdict_is_counted_in_both_directions():
    """A claim that failed decisively over the derivation runs (must_fail) and holds in this run changed
    its verdict, as much as a must-hold claim that fails: the scorecard counts and bolds both. Catches a
    comparison that looks at must_hold only."""
    up = {"key": "up", "statement": "A beats B", "holds": False, "must_hold": ["fast"], "must_fail": [],
          "evidence": "", "verdict": "holds"}
    down = {"key": "down", "statement": "C beats D", "holds": True, "must_hold": [], "must_fail": ["fast"],
            "evidence": "", "verdict": "fails"}
    assert build.claim_changed(up, "fast") and build.claim_changed(down, "fast")
    assert not build.claim_changed(down, "paper") and not build.claim_changed({**down, "holds": False}, "fast")
    r = {"profile": "fast", "numbers": [], "claims": [up, down]}
    sm = build.chapter_summary(r)
    assert sm["verdicts changed"] == 2 and sm["claims gated"] == 2
    only_down = build.chapter_summary({**r, "claims": [down]})
    assert only_down["verdicts changed"] == 1
