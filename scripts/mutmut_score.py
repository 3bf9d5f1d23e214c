"""Operator-level mutation score of ``saliency/`` and ``metrics/`` on the unit tests: ``make mutmut``.

Where ``make mutants`` (``scripts/mutants.py``) applies a curated list of plausible science bugs,
this runs mutmut (https://github.com/boxed/mutmut), which applies every small operator change it
can make (``<`` to ``<=``, ``+`` to ``-``, a constant off by one, an argument dropped, ``and`` for
``or``) to one package, one at a time, and runs the unit tests that reach the mutated function.
A mutant no test notices *survived*. Many survivors are equivalent to the original (a tensor moved
to the device it is already on, the wording of an error message, ``>= 0`` where the value cannot be
negative); the rest point at behaviour no test pins. The score is killed / (killed + survived). Mutants
stopped by mutmut's timeout are counted apart: some make a loop endless, but a survivor whose tests
merely ran slowly (a busy machine) times out too; so are mutants in code no selected test reaches
("no tests").

mutmut rewrites the source into a ``mutants/`` folder beside it, so it runs in a scratch copy of
the working tree (tracked files and untracked files git does not ignore; the checkout is never
touched). mutmut is not a dependency of the book: it is installed once, with the five packages it
needs that the project's environment lacks and at pinned versions, into
``~/.cache/xaibook/mutmut`` (``$XAIBOOK_CACHE``) and put on ``PYTHONPATH``. The unit tests run with
``-m "not chapters"``, as ``make mutants`` runs them.

Usage::

    python scripts/mutmut_score.py                    # both packages
    python scripts/mutmut_score.py --package metrics  # one
    python scripts/mutmut_score.py --survivors        # also print each survivor's diff

The summary goes to ``_build/mutmut-<package>.json``: counts per module and the survivors' names.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from mutants import scratch_copy  # noqa: E402

from xaibook._utils.wheels import default_cache_dir  # noqa: E402

# mutmut and the packages it needs beyond the project's environment, pinned; --no-deps keeps pip from
# replacing the environment's own pytest or markdown-it-py on the path ahead of them.
MUTMUT = ("mutmut==3.8.1", "libcst==1.9.0", "textual==8.2.8", "rich==15.0.0", "setproctitle==1.3.8",
          "coverage==7.18.0")

# The unit tests that exercise each package directly.
TESTS = {
    "metrics": ("test_metrics.py", "test_pointing.py", "test_metric_registry.py"),
    "saliency": ("test_saliency.py", "test_saliency_methods.py", "test_saliency_variants.py", "test_sanity.py",
                 "test_chunked.py", "test_lime.py", "test_occlusion.py", "test_memory.py", "test_low_precision.py"),
}

STATUS = re.compile(r"^\s*(xaibook\.[\w.ǁ]+)__mutmut_(\d+): (.+)$")


def ensure_mutmut() -> Path:
    """The folder holding mutmut and its extra packages, installed there once."""
    target = default_cache_dir() / "mutmut"
    stamp = target / ".installed"
    if stamp.exists() and stamp.read_text() == "\n".join(MUTMUT):
        return target
    print(f"[mutmut] installing {', '.join(MUTMUT)} into {target}", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                    "--upgrade", "--target", str(target), *MUTMUT], check=True)
    stamp.write_text("\n".join(MUTMUT))
    return target


def config(package: str) -> str:
    """mutmut's setup.cfg section: mutate only ``package``, select its unit tests."""
    tests = "\n".join(f"    tests/{t}" for t in TESTS[package])
    return (f"[mutmut]\nsource_paths =\n    src/\nonly_mutate =\n    src/xaibook/{package}/*\n"
            f"pytest_add_cli_args_test_selection =\n{tests}\n"
            "pytest_add_cli_args =\n    -p\n    no:cacheprovider\n    -m\n    not chapters\n"
            # torch is not fork-safe once it has run a test: fork each mutant from a clean server process
            "process_isolation = forkserver\n")


def summarise(lines: list[str]) -> dict:
    """Counts per module and per status from ``mutmut results --all true``."""
    per_module: dict[str, Counter] = {}
    survivors = []
    for line in lines:
        m = STATUS.match(line)
        if not m:
            continue
        name, status = m.group(1), m.group(3).strip()
        module = name.rsplit(".", 1)[0]
        per_module.setdefault(module, Counter())[status] += 1
        if status == "survived":
            survivors.append(f"{name}__mutmut_{m.group(2)}")
    total = sum(per_module.values(), Counter())
    caught = total["killed"]
    scored = caught + total["survived"] + total["suspicious"]
    return {"per_module": {k: dict(v) for k, v in sorted(per_module.items())}, "total": dict(total),
            "caught": caught, "score": caught / scored if scored else None, "survivors": survivors}


def run(package: str, jobs: int, show: bool) -> dict:
    lib = ensure_mutmut()
    with tempfile.TemporaryDirectory(prefix=f"xaibook-mutmut-{package}-") as tmp:
        dest = Path(tmp) / "tree"
        scratch_copy(dest, share_data=True)
        (dest / "setup.cfg").write_text(config(package))
        env = {**os.environ, "PYTHONPATH": str(lib), "XAIBOOK_ROOT": str(dest)}
        mm = [sys.executable, "-m", "mutmut"]
        t0 = time.perf_counter()
        done = subprocess.run([*mm, "run", "--max-children", str(jobs)], cwd=dest, env=env, capture_output=True,
                              text=True)
        wall = time.perf_counter() - t0
        if done.returncode:
            tail = (done.stdout + done.stderr)[-3000:].replace("\r", "\n")
            raise SystemExit(f"[mutmut] mutmut run failed for {package} (rc {done.returncode}):\n{tail}")
        res = subprocess.run([*mm, "results", "--all", "true"], cwd=dest, env=env, capture_output=True, text=True,
                             check=True)
        out = summarise(res.stdout.splitlines()) | {"package": package, "wall_time_s": round(wall, 1),
                                                     "tests": list(TESTS[package]), "mutmut": MUTMUT[0]}
        if show:
            for name in out["survivors"]:
                diff = subprocess.run([*mm, "show", name], cwd=dest, env=env, capture_output=True, text=True).stdout
                print("\n".join(ln for ln in diff.splitlines() if ln[:1] in "#+-" and ln[:3] not in ("+++", "---")))
    return out


def report(out: dict) -> None:
    print(f"\n[mutmut] {out['package']}: {out['wall_time_s']:.0f} s")
    rows = {**out["per_module"], "all": out["total"]}
    for module, counts in rows.items():
        k, s = counts.get("killed", 0), counts.get("survived", 0) + counts.get("suspicious", 0)
        extra = ", ".join(f"{n} {st}" for st, n in sorted(counts.items()) if st not in ("killed", "survived"))
        print(f"  {module:45s} killed {k:4d}  survived {s:4d}  score {k / max(k + s, 1):6.1%}"
              + (f"  ({extra})" if extra else ""))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--package", choices=sorted(TESTS), action="append", help="default: both")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="mutants tested at once")
    ap.add_argument("--survivors", action="store_true", help="print each surviving mutant's diff")
    args = ap.parse_args(argv)
    build = ROOT / "_build"
    build.mkdir(exist_ok=True)
    for package in args.package or sorted(TESTS):
        out = run(package, args.jobs, args.survivors)
        report(out)
        (build / f"mutmut-{package}.json").write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
