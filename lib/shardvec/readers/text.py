"""Plain-text and HTML files: one document per line, or one per file.

Lines are read one by one (a damaged stream keeps every line read before the
damage, and an overlong line is skipped without being held) but decoded and
judged a block at a time (:class:`LineBlock`): one UTF-8 decode and a few
numpy passes per block instead of Python work per line. Spark's read step
takes the blocks as they are; :func:`read_text` gives the same records one
event each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shardvec.readers.base import (EMPTY, INVALID_UTF8, TOO_LONG, Document, Dropped, Event, FileStatus,
                                   ReaderSettings, bounded_lines, decode_text, read_bounded, record_id)
from shardvec.readers.fs import open_input

# A block ends after this many lines or bytes, whichever comes first.
_BLOCK_LINES = 8192
_BLOCK_BYTES = 32 << 20
# ASCII bytes that str.isspace() calls whitespace: a line of only these is empty.
_ASCII_SPACE = np.zeros(256, dtype=bool)
_ASCII_SPACE[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True


@dataclass(frozen=True)
class LineBlock:
    """Consecutive line records of one file: record ``first + i`` is ``texts[i]`` if ``reasons[i]`` is
    null, else dropped for that reason (``texts[i]`` null)."""

    source: str
    first: int
    texts: pa.StringArray
    reasons: pa.StringArray

    def __len__(self) -> int:
        return len(self.texts)


def read_text(path: str, settings: ReaderSettings) -> Iterator[Event]:
    """Non-empty lines (``text_document = "line"``) or the whole file (``"file"``) as documents."""
    for event in read_text_blocks(path, settings):
        if not isinstance(event, LineBlock):
            yield event
            continue
        for i, (text, reason) in enumerate(zip(event.texts.to_pylist(), event.reasons.to_pylist())):
            doc_id = record_id(path, event.first + i)
            yield Dropped(doc_id, path, reason) if reason else Document(doc_id, text, path)


def read_text_blocks(path: str, settings: ReaderSettings) -> Iterator[Event | LineBlock]:
    """As :func:`read_text`, with line records in blocks; on damage, the lines read before it come first."""
    if settings.text_document == "file":
        yield from _read_whole(path, settings, "text")
        return
    records = 0
    with open_input(path, settings.storage_options) as fh:
        raws: list[bytes | None] = []
        size = 0
        try:
            for raw in bounded_lines(fh, settings.max_record_bytes):
                raws.append(raw)
                if raw is not None:
                    size += len(raw)
                if len(raws) >= _BLOCK_LINES or size >= _BLOCK_BYTES:
                    yield line_block(path, records + 1, raws)
                    records += len(raws)
                    raws, size = [], 0
        except Exception:
            if raws:
                yield line_block(path, records + 1, raws)
            raise
        if raws:
            yield line_block(path, records + 1, raws)
            records += len(raws)
    yield FileStatus(path, "ok", records, "text")


def line_block(path: str, first: int, raws: list[bytes | None]) -> LineBlock:
    """The records of raw lines (None: longer than the limit), judged as :func:`decode_text` and
    ``str.strip`` would judge each line."""
    n = len(raws)
    if None in raws:
        lengths = np.fromiter((len(r) if r is not None else 0 for r in raws), dtype=np.int64, count=n)
        data = b"".join(r for r in raws if r is not None)
    else:  # the usual block: no overlong line, so C loops do
        lengths = np.fromiter(map(len, raws), dtype=np.int64, count=n)  # type: ignore[arg-type]
        data = b"".join(raws)  # type: ignore[arg-type]
    try:
        data.decode("utf-8")  # lines end at b"\n", which no multi-byte character holds: all valid or some not
    except UnicodeDecodeError:
        return _decoded_one_by_one(path, first, raws)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    texts = pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data)])
    reasons = np.full(n, None, dtype=object)
    reasons[lengths == 0] = TOO_LONG  # a line read is never empty; an overlong one has no bytes here
    # Empty: nothing but whitespace. A line with an ASCII byte that is not whitespace has text; one with
    # only whitespace bytes is empty; the rest (whitespace and non-ASCII bytes) is decided by str.strip.
    raw = np.frombuffer(data, dtype=np.uint8)
    read = np.flatnonzero(lengths > 0)
    if len(read):
        starts = offsets[:-1][read]
        has_text = np.maximum.reduceat(~_ASCII_SPACE[raw] & (raw < 0x80), starts)
        has_other = np.maximum.reduceat(raw >= 0x80, starts)
        reasons[read[~has_text & ~has_other]] = EMPTY
        for i in read[~has_text & has_other]:
            if not raws[i].decode("utf-8").strip():  # type: ignore[union-attr]
                reasons[i] = EMPTY
    reason_array = pa.array(reasons, pa.string())
    return LineBlock(path, first, pc.if_else(reason_array.is_null(), texts, None), reason_array)


def _decoded_one_by_one(path: str, first: int, raws: list[bytes | None]) -> LineBlock:
    """A block with invalid UTF-8 somewhere: each line through :func:`decode_text` (stray bytes become spaces)."""
    texts: list[str | None] = []
    reasons: list[str | None] = []
    for raw in raws:
        text = None if raw is None else decode_text(raw)
        reason = TOO_LONG if raw is None else INVALID_UTF8 if text is None else None if text.strip() else EMPTY
        texts.append(None if reason else text)
        reasons.append(reason)
    return LineBlock(path, first, pa.array(texts, pa.string()), pa.array(reasons, pa.string()))


def read_html(path: str, settings: ReaderSettings) -> Iterator[Event]:
    """One HTML page per file; its main text is extracted later, batch by batch."""
    yield from _read_whole(path, settings, "html")


def _read_whole(path: str, settings: ReaderSettings, fmt: str) -> Iterator[Event]:
    from shardvec.text.html import decode_html

    with open_input(path, settings.storage_options) as fh:
        data = read_bounded(fh, settings.max_record_bytes)
    doc_id = record_id(path, 1)
    if data is not None and not data.strip():
        yield FileStatus(path, "ok", 0, fmt)  # an empty file holds no record
        return
    text = None if data is None else (decode_html(data) if fmt == "html" else decode_text(data))
    if data is None:
        yield Dropped(doc_id, path, TOO_LONG)
    elif text is None:
        yield Dropped(doc_id, path, INVALID_UTF8)
    else:
        yield Document(doc_id, text, path, content_type=fmt)
    yield FileStatus(path, "ok", 1, fmt)
