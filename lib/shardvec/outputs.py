"""Atomic local outputs: nothing half-written ever looks complete.

Every stage writes into a directory and marks it complete with ``_SUCCESS``
as its very last write (see :mod:`shardvec.storage` for remote storage and for
the check every reader makes). Locally, a whole output is staged beside its
final place and renamed in, and single files are written to a temporary name
and renamed.
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
from shardvec.storage import SUCCESS, Store, mark_success, write_bytes_atomic

__all__ = ["SUCCESS", "local_path", "staged_directory", "write_bytes_atomic", "write_json_atomic"]


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
