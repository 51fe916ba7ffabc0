"""Atomic outputs: nothing half-written ever looks complete.

Every stage writes into a directory and marks it complete with ``_SUCCESS``
as its very last write; every stage that reads another's output requires that
marker and the expected schema version in the JSON document beside it. Single
files are written to a temporary name and renamed into place.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlparse

from shardvec.errors import InputError, OutputError

SUCCESS = "_SUCCESS"


def local_path(location: str | os.PathLike[str]) -> Path:
    """A local path from a plain path or a ``file://`` URL."""
    text = os.fspath(location)
    parsed = urlparse(text)
    if parsed.scheme == "file":
        return Path(parsed.path)
    if parsed.scheme and len(parsed.scheme) > 1:
        raise InputError(f"{text}: only local paths and file:// URLs are supported here")
    return Path(text)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_json_atomic(path: Path, document: Any) -> None:
    write_bytes_atomic(path, (json.dumps(document, indent=2, sort_keys=False, default=str) + "\n").encode())


def mark_success(directory: Path) -> None:
    """The commit marker: written last, after every other file is in place."""
    write_bytes_atomic(directory / SUCCESS, b"")


def prepare_output_dir(directory: Path, overwrite: bool, resume: bool = False) -> None:
    """Make ``directory`` ready for a run.

    An existing non-empty directory is refused unless ``overwrite`` (it is
    emptied) or ``resume`` (it is kept, minus its completion marker).
    """
    if directory.exists() and not directory.is_dir():
        raise OutputError(f"output {directory} exists and is not a directory")
    if directory.exists() and any(directory.iterdir()):
        if resume:
            (directory / SUCCESS).unlink(missing_ok=True)
            return
        if not overwrite:
            raise OutputError(f"output {directory} exists and is not empty; pass --overwrite to replace it")
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)


@contextmanager
def staged_directory(final: Path, overwrite: bool) -> Iterator[Path]:
    """Yield a sibling staging directory; on success it replaces ``final``.

    The staging directory is removed if the block raises, so a failed run
    leaves the previous output (or nothing) in place.
    """
    if final.exists() and not overwrite and (not final.is_dir() or any(final.iterdir())):
        raise OutputError(f"output {final} exists and is not empty; pass --overwrite to replace it")
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.with_name(f".{final.name}.staging-{uuid.uuid4().hex[:8]}")
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if final.exists():
        trash = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(final, trash)
        shutil.rmtree(trash, ignore_errors=True)
    os.replace(staging, final)
    mark_success(final)


def require_complete(directory: Path, document: str, schema: str, what: str) -> dict[str, Any]:
    """Load ``directory/document`` after checking the run that wrote it finished.

    ``what`` names the producing stage for the error message.
    """
    if not directory.is_dir():
        raise InputError(f"{directory} does not exist or is not a directory (expected the output of {what})")
    if not (directory / SUCCESS).is_file():
        raise InputError(f"{directory} has no {SUCCESS} marker: the {what} run that wrote it did not finish")
    path = directory / document
    try:
        meta = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path} is missing or not valid JSON: {exc}") from None
    found = meta.get("schema")
    if found != schema:
        raise InputError(f"{path} has schema {found!r}; this shardvec reads {schema!r}")
    return meta
