"""The events every reader yields, and the settings they all share.

A reader is a generator over one file that yields :class:`Document` (kept for
cleaning), :class:`Dropped` (a record that could not be used, with a reason)
and, last, exactly one :class:`FileStatus` saying whether the whole file was
read (``ok``), ended early on damage (``truncated``, with how many records
were read before it) or could not be read at all (``unreadable``). Damage is
never hidden: a short read is reported, not skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import IO, Any, Iterator, Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# A line whose decoding needed more than this share of replacement characters
# is binary noise, not text.
_MAX_REPLACEMENT_SHARE = 0.1
# Why a record is dropped, in any format (a format's own reasons live in its module).
TOO_LONG = "record_too_long"
INVALID_UTF8 = "invalid_utf8"
EMPTY = "empty"


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
