"""Where input bytes come from: the one seam between readers and storage.

Readers never call ``open`` themselves; they ask :func:`filesystem_for` for
the file system of a path and read through it. Local paths and ``file://``
URLs are read here directly; every other URL (``s3://`` = ``s3a://``,
``gs://``, ``hdfs://``) through fsspec (:class:`shardvec.storage.Store`),
with the ``[storage] options``. The readers stream the raw bytes themselves,
not Spark's Hadoop file systems, because the per-file damage accounting
needs the byte stream; so those options travel with the reader settings to
the Spark executors, which need s3fs (gcsfs, a Hadoop client) installed.
"""

from __future__ import annotations

import bz2
import errno
import gzip
import io
import lzma
import os
import posixpath
import stat
from contextlib import contextmanager
from dataclasses import dataclass, field
from glob import glob
from pathlib import Path
from typing import IO, Any, Iterator, Mapping, Protocol
from urllib.parse import urlparse

from shardvec.errors import InputError
from shardvec.storage import Store, first_line, is_remote, storage_errors

# Magic bytes of the compressions we decode, whatever the file is called.
_GZIP, _BZIP2, _XZ, _ZSTD = b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"\x28\xb5\x2f\xfd"
COMPRESSED_MAGIC = (_GZIP, _BZIP2, _XZ, _ZSTD)
# Remote reads fetch this much ahead per request: small enough that sniffing
# a file's head costs little, large enough that streaming a file is not
# bound by request latency next to the Python cleaning that follows.
_READ_AHEAD = 4 << 20


class FileSystem(Protocol):
    """The four things prepare needs from storage."""

    def expand(self, location: str) -> list[str]:
        """Files under a file, directory or glob; raises InputError if it names nothing."""

    def open(self, path: str) -> IO[bytes]:
        """A binary stream of the raw (possibly compressed) bytes."""

    def head(self, path: str, n: int) -> bytes:
        """The first ``n`` raw bytes (one small ranged read on object stores)."""

    def size(self, path: str) -> int:
        """Bytes on storage, used to balance files across tasks."""


def _is_glob(path: str) -> bool:
    return any(ch in path for ch in "*?[")


def _is_listed(name: str) -> bool:
    """Whether a file found in a directory or glob is input: hidden and underscore files are Spark/Hadoop
    bookkeeping (_SUCCESS, .crc); '' is a directory marker."""
    return bool(name) and not name.startswith((".", "_"))


_MAX_LINKS = 40  # links followed in a row, as Linux's own limit


def _resolved(paths: list[str]) -> list[str]:
    """Each path's ``resolve()``, each directory resolved once: a file that is not a link is its resolved
    directory and its name, and a link is followed to such a file. Why: ``resolve`` walks every
    component of every path, and a corpus of many small files (or of links to them, as a download
    cache keeps them) paid that walk per file on the driver. Strings and ``os.path``, not ``Path``
    objects: at thousands of files, building the objects cost more than the system calls."""
    directories: dict[str, str] = {}
    out = []
    for path in paths:
        for _ in range(_MAX_LINKS):
            if not os.path.islink(path):
                break
            path = os.path.join(os.path.dirname(path), os.readlink(path))  # a relative target is the link's dir's
        else:  # a chain this long: let realpath follow it
            out.append(os.path.realpath(path))
            continue
        parent, name = os.path.split(path)
        if parent not in directories:
            directories[parent] = os.path.realpath(parent)
        out.append(os.path.join(directories[parent], name))
    return out


def _tree_files(top: str) -> list[str]:
    """The files under directory ``top`` that ``Path(top).rglob("*")`` finds and ``is_file()`` keeps (links
    to files too; links to directories are not entered), from ``os.scandir``, whose entries know whether
    they are directories without a ``stat`` each."""
    found, folders = [], [top]
    while folders:
        try:
            entries = list(os.scandir(folders.pop()))
        except PermissionError:  # as rglob: a directory it may not read holds nothing
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                folders.append(entry.path)
            elif _is_file(entry):
                found.append(entry.path)
    return found


_NOT_A_FILE = (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP)  # the errors Path.is_file answers False to


def _is_file(entry: os.DirEntry[str] | str) -> bool:
    """Whether a directory entry or a path is a file or a link to one, as ``Path.is_file`` says: a missing
    target or a loop of links is not; any other error (a permission) is raised, not taken for an answer."""
    try:
        return entry.is_file() if isinstance(entry, os.DirEntry) else stat.S_ISREG(os.stat(entry).st_mode)
    except OSError as exc:
        if exc.errno in _NOT_A_FILE:
            return False
        raise


class LocalFileSystem:
    """Local paths and ``file://`` URLs."""

    def expand(self, location: str) -> list[str]:
        path = Path(_strip_file_scheme(location))
        text = os.fspath(path)
        if _is_glob(text):
            matches = glob(text, recursive=True)
            if not matches:
                raise InputError(f"input {location}: no file matches this pattern")
            candidates = [p for p in matches if _is_file(p)]
        elif path.is_dir():
            candidates = _tree_files(text)
        elif path.exists():  # a file named on its own is read whatever its name
            return [str(path.resolve())] if path.is_file() else []
        else:
            raise InputError(f"input {location} does not exist")
        return sorted(_resolved([p for p in candidates if _is_listed(os.path.basename(p))]))

    def open(self, path: str) -> IO[bytes]:
        return open(_strip_file_scheme(path), "rb")

    def head(self, path: str, n: int) -> bytes:
        with self.open(path) as fh:
            return fh.read(n)

    def size(self, path: str) -> int:
        return os.stat(_strip_file_scheme(path)).st_size


def _strip_file_scheme(location: str) -> str:
    if location[:5].lower() != "file:":  # no scheme to strip: most paths, so without parsing them
        return location
    parsed = urlparse(location)
    return parsed.path if parsed.scheme == "file" else location


@dataclass(frozen=True)
class RemoteFileSystem:
    """Any other URL, through fsspec with the ``[storage] options`` (picklable: it runs on executors).

    Expanded files keep the scheme and host of the location they came from,
    so an ``s3a://`` input lists ``s3a://`` files and the manifest shows the
    URLs the user gave.
    """

    options: dict[str, Any] = field(default_factory=dict, repr=False)  # may hold credentials

    def expand(self, location: str) -> list[str]:
        root = Store(location, self.options)
        fs, path = root.fs, root.path
        # fsspec keeps a file system, and its listing cache, for the life of the
        # process: a second run in the same process must see files added since.
        fs.invalidate_cache()
        try:
            if _is_glob(path):
                found = fs.glob(path, detail=True)
                if not found:
                    raise InputError(f"input {location}: no file matches this pattern")
            elif fs.isdir(path):
                found = fs.find(path, detail=True)
            elif fs.exists(path):  # a file named on its own is read whatever its name
                return [location] if fs.info(path)["type"] == "file" else []
            else:
                raise InputError(f"input {location} does not exist")
        except storage_errors() as exc:
            raise InputError(f"input {location} cannot be listed: {first_line(exc)}") from None
        prefix = url_prefix(location, path)
        return sorted(prefix + name for name, info in found.items()
                      if info["type"] == "file" and _is_listed(posixpath.basename(name)))

    def open(self, path: str) -> IO[bytes]:
        store = Store(path, self.options)
        return store.fs.open(store.path, "rb", block_size=_READ_AHEAD)

    def head(self, path: str, n: int) -> bytes:
        store = Store(path, self.options)
        with store.fs.open(store.path, "rb", cache_type="none") as fh:  # no read-ahead block
            return fh.read(n)

    def size(self, path: str) -> int:
        store = Store(path, self.options)
        return int(store.fs.size(store.path))


def url_prefix(location: str, path: str) -> str:
    """What turns a path of the file system serving ``location`` back into a URL of its scheme.

    Object stores' paths begin with the bucket (``s3a://b/x`` is ``b/x``:
    the prefix is ``s3a://``); HDFS paths are absolute and the URL's host is
    the name node (``hdfs://nn:8020/x`` is ``/x``: the prefix is
    ``hdfs://nn:8020``).
    """
    url = location.rstrip("/")
    if path and url.endswith(path):
        return url[: len(url) - len(path)]
    return f"{urlparse(location).scheme}://"


_LOCAL = LocalFileSystem()


def filesystem_for(location: str, options: Mapping[str, Any]) -> FileSystem:
    """The file system serving ``location``: local for paths and ``file://``, else fsspec with ``options``."""
    return RemoteFileSystem(dict(options)) if is_remote(location) else _LOCAL


@dataclass(frozen=True)
class InputLocation:
    """One ``--input`` argument and the files it expanded to (an empty directory has none)."""

    location: str
    files: tuple[str, ...]


def expand_inputs(locations: list[str], options: Mapping[str, Any]) -> list[InputLocation]:
    return [InputLocation(location, tuple(filesystem_for(location, options).expand(location)))
            for location in locations]


def list_input_files(locations: list[str], options: Mapping[str, Any]) -> list[str]:
    """Expand files, directories and globs into a sorted list of files.

    A location that matches nothing is an error (exit 2); an empty directory
    is not, it simply contributes no files.
    """
    return sorted({f for location in expand_inputs(locations, options) for f in location.files})


def open_decompressed(raw: IO[bytes]) -> IO[bytes]:
    """Wrap ``raw`` in a decompressor chosen by magic bytes rather than by name."""
    buffered = raw if hasattr(raw, "peek") else io.BufferedReader(raw)  # type: ignore[arg-type]
    head = buffered.peek(6)[:6]
    if head.startswith(_GZIP):
        return gzip.GzipFile(fileobj=buffered)  # type: ignore[return-value]
    if head.startswith(_BZIP2):
        return bz2.BZ2File(buffered)  # type: ignore[return-value]
    if head.startswith(_XZ):
        return lzma.LZMAFile(buffered)  # type: ignore[return-value]
    if head.startswith(_ZSTD):
        import zstandard

        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(buffered))  # type: ignore[return-value]
    return buffered  # type: ignore[return-value]


@contextmanager
def open_input(path: str, options: Mapping[str, Any]) -> Iterator[IO[bytes]]:
    """The decompressed bytes of an input file; closes the raw stream too."""
    with open_sniffed(path, options) as (_, fh):
        yield fh


@contextmanager
def open_sniffed(path: str, options: Mapping[str, Any]) -> Iterator[tuple[bytes, IO[bytes]]]:
    """An input file's first raw bytes (up to 4: Parquet's magic) and its decompressed bytes, from one open."""
    with filesystem_for(path, options).open(path) as raw:
        buffered = raw if hasattr(raw, "peek") else io.BufferedReader(raw)  # type: ignore[arg-type]
        magic = buffered.peek(4)[:4]
        with open_decompressed(buffered) as fh:
            yield magic, fh
