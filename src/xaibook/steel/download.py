"""Fetch the Severstal competition data with the Kaggle CLI and unpack it safely (chapter 04_steel_defects).

The data sit behind a Kaggle account: the user installs the CLI (``pip install kaggle``), creates
an API token and accepts the competition rules on its web page (the API answers 403 until then,
and the rules cannot be accepted through the API). :func:`download_severstal` checks each of
these first and turns the CLI's failures into messages that say what to do.

The archive is unpacked only after every member has been checked: absolute paths, ``..``
components and symbolic links are refused ("unsafe archive"), so a crafted zip cannot write
outside the target folder, and every member's CRC-32 is verified (Kaggle publishes no checksum of
the competition's archive, so its own CRCs are the integrity check there is). Unpacking goes to a temporary sibling folder that is renamed into
place at the end, so an interrupted download leaves nothing behind.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import warnings
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from .._utils.io import atomic_directory
from .dataset import TRAIN_CSV, TRAIN_IMAGES

COMPETITION = "severstal-steel-defect-detection"
RULES_URL = f"https://www.kaggle.com/c/{COMPETITION}/rules"
TOKEN_URL = "https://www.kaggle.com/settings"      # Account -> API -> Create New Token

_NETWORK = re.compile(r"Max retries exceeded|NameResolutionError|Temporary failure in name resolution|"
                      r"Name or service not known|nodename nor servname|Failed to establish a new connection|"
                      r"Network is unreachable|Connection refused|Connection reset|timed out|"
                      r"getaddrinfo failed|ConnectionError|No route to host", re.IGNORECASE)
_FORBIDDEN = re.compile(r"\b403\b|Forbidden|must accept this competition", re.IGNORECASE)
_UNAUTHORIZED = re.compile(r"\b401\b|Unauthorized|Unauthenticated|Could not find kaggle\.json|"
                           r"You must log in|Invalid credentials", re.IGNORECASE)


class KaggleDownloadError(RuntimeError):
    """The Kaggle CLI is missing or failed; the message says why and what to do."""


class UnsafeArchiveError(KaggleDownloadError):
    """A zip member would land outside the target folder (absolute path, ``..``) or is a symlink."""


def credential_files() -> list[Path]:
    """Where the Kaggle CLI looks for ``kaggle.json``, in its order of preference.

    ``$KAGGLE_CONFIG_DIR`` if set, then ``~/.kaggle`` and ``$XDG_CONFIG_HOME/kaggle``
    (``~/.config/kaggle``). Used in chapter 04_steel_defects.
    """
    home = Path.home()
    out = []
    if os.environ.get("KAGGLE_CONFIG_DIR"):
        out.append(Path(os.environ["KAGGLE_CONFIG_DIR"]) / "kaggle.json")
    out.append(home / ".kaggle" / "kaggle.json")
    out.append(Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config") / "kaggle" / "kaggle.json")
    return out


def find_credentials() -> str:
    """Where the Kaggle credentials come from: ``"environment"`` or the path of ``kaggle.json``.

    Looks at ``KAGGLE_USERNAME`` with ``KAGGLE_KEY`` (or the newer ``KAGGLE_API_TOKEN``, the
    newer CLI's token files in ``~/.kaggle``), then the ``kaggle.json`` of :func:`credential_files`. Raises :class:`KaggleDownloadError` when there are none
    or the file is not a valid token; warns when the file is readable by others (``chmod 600``).
    Used in chapter 04_steel_defects.
    """
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return "environment"
    if os.environ.get("KAGGLE_API_TOKEN"):
        return "environment"
    # kaggle 1.7+ also takes an access token file, and `kaggle auth login` (2.x) keeps its own file
    for path in (Path.home() / ".kaggle" / n for n in ("access_token", "access_token.txt", "credentials.json")):
        if path.is_file():
            return str(path)
    for path in credential_files():
        if path.is_file():
            try:
                token = json.loads(path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                raise KaggleDownloadError(f"{path} is not valid JSON ({err}); download a fresh token from "
                                          f"{TOKEN_URL} (API -> Create New Token) and save it there") from err
            if not isinstance(token, dict) or not token.get("username") or not token.get("key"):
                raise KaggleDownloadError(f"{path} lacks 'username' or 'key'; download a fresh token from "
                                          f"{TOKEN_URL} (API -> Create New Token) and save it there")
            if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                warnings.warn(f"{path} is readable by other users; protect your Kaggle key with "
                              f"'chmod 600 {path}'", stacklevel=2)
            return str(path)
    places = " or ".join(str(p) for p in credential_files())
    raise KaggleDownloadError(
        f"no Kaggle credentials found. Create an API token at {TOKEN_URL} (API -> Create New Token), "
        f"save the downloaded kaggle.json as {places} and run 'chmod 600' on it, or set the "
        f"environment variables KAGGLE_USERNAME and KAGGLE_KEY.")


def _kaggle_executable() -> str:
    exe = shutil.which("kaggle")
    if exe is None:
        raise KaggleDownloadError("the Kaggle command-line tool is not installed (no 'kaggle' on PATH): "
                                  "run 'pip install kaggle', then try again")
    return exe


def explain_failure(output: str, returncode: int) -> str:
    """A message that says what went wrong in a failed ``kaggle competitions download`` and what to do."""
    tail = "\n".join(output.strip().splitlines()[-5:])
    if _FORBIDDEN.search(output):
        return (f"Kaggle refused the download (403 Forbidden): your account has not accepted the rules of the "
                f"competition. Open {RULES_URL} while logged in, click 'I Understand and Accept' (Late "
                f"Submission / Join Competition), then run this again. The rules cannot be accepted through "
                f"the API. Kaggle said: {tail}")
    if _UNAUTHORIZED.search(output):
        return (f"Kaggle did not accept your credentials (401 Unauthorized): the token is wrong or expired. "
                f"Create a new one at {TOKEN_URL} (API -> Create New Token), replace kaggle.json "
                f"(chmod 600) or KAGGLE_USERNAME/KAGGLE_KEY, and run this again. Kaggle said: {tail}")
    if _NETWORK.search(output):
        return (f"could not reach www.kaggle.com (no network, a proxy or a firewall). Check the connection, "
                f"or download the data by hand from https://www.kaggle.com/c/{COMPETITION}/data and unpack it "
                f"with xaibook.steel.extract_archive. Kaggle said: {tail}")
    return f"'kaggle competitions download' failed (exit code {returncode}). It said: {tail or '(nothing)'}"


def check_archive(zip_path: str | Path) -> list[zipfile.ZipInfo]:
    """Check every member of ``zip_path`` before anything is unpacked; returns the members.

    Raises :class:`UnsafeArchiveError` ("unsafe archive", naming the member) for absolute
    paths (``/x``, ``\\x``, ``C:x``), ``..`` components and symbolic links, and
    :class:`KaggleDownloadError` when the file is not a zip. Used in chapter 04_steel_defects.
    """
    zip_path = Path(zip_path)
    try:
        with zipfile.ZipFile(zip_path) as zf:
            members = zf.infolist()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise KaggleDownloadError(f"{zip_path} is not a readable zip archive ({err}); it is truncated or not "
                                  f"the competition's archive: download it again") from err
    for info in members:
        name = info.filename
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
            why = "has an absolute path"
        elif ".." in parts:
            why = "climbs out of the target folder with '..'"
        elif stat.S_ISLNK(info.external_attr >> 16):
            why = "is a symbolic link"
        else:
            continue
        raise UnsafeArchiveError(f"unsafe archive {zip_path}: member {name!r} {why}; nothing was unpacked. "
                                 f"Download the archive again from Kaggle.")
    try:
        with zipfile.ZipFile(zip_path) as zf:
            bad = zf.testzip()            # reads every member and checks its CRC-32
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError) as err:
        raise KaggleDownloadError(f"{zip_path} is damaged ({err}); nothing was unpacked: download it again") from err
    if bad is not None:
        raise KaggleDownloadError(f"{zip_path} is damaged: member {bad!r} fails its CRC-32 check; nothing was "
                                  f"unpacked: download it again")
    return members


def extract_archive(zip_path: str | Path, dest: str | Path, *, overwrite: bool = False) -> Path:
    """Unpack the competition zip into ``dest`` atomically, after :func:`check_archive`.

    ``dest`` then holds ``train.csv`` and ``train_images/`` (a single top-level folder in the zip
    is lifted). Use it on a zip downloaded by hand from the competition's data page. Raises
    :class:`KaggleDownloadError` when the archive lacks them. Used in chapter 04_steel_defects.
    """
    zip_path, dest = Path(zip_path), Path(dest)
    members = check_archive(zip_path)
    if dest.exists() and not overwrite:
        raise KaggleDownloadError(f"{dest} already exists; delete it or pass overwrite=True")
    with atomic_directory(dest, overwrite=overwrite) as tmp:
        try:
            with zipfile.ZipFile(zip_path) as zf:
                zf.extractall(tmp, members)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as err:
            raise KaggleDownloadError(f"could not unpack {zip_path} ({err}); nothing was written to {dest}. "
                                      f"Download the archive again (or free disk space if that was the cause)") from err
        tops = [p for p in tmp.iterdir()]
        if len(tops) == 1 and tops[0].is_dir() and (tops[0] / TRAIN_CSV).is_file():
            for p in tops[0].iterdir():
                p.rename(tmp / p.name)
            tops[0].rmdir()
        if not (tmp / TRAIN_CSV).is_file() or not (tmp / TRAIN_IMAGES).is_dir():
            found = ", ".join(sorted(p.name for p in tmp.iterdir())) or "nothing"
            raise KaggleDownloadError(f"{zip_path} does not hold {TRAIN_CSV} and {TRAIN_IMAGES}/ (found: {found}); "
                                      f"is it the archive of the competition {COMPETITION}?")
    return dest


def download_severstal(dest: str | Path, *, overwrite: bool = False) -> Path:
    """Download the Severstal competition data with the Kaggle CLI and unpack it into ``dest``.

    Runs ``kaggle competitions download -c severstal-steel-defect-detection -p <tmp>`` and
    :func:`extract_archive`. A ``dest`` that already holds ``train.csv`` and ``train_images/`` is
    kept as it is unless ``overwrite``. Raises :class:`KaggleDownloadError` with the fix when the
    CLI is missing, there are no credentials, they are rejected (401), the rules were not accepted
    (403) or there is no network. Nothing is left at ``dest`` on failure. Used in chapter
    04_steel_defects.
    """
    dest = Path(dest)
    if not overwrite and (dest / TRAIN_CSV).is_file() and (dest / TRAIN_IMAGES).is_dir():
        return dest
    if dest.exists() and not overwrite:
        raise KaggleDownloadError(f"{dest} exists but lacks {TRAIN_CSV} or {TRAIN_IMAGES}/; delete it or pass "
                                  f"overwrite=True")
    exe = _kaggle_executable()
    find_credentials()
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.download-"))
    try:
        cmd = [exe, "competitions", "download", "-c", COMPETITION, "-p", str(work)]
        try:
            done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
        except OSError as err:
            raise KaggleDownloadError(f"could not run {exe} ({err}); reinstall it with 'pip install kaggle'") from err
        archives = sorted(work.glob("*.zip"))
        # older CLI versions print the HTTP error and still exit 0, so look at the output too
        if done.returncode != 0 or not archives:
            raise KaggleDownloadError(explain_failure(done.stdout or "", done.returncode))
        try:
            extract_archive(archives[0], dest, overwrite=overwrite)
        except KaggleDownloadError as err:
            # the archive sits in a temporary folder deleted below: name what the user can act on
            raise type(err)(str(err).replace(str(archives[0]), f"the archive Kaggle sent ({archives[0].name}, "
                                             f"deleted)") + f"; run download_severstal({str(dest)!r}) again, or "
                                             f"download it by hand from https://www.kaggle.com/c/{COMPETITION}/data "
                                             f"and use extract_archive") from err
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dest
