"""Atomic writes: a reader never sees a half-written file or folder."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:        # another user's live process
        return True
    return True


def clean_stale_partials(path: str | os.PathLike, max_age_s: float = 3600.0) -> list[Path]:
    """Delete the ``.<name>.partial-<pid>-*`` siblings of ``path`` left by processes that were killed.

    A partial folder whose process is gone is removed at once; one without a process id in its
    name (an older format) once it is ``max_age_s`` old. Returns what was removed.
    """
    path = Path(path)
    removed = []
    if not path.parent.is_dir():
        return removed
    for p in path.parent.glob(f".{path.name}.partial-*"):
        pid = p.name.rpartition(".partial-")[2].split("-")[0]
        stale = (not _alive(int(pid))) if pid.isdigit() else time.time() - p.stat().st_mtime > max_age_s
        if stale and pid != str(os.getpid()):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            removed.append(p)
    return removed


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success rename it to ``path``, on error delete it.

    Used by the stand-in generators so that an interrupted run leaves no half-written data set.
    The temporary folder's name carries the process id, so partial folders of killed runs are
    recognised and removed by the next call (:func:`clean_stale_partials`).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True or delete it first")
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_partials(path)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.partial-{os.getpid()}-"))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    os.chmod(tmp, 0o777 & ~_umask())      # mkdtemp makes it private (0700); the data set is not
    if path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


STAMP_FILE = "standin.json"


def inventory(root: Path) -> dict[str, list]:
    """Every file under ``root`` but the stamp: relative path -> [size in bytes, SHA-256]."""
    return {p.relative_to(root).as_posix(): [p.stat().st_size, sha256_of(p)]
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != STAMP_FILE}


def inventory_problems(root: Path, recorded: dict[str, list]) -> list[str]:
    """How the files under ``root`` differ from ``recorded`` (missing, changed, unexpected)."""
    now = inventory(root)
    problems = [f"{k} is missing" for k in recorded if k not in now]
    problems += [f"{k} changed ({now[k][0]} bytes, recorded {recorded[k][0]})" for k in recorded
                 if k in now and now[k] != recorded[k]]
    problems += [f"{k} was added" for k in now if k not in recorded]
    return problems


def _shown(root: Path) -> str:
    """A folder as the book may print it: relative to the repository (no machine path on a page)."""
    from ..paths import project_root

    try:
        return root.resolve().relative_to(project_root()).as_posix()
    except ValueError:
        return root.name


def rebuild_unless_stamped(root: str | os.PathLike, stamp: dict[str, Any], build: Callable[[Path], Any],
                           log: Callable[[str], Any] = print) -> Path:
    """Call ``build(root)`` unless ``root/standin.json`` holds ``stamp`` and every file it lists is intact;
    then write the stamp with the folder's inventory (each file's size and SHA-256).

    The stamp (e.g. generator version, settings and seed) is compared after a JSON round trip,
    so tuples and lists compare equal. Used by the chapters' stand-in generators to reuse a
    rendered folder only when it was rendered with the same settings and nothing in it was
    damaged or deleted since; otherwise it is rendered again, saying why (``log``).
    """
    root = Path(root)
    stamp = json.loads(json.dumps(stamp))
    stamp_file = root / STAMP_FILE
    if stamp_file.is_file():
        try:
            recorded = json.loads(stamp_file.read_text())
        except (OSError, ValueError):
            recorded = {}
        files = recorded.pop("files", None) if isinstance(recorded, dict) else None
        if recorded == stamp:
            problems = inventory_problems(root, files) if files is not None else ["no inventory recorded"]
            if not problems:
                return root
            log(f"[stand-in] {_shown(root)}: {'; '.join(problems[:3])}{' ...' if len(problems) > 3 else ''}; "
                f"rendering it again")
    build(root)
    atomic_write_json(stamp_file, {**stamp, "files": inventory(root)})
    return root
