"""Plain-text and HTML files: one document per line, or one per file.

Lines are found a block at a time (:class:`~shardvec.readers.lines.LineBlock`):
the bytes are read a chunk at a time and split at their newlines with numpy,
and judged later, many blocks at once (:mod:`shardvec.readers.lines`),
instead of with Python work per line. They are the records reading line by
line would give: a damaged stream keeps every line read before the damage,
and an overlong line is one record, skipped without being held. Spark's read
step takes the blocks as they are; :func:`~shardvec.readers.read_file` gives
the same records one event each.
"""

from __future__ import annotations

from typing import IO, Iterator

import numpy as np

from shardvec.readers.base import TOO_LONG, Document, Dropped, Reader, decode_text
from shardvec.readers.lines import LineBlock

# A block ends after this many lines or bytes, whichever comes first.
_BLOCK_LINES = 8192
_BLOCK_BYTES = 32 << 20
# Bytes asked of the stream at a time (below malloc's mmap threshold: a small file costs a small buffer).
_CHUNK_BYTES = 1 << 16


class TextReader(Reader):
    """Non-empty lines (``text_document = "line"``), in blocks, or the whole file (``"file"``) as documents."""

    format = "text"
    text_only = True

    def read_records(self, fh: IO[bytes]) -> Iterator[Document | Dropped | LineBlock]:
        if self.settings.text_document == "file":
            yield from self.read_whole(fh)
            return
        for data, lengths in line_blocks(fh, self.settings.max_record_bytes, _BLOCK_LINES, _BLOCK_BYTES):
            yield LineBlock(self.path, self.number(len(lengths)), data, lengths)

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


def chunk_lines(fh: IO[bytes], limit: int) -> Iterator[tuple[bytes | memoryview, np.ndarray]]:
    """The whole lines of each chunk read from ``fh``: (their bytes, each line's length with its newline).

    Length 0 marks a line longer than ``limit`` bytes (its newline not
    counted), whose bytes are left out: the records of
    :func:`~shardvec.readers.base.bounded_lines`. Chunks come from ``read1``,
    which returns what the stream has decoded so far: on damage, every line
    complete before it has come through (the partial line is lost, as a
    line-by-line read loses it).
    """
    read = getattr(fh, "read1", None) or fh.read
    # The line in progress, in pieces (joined once, when its end comes: a long line costs no repeated
    # copies), and whether it is already over the limit (then its bytes are dropped until its end).
    pending: list[bytes] = []
    pending_size, skipping = 0, False
    while chunk := read(_CHUNK_BYTES):
        if skipping:
            cut = chunk.find(b"\n")
            if cut < 0:
                continue
            chunk, skipping = chunk[cut + 1:], False
            yield b"", np.zeros(1, dtype=np.int64)
        ends = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10) + 1
        if len(ends) and pending:
            chunk, ends = b"".join([*pending, chunk]), ends + pending_size
            pending, pending_size = [], 0
        done = int(ends[-1]) if len(ends) else 0
        if done < len(chunk):
            pending.append(chunk[done:])
            pending_size += len(chunk) - done
            if pending_size > limit:
                pending, pending_size, skipping = [], 0, True
        if done:
            lengths = np.empty(len(ends), dtype=np.int64)
            lengths[0] = ends[0]
            np.subtract(ends[1:], ends[:-1], out=lengths[1:])
            yield _without_long(memoryview(chunk)[:done], lengths, limit)
    if skipping:
        yield b"", np.zeros(1, dtype=np.int64)
    elif pending:  # the last line, without a newline (within the limit, or it would be skipping)
        yield b"".join(pending), np.array([pending_size], dtype=np.int64)


def _without_long(data: memoryview, lengths: np.ndarray, limit: int) -> tuple[bytes | memoryview, np.ndarray]:
    """``data``'s lines with those over ``limit`` (newline not counted) cut out and their lengths set to 0."""
    if lengths.max() <= limit + 1:
        return data, lengths
    long = lengths - 1 > limit
    ends = np.cumsum(lengths)
    data = b"".join(data[end - n:end] for end, n, skip in zip(ends.tolist(), lengths.tolist(), long) if not skip)
    return data, np.where(long, 0, lengths)


def line_blocks(fh: IO[bytes], limit: int, max_lines: int, max_bytes: int) -> Iterator[tuple[bytes, np.ndarray]]:
    """:func:`chunk_lines` regrouped into blocks that end after ``max_lines`` lines, or after the line that
    brings them to ``max_bytes``; on damage the lines before it come first, then the error."""
    datas: list[bytes | memoryview] = []
    lens: list[np.ndarray] = []
    lines = size = 0
    try:
        for data, lengths in chunk_lines(fh, limit):
            view = memoryview(data)
            while len(lengths):
                cum = np.cumsum(lengths[:max_lines - lines])
                take = min(len(cum), int(np.searchsorted(cum, max_bytes - size)) + 1)
                nbytes = int(cum[take - 1])
                datas.append(view[:nbytes])
                lens.append(lengths[:take])
                lines, size = lines + take, size + nbytes
                view, lengths = view[nbytes:], lengths[take:]
                if lines >= max_lines or size >= max_bytes:
                    yield b"".join(datas), np.concatenate(lens)
                    datas, lens, lines, size = [], [], 0, 0
    except Exception:  # damage: the lines read before it come first
        if lines:
            yield b"".join(datas), np.concatenate(lens)
        raise
    if lines:
        yield b"".join(datas), np.concatenate(lens)
