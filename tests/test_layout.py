"""The package's floors (README, "Layout"): imports run downward, chapters never import each other.

Every ``import`` and ``from ... import`` of ``src/xaibook``, at module level or inside a function, is
parsed and mapped to the floor of the module it names. A test plants an upward and a sideways arrow
in a scratch copy and watches the check fail.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

#: floor of each top-level part of the package, bottom up
FLOORS = {
    "ground": {"_utils", "registry", "kernels", "paths"},
    "science": {"metrics", "saliency", "models", "training"},
    "book": {"book"},
    "chapters": {"foam", "cauliflower", "lung", "steel", "featurecam"},
}
RANK = {part: i for i, (_, parts) in enumerate(FLOORS.items()) for part in parts}
#: inside the shared science, each part may import only those before it in this order
SCIENCE_ORDER = ["metrics", "saliency", "models", "training"]


def _module(path: Path, src: Path) -> tuple[str, str]:
    parts = list(path.relative_to(src).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    name = ".".join(parts)
    return name, name if is_package else name.rsplit(".", 1)[0]


def _exists(src: Path, module: str) -> bool:
    path = src.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports(src: Path = SRC) -> list[tuple[str, str]]:
    """(importing module, imported module) for every xaibook import under ``src``; relative imports resolved."""
    out = []
    for path in sorted((src / "xaibook").rglob("*.py")):
        module, package = _module(path, src)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                names = [target]
                if target == "xaibook":           # `from xaibook import paths`: a module, or a name of the facade
                    names = [f"xaibook.{a.name}" if _exists(src, f"xaibook.{a.name}") else target for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            out += [(module, n) for n in names if n == "xaibook" or n.startswith("xaibook.")]
    return out


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def violations(src: Path = SRC) -> list[str]:
    """Every import that runs upward or sideways, as 'a -> b (why)'."""
    bad = []
    for a, b in imports(src):
        pa, pb = _part(a), _part(b)
        if pa == pb or pb == "":
            continue
        if pa == "":                     # the package's facade: ground and shared science only
            if RANK.get(pb, 99) > RANK["training"]:
                bad.append(f"{a} -> {b} (the facade exports the floors, not the book or a chapter)")
            continue
        if pa not in RANK or pb not in RANK:
            bad.append(f"{a} -> {b} (a part without a floor: add it to tests/test_layout.py FLOORS)")
        elif RANK[pb] > RANK[pa]:
            bad.append(f"{a} -> {b} (upward)")
        elif pa in FLOORS["chapters"] and pb in FLOORS["chapters"]:
            bad.append(f"{a} -> {b} (sideways: one chapter into another)")
        elif pa in SCIENCE_ORDER and pb in SCIENCE_ORDER and SCIENCE_ORDER.index(pb) > SCIENCE_ORDER.index(pa):
            bad.append(f"{a} -> {b} (upward inside the shared science: {' < '.join(SCIENCE_ORDER)})")
    return bad


def test_imports_run_downward():
    assert imports(), "no imports parsed"
    assert violations() == []


def test_every_part_of_the_package_has_a_floor():
    parts = {p.stem if p.is_file() else p.name for p in (SRC / "xaibook").iterdir()
             if (p.suffix == ".py" and p.name != "__init__.py") or (p.is_dir() and (p / "__init__.py").exists())}
    assert parts == set(RANK)


@pytest.mark.parametrize("module, line, why", [
    ("saliency/sanity.py", "from xaibook.book.claims import ClaimCheck", "upward"),
    ("foam/experiment.py", "from xaibook.steel.experiment import Variant", "sideways"),
    ("book/build.py", "from xaibook.lung import experiment", "upward"),
    ("models/__init__.py", "from xaibook.training import fit", "upward inside the shared science"),
    ("_utils/io.py", "    from ..saliency import METHODS", "upward"),
])
def test_a_planted_arrow_is_caught(tmp_path, module, line, why):
    import shutil

    shutil.copytree(SRC / "xaibook", tmp_path / "xaibook", ignore=shutil.ignore_patterns("__pycache__", "bands"))
    target = tmp_path / "xaibook" / module
    body = f"def _planted():\n{line if line.startswith(' ') else '    ' + line}\n"
    target.write_text(target.read_text() + "\n\n" + body)
    found = violations(tmp_path)
    assert len(found) == 1 and f"({why}" in found[0], found
