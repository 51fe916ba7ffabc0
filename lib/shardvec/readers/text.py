"""Plain-text and HTML files: one document per line, or one per file.

Lines are read one by one (a damaged stream keeps every line read before the
damage, and an overlong line is skipped without being held) but decoded and
judged a block at a time (:class:`LineBlock`): one UTF-8 decode and a few
numpy passes per block instead of Python work per line. Spark's read step
takes the blocks as they are; :func:`~shardvec.readers.read_file` gives the
same records one event each.
"""

from __future__ import annotations

from typing import IO, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shardvec.readers.base import EMPTY, INVALID_UTF8, TOO_LONG, Document, Dropped, LineBlock, Reader, decode_text

# A block ends after this many lines or bytes, whichever comes first.
_BLOCK_LINES = 8192
_BLOCK_BYTES = 32 << 20
# ASCII bytes that str.isspace() calls whitespace: a line of only these is empty.
_ASCII_SPACE = np.zeros(256, dtype=bool)
_ASCII_SPACE[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True


class TextReader(Reader):
    """Non-empty lines (``text_document = "line"``), in blocks, or the whole file (``"file"``) as documents."""

    format = "text"
    text_only = True

    def read_records(self, fh: IO[bytes]) -> Iterator[Document | Dropped | LineBlock]:
        if self.settings.text_document == "file":
            yield from self.read_whole(fh)
            return
        raws: list[bytes | None] = []
        size = 0
        try:
            for raw in self.lines(fh):
                raws.append(raw)
                if raw is not None:
                    size += len(raw)
                if len(raws) >= _BLOCK_LINES or size >= _BLOCK_BYTES:
                    yield self._block(raws)
                    raws, size = [], 0
        except Exception:  # damage: the lines read before it come first
            if raws:
                yield self._block(raws)
            raise
        if raws:
            yield self._block(raws)

    def _block(self, raws: list[bytes | None]) -> LineBlock:
        """The next ``len(raws)`` records, judged in one block."""
        return line_block(self.path, self.number(len(raws)), raws)

    def read_whole(self, fh: IO[bytes]) -> Iterator[Document | Dropped]:
        """The whole file as one record; a blank file holds none."""
        data = self.bounded(fh)
        if data is None:
            yield self.drop(TOO_LONG)
        elif data.strip():
            text = self.decode(data)
            yield self.drop(INVALID_UTF8) if text is None else self.document(text, content_type=self.format)

    def decode(self, data: bytes) -> str | None:
        """A whole file's text; None if it is not text."""
        return decode_text(data)


class HtmlReader(TextReader):
    """One HTML page per file; its main text is extracted later, batch by batch."""

    format = "html"

    def read_records(self, fh: IO[bytes]) -> Iterator[Document | Dropped]:
        return self.read_whole(fh)

    def decode(self, data: bytes) -> str:
        from shardvec.text.html import decode_html

        return decode_html(data)


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
