"""Plain-text and HTML files: one document per line, or one per file."""

from __future__ import annotations

from typing import Iterator

from shardvec.readers.base import (Document, Dropped, Event, FileStatus, ReaderSettings, bounded_lines,
                                   decode_text, read_bounded, record_id)
from shardvec.readers.fs import open_input

TOO_LONG = "record_too_long"
INVALID_UTF8 = "invalid_utf8"
EMPTY = "empty"


def read_text(path: str, settings: ReaderSettings) -> Iterator[Event]:
    """Non-empty lines (``text_document = "line"``) or the whole file (``"file"``) as documents."""
    if settings.text_document == "file":
        yield from _read_whole(path, settings, "text")
        return
    records = 0
    with open_input(path, settings.storage_options) as fh:
        for raw in bounded_lines(fh, settings.max_record_bytes):
            records += 1
            doc_id = record_id(path, records)
            text = None if raw is None else decode_text(raw)
            if raw is None:
                yield Dropped(doc_id, path, TOO_LONG)
            elif text is None:
                yield Dropped(doc_id, path, INVALID_UTF8)
            elif not text.strip():
                yield Dropped(doc_id, path, EMPTY)
            else:
                yield Document(doc_id, text, path)
    yield FileStatus(path, "ok", records, "text")


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
