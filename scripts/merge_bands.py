"""Join a chapter's derivations over disjoint seeds into one bands file (a developer's tool, not a test).

A derivation of 20 seeds on a slow machine can run as two of 10 (``make bands CHAPTER=... SEEDS="0 ... 9"``,
then seeds 10-19, each file copied aside), so that half of it is usable if time runs out; this script gates
their runs as one derivation would (:func:`xaibook.book.claims.merge_bands`: the degrees of freedom count all
the seeds) and writes the result.

Usage: python scripts/merge_bands.py OUT.json PART.json PART.json [...]
"""
import json
import sys
from pathlib import Path

from xaibook._utils.io import atomic_write_json
from xaibook.book.claims import merge_bands

out, parts = sys.argv[1], [json.loads(Path(p).read_text()) for p in sys.argv[2:]]
merged = merge_bands(parts)
atomic_write_json(Path(out), merged)
s = merged["runs_summary"]
print(f"{out}: {s['n']} runs (seeds {s['seeds'][0]}-{s['seeds'][-1]}, kernel paths {s['kernels']}); "
      f"{s['gated_numbers']} numbers and {s['gated_claims']} claims gated; t one-sided {merged['t_one_sided']:.2f}")
