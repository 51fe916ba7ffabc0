"""Line records as read: their bytes in blocks, judged many blocks at a time.

A plain-text reader yields :class:`LineBlock` s that hold only the bytes of
their lines and each line's length; nothing is decided per file. Whether a
line is kept (UTF-8 text with something other than whitespace) is decided
by :func:`judge_blocks` over many files' blocks at once, so a corpus of
small files costs a few numpy and Arrow calls per batch instead of per file
(at 12 KB a file, judging each file on its own took about a third of the
read step). The result is the records that judging each line on its own
with :func:`~shardvec.readers.base.decode_text` and ``str.strip`` gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pyarrow as pa

from shardvec.readers.base import EMPTY, INVALID_UTF8, TOO_LONG, Document, Dropped, decode_text, record_id

# What each byte says of a line (a bytes.translate table): 1, it has text (ASCII, not what str.isspace()
# calls whitespace); _OTHER, a non-ASCII byte (str.strip decides); 0, ASCII whitespace.
_OTHER = 2
_BYTE_KINDS = bytes(_OTHER if b >= 0x80 else 0 if b in (9, 10, 11, 12, 13, 28, 29, 30, 31, 32) else 1
                    for b in range(256))
# The bytes that continue a UTF-8 character (from, to). Blocks that are UTF-8 joined are UTF-8 each unless
# one begins with such a byte: a file's last line (no newline after it) may end inside a character.
_CONTINUATION = (0x80, 0xC0)
# A line's drop reasons by index.
_REASONS = pa.array([TOO_LONG, EMPTY], pa.string())


@dataclass(frozen=True)
class LineBlock:
    """Consecutive line records of one file, numbered from ``first``: the lines' bytes, newlines included,
    and each line's length (0: a line longer than the size limit, whose bytes are left out)."""

    source: str
    first: int
    data: bytes
    lengths: np.ndarray

    def __len__(self) -> int:
        return len(self.lengths)

    def events(self) -> Iterator[Document | Dropped]:
        """The block's records one event each, as a reader of single records yields them."""
        texts, reasons = judge_lines(self.data, self.lengths)
        for i, (text, reason) in enumerate(zip(texts.to_pylist(), reasons.to_pylist())):
            doc_id = record_id(self.source, self.first + i)
            yield Dropped(doc_id, self.source, reason) if reason else Document(doc_id, text, self.source)


def judge_blocks(blocks: list[LineBlock]) -> tuple[pa.StringArray, pa.StringArray]:
    """(text, drop reason) of every line of ``blocks`` in order: text null where dropped, reason null where kept.

    The blocks are judged as one; only if some line is not UTF-8 is each
    block judged on its own, so that one bad file costs its own lines the
    slow path, not the batch's.
    """
    data = b"".join(block.data for block in blocks)
    if _utf8(data) and not any(_CONTINUATION[0] <= block.data[0] < _CONTINUATION[1] for block in blocks if block.data):
        return _judge_utf8(data, np.concatenate([block.lengths for block in blocks]))
    judged = [judge_lines(block.data, block.lengths) for block in blocks]
    return pa.concat_arrays([t for t, _ in judged]), pa.concat_arrays([r for _, r in judged])


def judge_lines(data: bytes, lengths: np.ndarray) -> tuple[pa.StringArray, pa.StringArray]:
    """:func:`judge_blocks` of one block's bytes and line lengths."""
    if _utf8(data):
        return _judge_utf8(data, lengths)
    ends = np.cumsum(lengths).tolist()
    return _decoded_one_by_one([data[end - n:end] if n else None for end, n in zip(ends, lengths.tolist())])


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _judge_utf8(data: bytes, lengths: np.ndarray) -> tuple[pa.StringArray, pa.StringArray]:
    """Lines known to be UTF-8: the empty ones and the overlong ones dropped, the rest kept as they are."""
    n = len(lengths)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    reason = np.full(n, -1, dtype=np.int8)  # an index into _REASONS, -1 for none
    reason[lengths == 0] = 0  # a line read is never empty; an overlong one has no bytes here
    # Empty: nothing but whitespace. A line with an ASCII byte that is not whitespace has text; one with
    # only whitespace bytes is empty; the rest (whitespace and non-ASCII bytes) is decided by str.strip.
    read = np.flatnonzero(lengths > 0)
    if len(read):
        kinds = np.bitwise_or.reduceat(np.frombuffer(data.translate(_BYTE_KINDS), dtype=np.uint8), offsets[:-1][read])
        reason[read[kinds == 0]] = 1
        for i in read[kinds == _OTHER]:
            if not data[offsets[i]:offsets[i + 1]].decode("utf-8").strip():
                reason[i] = 1
    kept = reason < 0
    if kept.all():
        texts = pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
        return texts, pa.nulls(n, pa.string())
    texts = pa.Array.from_buffers(pa.string(), n, [_bitmap(kept), pa.py_buffer(offsets), pa.py_buffer(data)])
    return texts, _REASONS.take(pa.Array.from_buffers(pa.int8(), n, [_bitmap(~kept), pa.py_buffer(reason)]))


def _bitmap(valid: np.ndarray) -> pa.Buffer:
    """An Arrow validity bitmap."""
    return pa.py_buffer(np.packbits(valid, bitorder="little"))


def _decoded_one_by_one(raws: list[bytes | None]) -> tuple[pa.StringArray, pa.StringArray]:
    """Lines with invalid UTF-8 somewhere: each through :func:`decode_text` (stray bytes become spaces)."""
    texts: list[str | None] = []
    reasons: list[str | None] = []
    for raw in raws:
        text = None if raw is None else decode_text(raw)
        reason = TOO_LONG if raw is None else INVALID_UTF8 if text is None else None if text.strip() else EMPTY
        texts.append(None if reason else text)
        reasons.append(reason)
    return pa.array(texts, pa.string()), pa.array(reasons, pa.string())
