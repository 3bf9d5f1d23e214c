"""Atomic writes: a reader never sees a half-written file or folder."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o666 & ~_umask())     # mkstemp makes files private; give the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n")


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success rename it to ``path``, on error delete it.

    Used by the stand-in generators so that an interrupted run leaves no half-written data set.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True or delete it first")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.partial-"))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    os.chmod(tmp, 0o777 & ~_umask())      # mkdtemp makes it private (0700); the data set is not
    if path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)


def rebuild_unless_stamped(root: str | os.PathLike, stamp: dict[str, Any], build: Callable[[Path], Any]) -> Path:
    """Call ``build(root)`` unless ``root/standin.json`` already holds ``stamp``; then write the stamp.

    The stamp (e.g. generator version, settings and seed) is compared after a JSON round trip,
    so tuples and lists compare equal. Used by the chapters' stand-in generators to reuse a
    rendered folder only when it was rendered with the same settings.
    """
    root = Path(root)
    stamp = json.loads(json.dumps(stamp))
    stamp_file = root / "standin.json"
    if stamp_file.is_file() and json.loads(stamp_file.read_text()) == stamp:
        return root
    build(root)
    atomic_write_json(stamp_file, stamp)
    return root
