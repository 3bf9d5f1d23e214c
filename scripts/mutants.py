"""Seeded science bugs, counted: ``make mutants``.

Each entry of :data:`MUTANTS` (``scripts/mutants_catalogue.py``) is one small, plausible science
bug: a label threshold, a box read with its axes swapped, a map replaced by noise, a sign, an
index from a subset back to the data set. This script applies each, one at a time, to a scratch
copy of the working tree (tracked files and untracked files git does not ignore; the checkout is
never touched) and asks what catches it:

1. the unit tests (every test but the chapter runs, ``-m "not chapters"``), stopping at the first
   failure; the tests closest to the bug's chapter (``FIRST``) run first, so a bug they catch costs
   seconds rather than the whole suite's minutes;
2. if none fails and the bug sits in a chapter, that chapter in the fast profile, judged by its
   gate as ``make test`` judges it (the results file's ``failures``: a gated number out of band, a
   gated number missing, a must-hold claim that does not hold).

It prints, per bug, the test (or gate line) that caught it or "not caught", and the caught
fraction, and writes the table to ``_build/mutants.json``. A bug whose text no longer occurs
exactly once in its file is reported as stale: the catalogue must follow the code.

This is a developer command, not part of ``make test`` (one chapter run takes minutes). The
scratch copy imports its own ``src`` through ``PYTHONPATH``, ahead of the editable install; the
stand-ins' cache (``data/``) is shared unless the bug is in a simulator, and the downloaded
weights in ``~/.cache/xaibook`` are shared.

Usage::

    python scripts/mutants.py                      # every bug, unit tests then chapters
    python scripts/mutants.py --only ID,ID         # some of them
    python scripts/mutants.py --no-chapters        # unit tests only (about a minute per bug)
    python scripts/mutants.py --list               # the catalogue
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from mutants_catalogue import MUTANTS  # noqa: E402

CHAPTER_RUN = """
import json, sys
from pathlib import Path
from xaibook.book import build
out = Path(sys.argv[1])
build.execute([sys.argv[2]], profile="fast", out_dir=out, results_dir=out / "results", root=Path.cwd())
failures = json.loads((out / "results" / f"{sys.argv[2]}.json").read_text())["failures"]
print("\\n".join("GATE " + f for f in failures))
sys.exit(1 if failures else 0)
"""


@dataclass
class Outcome:
    id: str
    chapter: str
    caught_by: str          # "unit: <test id>", "chapter: <gate line>", "chapter run failed: ...", "" (not caught)
    seconds: float
    stale: bool = False


def scratch_copy(dest: Path, share_data: bool) -> None:
    """The working tree's tracked and untracked-but-not-ignored files, copied to ``dest``."""
    if dest.exists():
        shutil.rmtree(dest)
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    if share_data and (ROOT / "data").is_dir():
        (dest / "data").symlink_to(ROOT / "data")


def apply(dest: Path, path: str, old: str, new: str) -> bool:
    """Replace the one occurrence of ``old`` in ``dest/path``; False when it is not there exactly once."""
    target = dest / path
    text = target.read_text()
    if text.count(old) != 1:
        return False
    target.write_text(text.replace(old, new))
    return True


def _run(cmd: list[str], cwd: Path, timeout: int) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(cwd / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return 124, f"timed out after {timeout} s"
    return p.returncode, p.stdout + p.stderr


def first_failure(output: str) -> str:
    """The first failing test id (or error) in pytest's output."""
    m = re.search(r"^(?:FAILED|ERROR) (\S+)", output, flags=re.M)
    return m.group(1) if m else output.strip().splitlines()[-1] if output.strip() else "no output"


#: the unit tests closest to each part of the code, run first: a bug they catch stops there in seconds, where
#: the whole unit suite takes minutes. The rest of the suite runs only when these all pass.
FIRST = {
    "01_foam": ["test_foam.py", "test_post_training.py"],
    "02_cauliflower": ["test_reliability.py", "test_cauliflower.py", "test_cauliflower_data.py", "test_post_training.py"],
    "03_lung_sliding": ["test_lung.py", "test_lung_experiment.py", "test_resnet3d.py", "test_post_training.py"],
    "04_steel_defects": ["test_steel.py", "test_steel_experiment.py", "test_pointing.py", "test_post_training.py"],
    "05_feature_cam": ["test_featurecam.py", "test_hed.py", "test_imagenet.py"],
    "core": ["test_saliency.py", "test_saliency_methods.py", "test_saliency_variants.py", "test_sanity.py",
             "test_metrics.py", "test_occlusion.py", "test_lime.py", "test_pointing.py", "test_training.py",
             "test_finetune.py", "test_claims.py", "test_metric_registry.py", "test_build.py"],
}


def unit_tests(dest: Path, chapter: str, timeout: int) -> str:
    """``"unit: <first failing test>"``, or "" when every unit test passes: the tests of :data:`FIRST` for
    ``chapter``, then the rest of ``tests/`` (``-m "not chapters"``, stopping at the first failure)."""
    pytest = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-m", "not chapters"]
    first = [f"tests/{name}" for name in FIRST.get(chapter, []) if (dest / "tests" / name).is_file()]
    for stage in ([*first], ["tests", *(f"--ignore={f}" for f in first)]):
        if not stage:
            continue
        code, out = _run(pytest + stage, dest, timeout)
        if code not in (0, 5):            # 5: pytest collected nothing
            return f"unit: {first_failure(out)}"
    return ""


def run_one(mutant: tuple, scratch: Path, chapters: bool, timeout: int) -> Outcome:
    mid, chapter, path, old, new, _why = mutant
    t0 = time.perf_counter()
    dest = scratch / mid
    scratch_copy(dest, share_data="standin" not in path)
    if not apply(dest, path, old, new):
        return Outcome(mid, chapter, "", 0.0, stale=True)
    caught = unit_tests(dest, chapter, timeout)
    if not caught and chapters and chapter != "core":
        code, out = _run([sys.executable, "-c", CHAPTER_RUN, str(dest / "_build" / "mutant"), chapter], dest, timeout)
        gate = [line[5:] for line in out.splitlines() if line.startswith("GATE ")]
        if code != 0:
            caught = f"chapter: {gate[0]}" if gate else f"chapter run failed: {out.strip().splitlines()[-1][:200]}"
    shutil.rmtree(dest, ignore_errors=True)
    return Outcome(mid, chapter, caught, round(time.perf_counter() - t0, 1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="", help="comma-separated ids")
    ap.add_argument("--no-chapters", action="store_true", help="unit tests only")
    ap.add_argument("--list", action="store_true", help="print the catalogue and stop")
    ap.add_argument("--scratch", default="/tmp/xaibook-mutants", help="where the scratch copies go")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per stage")
    args = ap.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.only or m[0] in args.only.split(",")]
    unknown = set(filter(None, args.only.split(","))) - {m[0] for m in MUTANTS}
    if unknown:
        ap.error(f"unknown ids: {sorted(unknown)}")
    if args.list:
        for mid, chapter, path, _old, _new, why in chosen:
            print(f"{mid:38} {chapter:16} {path}\n    {why}")
        return 0
    outcomes = []
    for m in chosen:
        o = run_one(m, Path(args.scratch), not args.no_chapters, args.timeout)
        outcomes.append(o)
        verdict = "STALE (text not found once)" if o.stale else (o.caught_by or "NOT CAUGHT")
        print(f"[mutant] {o.id:38} {o.chapter:16} {o.seconds:7.1f} s  {verdict}", flush=True)
    live = [o for o in outcomes if not o.stale]
    caught = sum(bool(o.caught_by) for o in live)
    print(f"\ncaught {caught} of {len(live)} seeded bugs ({100 * caught / max(len(live), 1):.0f}%)"
          + (f"; {len(outcomes) - len(live)} stale" if len(live) < len(outcomes) else ""))
    (ROOT / "_build").mkdir(exist_ok=True)
    (ROOT / "_build" / "mutants.json").write_text(json.dumps([asdict(o) for o in outcomes], indent=1))
    return 1 if len(live) < len(outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
