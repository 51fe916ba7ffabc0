"""Atomic outputs: nothing half-written ever looks complete.

Every stage writes into a directory and marks it complete with ``_SUCCESS``
as its very last write (see :mod:`shardvec.storage` for remote storage and for
the check every reader makes). Locally, a whole output is staged beside its
final place and renamed in, and single files are written to a temporary name
and renamed; a remote output is staged locally and uploaded, ``_SUCCESS`` last.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlparse

from shardvec.errors import InputError, OutputError
from shardvec.storage import (SUCCESS, Store, first_line, mark_success, prepare_output, storage_errors,
                               write_bytes_atomic)

__all__ = ["SUCCESS", "local_path", "staged_directory", "staged_output", "write_bytes_atomic", "write_json_atomic"]


def local_path(location: str | os.PathLike[str]) -> Path:
    """A local path from a plain path or a ``file://`` URL."""
    text = os.fspath(location)
    parsed = urlparse(text)
    if parsed.scheme == "file":
        return Path(parsed.path)
    if parsed.scheme and len(parsed.scheme) > 1:
        raise InputError(f"{text}: only local paths and file:// URLs are supported here")
    return Path(text)


def write_json_atomic(path: Path, document: Any) -> None:
    write_bytes_atomic(path, (json.dumps(document, indent=2, sort_keys=False, default=str) + "\n").encode())


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
    mark_success(Store(str(final)))


@contextmanager
def staged_output(output: Store, overwrite: bool, staging_root: str = "") -> Iterator[Path]:
    """Yield a local directory to write a whole output into; on success it becomes ``output``.

    A local output is staged beside its place (:func:`staged_directory`). A
    remote one is staged under ``staging_root`` (empty: the system temporary
    directory) because object stores cannot rename, then uploaded, data
    first and ``_SUCCESS`` last. An existing remote output is refused up
    front unless ``overwrite``, and removed only once the new one is
    complete: a failed run leaves the previous output in place, and an
    interrupted upload leaves nothing that looks complete.
    """
    if output.local is not None:
        with staged_directory(output.local, overwrite) as staging:
            yield staging
        return
    if not overwrite:
        _prepare_remote(output, overwrite=False)
    if staging_root:
        Path(staging_root).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="shardvec-", dir=staging_root or None) as tmp:
        local = Path(tmp) / output.name
        with staged_directory(local, overwrite=False) as staging:
            yield staging
        _prepare_remote(output, overwrite)
        output.upload_dir(local)


def _prepare_remote(output: Store, overwrite: bool) -> None:
    """:func:`prepare_output`, with unreachable storage (endpoint, credentials) as a one-line error."""
    try:
        prepare_output(output, overwrite)
    except storage_errors() as exc:
        raise OutputError(f"output {output.url} cannot be reached: {first_line(exc)}") from None
