"""Where input bytes come from: the one seam between readers and storage.

Readers never call ``open`` themselves; they ask :func:`filesystem_for` for
the file system of a path and read through it. Local paths and ``file://``
URLs are served here; a Hadoop or fsspec file system (``hdfs://``,
``s3a://``) plugs in by implementing :class:`FileSystem` and registering its
scheme in :data:`FILESYSTEMS`, with no reader changing.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
from contextlib import contextmanager
from dataclasses import dataclass
from glob import glob
from pathlib import Path
from typing import IO, Iterator, Protocol
from urllib.parse import urlparse

from shardvec.errors import InputError

# Magic bytes of the compressions we decode, whatever the file is called.
_GZIP, _BZIP2, _XZ, _ZSTD = b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"\x28\xb5\x2f\xfd"
COMPRESSED_MAGIC = (_GZIP, _BZIP2, _XZ, _ZSTD)


class FileSystem(Protocol):
    """The three things prepare needs from storage."""

    def expand(self, location: str) -> list[str]:
        """Files under a file, directory or glob; raises InputError if it names nothing."""

    def open(self, path: str) -> IO[bytes]:
        """A binary stream of the raw (possibly compressed) bytes."""

    def size(self, path: str) -> int:
        """Bytes on storage, used to balance files across tasks."""


class LocalFileSystem:
    """Local paths and ``file://`` URLs."""

    def expand(self, location: str) -> list[str]:
        path = Path(_strip_file_scheme(location))
        text = os.fspath(path)
        if any(ch in text for ch in "*?["):
            candidates = [Path(p) for p in glob(text, recursive=True)]
            if not candidates:
                raise InputError(f"input {location}: no file matches this pattern")
        elif path.is_dir():
            candidates = list(path.rglob("*"))
        elif path.exists():
            candidates = [path]
        else:
            raise InputError(f"input {location} does not exist")
        # Hidden and underscore files are Spark/Hadoop bookkeeping (_SUCCESS, .crc).
        return sorted(str(p.resolve()) for p in candidates if p.is_file() and not p.name.startswith((".", "_")))

    def open(self, path: str) -> IO[bytes]:
        return open(_strip_file_scheme(path), "rb")

    def size(self, path: str) -> int:
        return os.stat(_strip_file_scheme(path)).st_size


def _strip_file_scheme(location: str) -> str:
    parsed = urlparse(location)
    return parsed.path if parsed.scheme == "file" else location


FILESYSTEMS: dict[str, FileSystem] = {"": LocalFileSystem(), "file": LocalFileSystem()}


def filesystem_for(location: str) -> FileSystem:
    """The file system serving ``location``, chosen by URL scheme."""
    scheme = urlparse(location).scheme
    if len(scheme) == 1:  # a Windows drive letter, not a scheme
        scheme = ""
    try:
        return FILESYSTEMS[scheme]
    except KeyError:
        raise InputError(f"{location}: no reader for {scheme}:// URLs yet (supported: local paths, file://)") from None


@dataclass(frozen=True)
class InputLocation:
    """One ``--input`` argument and the files it expanded to (an empty directory has none)."""

    location: str
    files: tuple[str, ...]


def expand_inputs(locations: list[str]) -> list[InputLocation]:
    return [InputLocation(loc, tuple(filesystem_for(loc).expand(loc))) for loc in locations]


def list_input_files(locations: list[str]) -> list[str]:
    """Expand files, directories and globs into a sorted list of files.

    A location that matches nothing is an error (exit 2); an empty directory
    is not, it simply contributes no files.
    """
    return sorted({f for loc in expand_inputs(locations) for f in loc.files})


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
def open_input(path: str) -> Iterator[IO[bytes]]:
    """The decompressed bytes of an input file; closes the raw stream too."""
    with filesystem_for(path).open(path) as raw, open_decompressed(raw) as fh:
        yield fh
