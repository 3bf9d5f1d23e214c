"""Keep a bands file's coverage of a kernel path this machine cannot run (a developer's tool, not a test).

A derivation samples two CPU kernel paths, ``native`` and ``avx2``. On a machine without AVX-512 the two are
the same kernels, so a re-derivation there loses the AVX-512 path that an earlier derivation sampled; where
that path moves a number (chapter 02's clusters flip between the paths), the new band would be too narrow for
an AVX-512 machine. This script merges: every quantity whose values on the ``avx2`` path are bit-identical in
the two derivations did not change with the code, and keeps the earlier derivation's values on both paths;
the quantities the change moved take the new derivation's values (on this machine's two identical paths).
The merged runs are gated again by the suite's rule (:func:`xaibook.book.claims.rederive_bands`), and the
file records which quantities came from which derivation.

A derivation run here on the ``avx2`` path alone (``make bands KERNELS=avx2``, half the time) is merged the
same way: this machine's ``native`` run would repeat its ``avx2`` run bit for bit (02's full derivation on this
machine, 20 runs: every number and margin identical between the two paths of each seed), so each changed
quantity's ``native`` values are its ``avx2`` values, which is what a two-path derivation here records.

The premise is that the avx2 path gives the same numbers on both machines. It held for 02 (a convex fit on
frozen features) and does not for 03 (2026-12-04: 3D ResNets trained with Adam; every number differed on the avx2
path between the AVX-512 machine and an AVX2-only one, with no change to the training code). When every quantity
that varies between seeds differs, the script refuses: the merge would drop the earlier path without
saying so.

Usage: python scripts/keep_kernel_coverage.py OLD.json NEW.json   (writes NEW.json in place)
"""
import copy
import json
import sys
from pathlib import Path

from xaibook._utils.io import atomic_write_json
from xaibook.book.claims import rederive_bands


def _as_both_paths(new: dict, order: list[tuple[int, str]]) -> dict:
    """A derivation on the avx2 path alone, laid out as the old one's runs: each (seed, path) takes the seed's
    avx2 run, its numbers and margins; refuses unless the machine's native path is AVX2."""
    runs = {r["seed"]: r for r in new["runs"]}
    if any(r["cpu"] is not None and r["capability"] != "AVX2" for r in new["runs"]):
        raise SystemExit("an avx2-only derivation stands for both paths only on an AVX2-only machine")
    if sorted(runs) != sorted({s for s, _ in order}):
        raise SystemExit("the two derivations ran different seeds")
    index = {s: i for i, s in enumerate(r["seed"] for r in new["runs"])}
    pick = [index[s] for s, _ in order]
    out = copy.deepcopy(new)
    out["runs"] = [{**runs[s], "kernel": k} for s, k in order]
    for section, key in (("numbers", "values"), ("claims", "margins"), ("claims", "holds")):
        for entry in out[section].values():
            if entry.get(key) is not None:
                entry[key] = [entry[key][i] for i in pick]
    return out


def main(old_path: str, new_path: str) -> None:
    old, new = json.loads(Path(old_path).read_text()), json.loads(Path(new_path).read_text())
    order = [(r["seed"], r["kernel"]) for r in old["runs"]]
    one_path = {r["kernel"] for r in new["runs"]} == {"avx2"}
    if one_path:
        new = _as_both_paths(new, order)
    if order != [(r["seed"], r["kernel"]) for r in new["runs"]]:
        raise SystemExit("the two derivations ran different seeds or kernel paths")
    avx2 = [i for i, (_, k) in enumerate(order) if k == "avx2"]
    merged, moved = copy.deepcopy(old), []
    for section, key in (("numbers", "values"), ("claims", "margins")):
        if set(old[section]) != set(new[section]):
            raise SystemExit(f"the derivations gate different {section}: re-derive on a machine with both paths")
        for name, entry in new[section].items():
            if [entry[key][i] for i in avx2] != [old[section][name][key][i] for i in avx2]:
                merged[section][name] = entry
                moved.append(name)
    varying = [name for section, key in (("numbers", "values"), ("claims", "margins"))
               for name, e in old[section].items() if len({repr(e[key][i]) for i in avx2}) > 1]
    if varying and set(varying) <= set(moved):      # everything training moves changed: the avx2 path differs
        raise SystemExit("every quantity differs on the avx2 path: that path is not the same on the two machines "
                         "(or everything changed), so nothing of the earlier derivation can be kept; re-derive on "
                         "a machine with both kernel paths")
    merged = rederive_bands(merged)
    merged["derivation_wall_time_s"] = new.get("derivation_wall_time_s")
    merged["kernel_coverage"] = {
        "sentence": (f"Re-derived on a machine whose native path is AVX2 (the same kernels as the avx2 path)"
                     + (", on the avx2 path alone, each run standing for both paths. " if one_path else ". ") +
                     f"{', '.join(moved)} changed with the code and come from that derivation (commit "
                     f"{new['runs'][0].get('commit')}); every other quantity was bit-identical on the avx2 path and "
                     f"keeps the earlier derivation (commit {old['runs'][0].get('commit')}), whose native path was "
                     f"AVX-512."),
        "from_new_derivation": moved, "one_path": one_path, "new_runs": new["runs"]}
    atomic_write_json(new_path, merged)
    print(merged["kernel_coverage"]["sentence"])


if __name__ == "__main__":
    main(*sys.argv[1:3])
