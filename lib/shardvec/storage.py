"""Directories on any storage: local paths, ``file://``, ``s3://`` (= ``s3a://``), ``gs://``, ``hdfs://``.

Every stage reads and writes through :class:`Store`, a thin layer over
fsspec (prepare's readers through :mod:`shardvec.readers.fs`, which uses it),
so inputs, a corpus or a model can live in a data lake. Object
stores have no atomic rename, so a directory's ``_SUCCESS`` object, written
last, is the commit marker everywhere; on local disks single files are still
written to a temporary name and renamed.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlparse

import numpy as np

from shardvec.errors import ConfigError, EnvironmentProblem, InputError

SUCCESS = "_SUCCESS"
# Hadoop's s3a:// and fsspec's s3:// name the same buckets.
_SCHEME_ALIASES = {"s3a": "s3", "s3n": "s3"}
# Keys of storage options that are credentials and never go into a report.
SECRET_WORDS = ("key", "secret", "token", "password", "credential")


def normalize_url(location: str) -> str:
    parsed = urlparse(location)
    scheme = _SCHEME_ALIASES.get(parsed.scheme, parsed.scheme)
    return location.replace(f"{parsed.scheme}://", f"{scheme}://", 1) if scheme != parsed.scheme else location


def is_remote(location: str) -> bool:
    if ":" not in location:  # a plain path: asked once per input file, so without parsing it
        return False
    scheme = urlparse(location).scheme
    return len(scheme) > 1 and scheme != "file"


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write a local file under a temporary name and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def redact(options: dict[str, Any]) -> dict[str, Any]:
    """Storage options fit for a report: credentials replaced by '***'."""
    return {k: ("***" if any(w in k.lower() for w in SECRET_WORDS) else v) for k, v in options.items()}


@dataclass(frozen=True)
class Store:
    """One directory: ``store / "name"`` is a file or subdirectory in it."""

    url: str
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", normalize_url(str(self.url)).rstrip("/"))

    def __truediv__(self, name: str) -> "Store":
        return Store(f"{self.url}/{name}", self.options)

    @property
    def name(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def local(self) -> Path | None:
        """The local path, or None on remote storage."""
        if is_remote(self.url):
            return None
        parsed = urlparse(self.url)
        return Path(parsed.path if parsed.scheme == "file" else self.url)

    @property
    def fs(self):
        return _connect(self.url, self.options)[0]

    @property
    def path(self) -> str:
        """The path within the file system (no scheme)."""
        return _connect(self.url, self.options)[1]

    def exists(self) -> bool:
        return self.fs.exists(self.path)

    def is_dir(self) -> bool:
        return self.fs.isdir(self.path)

    def listdir(self) -> list[str]:
        """Names directly inside this directory (empty if it does not exist)."""
        if not self.exists():
            return []
        return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(self.path, detail=False))

    def read_bytes(self) -> bytes:
        try:
            return self.fs.cat_file(self.path)
        except FileNotFoundError:
            raise InputError(f"{self.url} does not exist") from None

    def write_bytes(self, data: bytes) -> None:
        """One object / one renamed file: readers never see a partial write."""
        if self.local is not None:
            write_bytes_atomic(self.local, data)
        else:
            self.fs.pipe_file(self.path, data)

    def read_json(self) -> Any:
        return json.loads(self.read_bytes())

    def write_json(self, document: Any) -> None:
        self.write_bytes((json.dumps(document, indent=2, default=str) + "\n").encode())

    def save_npy(self, array: np.ndarray) -> None:
        local = self.local
        if local is None:
            buffer = io.BytesIO()
            np.save(buffer, array, allow_pickle=False)
            self.write_bytes(buffer.getvalue())
            return
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".{local.name}.{uuid.uuid4().hex}.tmp")
        with tmp.open("wb") as fh:  # straight to disk: no in-memory copy of a large matrix
            np.save(fh, array, allow_pickle=False)
        os.replace(tmp, local)

    def load_npy(self) -> np.ndarray:
        if self.local is not None:
            try:
                return np.load(self.local, allow_pickle=False)
            except FileNotFoundError:
                raise InputError(f"{self.url} does not exist") from None
        return np.load(io.BytesIO(self.read_bytes()), allow_pickle=False)

    def open(self, mode: str = "rb"):
        return self.fs.open(self.path, mode)

    def remove(self) -> None:
        if self.exists():
            self.fs.rm(self.path, recursive=True)

    def mkdir(self) -> None:
        if self.local is not None:
            self.local.mkdir(parents=True, exist_ok=True)

    def put_file(self, source: Path) -> None:
        """Store a local file here, streamed; renamed into place on local disks."""
        local = self.local
        if local is None:
            self.fs.put_file(str(source), self.path)
            return
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".{local.name}.{uuid.uuid4().hex}.tmp")
        shutil.copyfile(source, tmp)
        os.replace(tmp, local)

    def upload_dir(self, source: Path) -> None:
        """Copy a local directory's files here, ``_SUCCESS`` (if any) last."""
        files = sorted(p for p in source.rglob("*") if p.is_file())
        for p in sorted(files, key=lambda p: p.name == SUCCESS):
            (self / p.relative_to(source).as_posix()).put_file(p)

    @contextmanager
    def local_copy(self) -> Iterator[Path]:
        """A local path holding this file or directory (downloaded when remote)."""
        if self.local is not None:
            yield self.local
            return
        with tempfile.TemporaryDirectory(prefix="shardvec-") as tmp:
            target = Path(tmp) / self.name
            self.fs.get(self.path, str(target), recursive=self.is_dir())
            yield target


def _connect(url: str, options: dict[str, Any]) -> tuple[Any, str]:
    """fsspec's file system and path for ``url`` (instances are cached by fsspec).

    A scheme this installation cannot serve is a one-line error, not a
    traceback: an unknown scheme, a missing package (gcsfs for gs://) or a
    missing native client (libhdfs and a JVM for hdfs://).
    """
    from fsspec.core import url_to_fs

    try:
        return url_to_fs(url, **options)
    except ValueError as exc:
        raise ConfigError(f"{url}: {first_line(exc)}") from None
    except (ImportError, OSError) as exc:
        raise EnvironmentProblem(f"{url}: {first_line(exc)}") from None


def storage_errors() -> tuple[type[Exception], ...]:
    """What remote storage raises when it cannot be reached or refuses access.

    fsspec file systems raise OSError (s3fs translates S3's answers into
    PermissionError, FileNotFoundError, ...); botocore raises its own errors
    for a dead endpoint or missing credentials before S3 answers at all.
    """
    from botocore.exceptions import BotoCoreError

    return (OSError, BotoCoreError)


def first_line(exc: BaseException) -> str:
    """An exception as one line (native clients put whole search paths in their messages)."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


def as_store(location: "Store | os.PathLike[str] | str") -> Store:
    """Accept a Store, a local path or a URL wherever a location is taken."""
    return location if isinstance(location, Store) else Store(os.fspath(location))


def mark_success(directory: Store) -> None:
    (directory / SUCCESS).write_bytes(b"")


def prepare_output(directory: Store, overwrite: bool, resume: bool = False) -> None:
    """Make ``directory`` ready for a run (same rules on every storage).

    An existing non-empty directory is refused unless ``overwrite`` (it is
    emptied) or ``resume`` (it is kept, minus its completion marker).
    """
    from shardvec.errors import OutputError

    if directory.exists() and not directory.is_dir():
        raise OutputError(f"output {directory.url} exists and is not a directory")
    if directory.listdir():
        if resume:
            (directory / SUCCESS).remove()
            return
        if not overwrite:
            raise OutputError(f"output {directory.url} exists and is not empty; pass --overwrite to replace it")
        directory.remove()
    directory.mkdir()


def require_complete(directory: Store, document: str, schema: str, what: str) -> dict[str, Any]:
    """Load ``directory/document`` after checking the run that wrote it finished."""
    if not directory.is_dir():
        raise InputError(f"{directory.url} does not exist or is not a directory (expected the output of {what})")
    if not (directory / SUCCESS).exists():
        raise InputError(f"{directory.url} has no {SUCCESS} marker: the {what} run that wrote it did not finish")
    try:
        meta = (directory / document).read_json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{directory.url}/{document} is not valid JSON: {exc}") from None
    found = meta.get("schema")
    if found != schema:
        raise InputError(f"{directory.url}/{document} has schema {found!r}; this shardvec reads {schema!r}")
    return meta
