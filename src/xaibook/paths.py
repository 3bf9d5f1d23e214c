"""Where the book keeps data, results and build outputs."""
from __future__ import annotations

import os
from pathlib import Path


def project_root(start: str | os.PathLike | None = None) -> Path:
    """The repository root: the first folder upwards holding ``_config.yml`` and ``src/xaibook``.

    ``XAIBOOK_ROOT`` overrides the search. Outside a checkout (the package installed on Colab
    and a notebook opened on its own) the current folder is used.
    """
    if os.environ.get("XAIBOOK_ROOT"):
        return Path(os.environ["XAIBOOK_ROOT"]).resolve()
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_config.yml").is_file() and (folder / "src" / "xaibook").is_dir():
            return folder
    return here


def data_dir() -> Path:
    return project_root() / "data"


def results_dir() -> Path:
    return project_root() / "results"


def chapter_data_dir(chapter: str, data: str, profile: str, seed: int, smoke: bool = False) -> Path:
    """A chapter's default data folder: ``data/<chapter>/real`` for real data (where the README's download
    commands put it, whatever the profile and seed); ``data/<chapter>/synthetic-<profile>-seed<seed>``
    for a stand-in (``synthetic-smoke-seed<seed>`` for a smoke run), since each profile renders its own."""
    if data == "real":
        return data_dir() / chapter / "real"
    return data_dir() / chapter / f"synthetic-{'smoke' if smoke else profile}-seed{seed}"
