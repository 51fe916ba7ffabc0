"""The events every reader yields, the settings they all share, and :class:`Reader`, the class they extend.

A reader is a generator over one file that yields :class:`Document` (kept for
cleaning), :class:`Dropped` (a record that could not be used, with a reason)
and, last, exactly one :class:`FileStatus` saying whether the whole file was
read (``ok``), ended early on damage (``truncated``, with how many records
were read before it) or could not be read at all (``unreadable``). Damage is
never hidden: a short read is reported, not skipped.

Only what is particular to a format is written per format: a subclass of
:class:`Reader` yields the records of one opened file, and the base numbers
them, applies the size limit and ends the file with its status. A format
whose records come in batches (plain-text lines) yields
:class:`~shardvec.readers.lines.LineBlock` s.
"""

from __future__ import annotations

import gzip
import io
import lzma
import zlib
from abc import ABC, abstractmethod
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Callable, ClassVar, ContextManager, Iterator, Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shardvec.readers.fs import open_input

if TYPE_CHECKING:
    from shardvec.readers.lines import LineBlock

# A line whose decoding needed more than this share of replacement characters
# is binary noise, not text.
_MAX_REPLACEMENT_SHARE = 0.1
# Why a record is dropped, in any format (a format's own reasons live in its module).
TOO_LONG = "record_too_long"
INVALID_UTF8 = "invalid_utf8"
EMPTY = "empty"
# What a damaged file raises while being read (SyntaxError: xml.etree.ParseError
# on a cut-off dump; zstd and pyarrow errors are subclasses of these).
DAMAGE = (EOFError, gzip.BadGzipFile, OSError, ValueError, lzma.LZMAError, zlib.error, SyntaxError)
# How much of a file's (decompressed) head is read to tell what it holds.
SNIFF_BYTES = 4096


@dataclass(frozen=True)
class Document:
    """One record worth cleaning.

    ``id`` is unique in the run (``source#n``); ``record_id``, ``url`` and
    ``date`` are what the input itself says (JSONL fields, WARC headers) and
    only travel to the lineage table. ``content_type`` is ``text`` or
    ``html``: HTML is extracted later, a whole Arrow batch at a time.
    """

    id: str
    text: str
    source: str
    content_type: str = "text"
    record_id: str | None = None
    url: str | None = None
    date: str | None = None


@dataclass(frozen=True)
class Dropped:
    """A record that was read but cannot become a document, and why (with its lineage where known)."""

    id: str
    source: str
    reason: str
    record_id: str | None = None
    url: str | None = None
    date: str | None = None


@dataclass(frozen=True)
class FileStatus:
    """How the reading of one file ended, and how many records it gave."""

    source: str
    status: str  # ok | truncated | unreadable
    records: int
    format: str
    error: str = ""


Event = Union[Document, Dropped, FileStatus]


@dataclass(frozen=True)
class ReaderSettings:
    """What the readers need from ``[prepare]``; picklable, so Spark ships it to executors."""

    format: str = "auto"
    text_field: str = "text"
    id_field: str = "id"
    url_field: str = "url"
    date_field: str = "date"
    text_document: str = "line"  # line | file: what one document of a plain-text file is
    max_record_bytes: int = 16 << 20
    # fsspec options for remote inputs (``[storage] options``): they travel to the
    # executors with these settings. Kept out of repr, as they may hold credentials.
    storage_options: dict[str, Any] = field(default_factory=dict, repr=False)


class Unreadable(Exception):
    """Raised by a reader when its file as a whole cannot be used (not text, no text column).

    The file then ends ``unreadable`` with this message as its error, rather
    than with the name of an exception as damage does.
    """


class Reader(ABC):
    """The reader of one file in one format.

    A format subclasses this, names itself in ``format`` and writes
    :meth:`read_records`, which yields :meth:`document`, :meth:`drop` or
    :meth:`record` once per record of the opened file. Everything else is
    here, the same for every format: the records are numbered (their ids
    and the count), a record over ``max_record_bytes`` is read through
    :meth:`lines` or :meth:`bounded` without being held, and :meth:`events`
    ends the file with its :class:`FileStatus`, damage included. So no
    format can count, name or report its records differently.
    """

    format: ClassVar[str]
    # Formats that are text refuse a file with NUL bytes in its head, whatever its name says.
    text_only: ClassVar[bool] = False
    # Whether the reader only reads its stream forward from the start (so the stream opened to tell the
    # format can serve it); a format that seeks says no, and its file is opened again.
    streamed: ClassVar[bool] = True

    def __init__(self, path: str, settings: ReaderSettings) -> None:
        self.path = path
        self.settings = settings
        self.records = 0

    @abstractmethod
    def read_records(self, fh: IO[bytes]) -> Iterator[Document | Dropped | LineBlock]:
        """Every record of the opened file, in order: all a format has to write."""

    def open(self) -> ContextManager[IO[bytes]]:
        """The file's decompressed bytes."""
        return open_input(self.path, self.settings.storage_options)

    def events(self, sniffed: tuple[bytes, IO[bytes]] | None = None) -> Iterator[Event | LineBlock]:
        """The file's records, then its status; bad data ends the file with a status and never raises.

        ``sniffed``: the file's decompressed stream, already open, and the
        head read from it to tell its format (for a reader that ``streamed``).
        """
        try:
            with self.open() if sniffed is None else nullcontext(sniffed[1]) as fh:
                head = sniffed[0] if sniffed else fh.read(SNIFF_BYTES) if self.text_only else None
                if self.text_only and b"\x00" in head:  # type: ignore[operator]
                    raise Unreadable("binary file (NUL bytes), not text")
                yield from self.read_records(fh if head is None else replay(head, fh))
        except Unreadable as exc:
            yield self._status("unreadable", str(exc))
        except DAMAGE as exc:
            yield self._status("truncated" if self.records else "unreadable", damage_error(exc))
        else:
            yield self._status("ok")

    def _status(self, status: str, error: str = "") -> FileStatus:
        """The file's status, with the records numbered so far."""
        return FileStatus(self.path, status, self.records, self.format, error)

    def number(self, n: int = 1) -> int:
        """Number the next ``n`` records of the file; the number of the first."""
        self.records += n
        return self.records - n + 1

    def document(self, text: str, content_type: str = "text", **lineage: str | None) -> Document:
        """The next record, kept."""
        return Document(record_id(self.path, self.number()), text, self.path, content_type, **lineage)

    def drop(self, reason: str, **lineage: str | None) -> Dropped:
        """The next record, dropped for ``reason``."""
        return Dropped(record_id(self.path, self.number()), self.path, reason, **lineage)

    def record(self, text: str | None, content_type: str = "text", **lineage: str | None) -> Document | Dropped:
        """The next record, judged as every format judges text: None (undecodable) and blank text are dropped."""
        if text is None:
            return self.drop(INVALID_UTF8, **lineage)
        if not text.strip():
            return self.drop(EMPTY, **lineage)
        return self.document(text, content_type, **lineage)

    def lineage(self, value: Callable[[str], Any]) -> dict[str, str | None]:
        """The lineage of a record whose fields ``value`` looks up by the names ``[prepare]`` gives them."""
        settings = self.settings
        return {"record_id": optional_str(value(settings.id_field)), "url": optional_str(value(settings.url_field)),
                "date": optional_str(value(settings.date_field))}

    def lines(self, fh: IO[bytes]) -> Iterator[bytes | None]:
        """The lines of ``fh``; None for a line over the size limit (:func:`bounded_lines`)."""
        return bounded_lines(fh, self.settings.max_record_bytes)

    def bounded(self, fh: IO[bytes]) -> bytes | None:
        """The rest of ``fh``; None when it is over the size limit (:func:`read_bounded`)."""
        return read_bounded(fh, self.settings.max_record_bytes)


def replay(head: bytes, rest: IO[bytes]) -> IO[bytes]:
    """A stream whose first bytes, ``head``, were read already: ``head`` then the rest of ``rest``."""
    return io.BufferedReader(_Replay(head, rest), buffer_size=1 << 16)  # type: ignore[return-value]


class _Replay(io.RawIOBase):
    """The raw stream under :func:`replay`: at most one ``read1`` of ``rest`` per read, so that on damage every
    byte decoded before it still comes through, as reading ``rest`` itself gives.

    The read that ends the head also asks ``rest`` for what fits beside it:
    a small file then comes in one read, not two. Damage in that read waits
    for the next one, so the head's bytes come through first.
    """

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = memoryview(head)
        self._read = getattr(rest, "read1", None) or rest.read
        self._damage: BaseException | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._damage is not None:
            damage, self._damage = self._damage, None
            raise damage
        if not self._head:
            data = self._read(len(buffer))
            buffer[:len(data)] = data
            return len(data)
        n = min(len(buffer), len(self._head))
        buffer[:n] = self._head[:n]
        self._head = self._head[n:]
        if n < len(buffer) and not self._head:
            try:
                more = self._read(len(buffer) - n)
            except DAMAGE as exc:
                self._damage = exc
            else:
                buffer[n:n + len(more)] = more
                n += len(more)
        return n


def damage_error(exc: BaseException) -> str:
    """How damage reads in a :class:`FileStatus`: the exception's name and message."""
    return f"{type(exc).__name__}: {exc}"


def optional_str(value: Any) -> str | None:
    """A lineage field as text (ids are often numbers); None when absent."""
    return None if value is None else str(value)


def record_id(source: str, n: int) -> str:
    """The run-unique id of the ``n``-th record (1-based) of ``source``."""
    return f"{source}#{n}"


def record_ids(sources: pa.StringArray, numbers: np.ndarray) -> pa.StringArray:
    """:func:`record_id` of many records at once (their sources and numbers), as one Arrow array."""
    return pc.binary_join_element_wise(sources, pc.cast(pa.array(numbers), pa.string()), "#")


def decode_text(raw: bytes) -> str | None:
    """UTF-8 text, stray bad bytes turned into spaces; None if it is binary noise."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", errors="replace")
        if text.count("\ufffd") > _MAX_REPLACEMENT_SHARE * max(len(text), 1):
            return None
        return text.replace("\ufffd", " ")


def bounded_lines(fh: IO[bytes], limit: int) -> Iterator[bytes | None]:
    """The lines of ``fh``; a line longer than ``limit`` bytes yields None.

    The long line is skipped in 1 MiB steps, never held in memory: a 50 MB
    line without a newline costs one record, not the executor.
    """
    while True:
        line = fh.readline(limit + 1)
        if not line:
            return
        if len(line) > limit and not line.endswith(b"\n"):
            while True:
                rest = fh.readline(1 << 20)
                if not rest or rest.endswith(b"\n"):
                    break
            yield None
        else:
            yield line


def read_bounded(fh: IO[bytes], limit: int) -> bytes | None:
    """The whole rest of ``fh``, or None (after draining it) when it exceeds ``limit`` bytes."""
    data = fh.read(limit + 1)
    if len(data) <= limit:
        return data
    while fh.read(1 << 20):
        pass
    return None
