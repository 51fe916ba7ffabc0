"""WARC and WET files in the Common Crawl layout.

A *record* here is a WARC record that carries a document: ``response`` (an
HTTP response: HTML is kept for extraction, plain text as is), ``resource``
and ``conversion`` (WET's extracted text). ``warcinfo``, ``request`` and
``metadata`` records describe the crawl, not documents, and are not counted.
"""

from __future__ import annotations

from typing import Iterator

from shardvec.readers.base import (EMPTY, INVALID_UTF8, TOO_LONG, Document, Dropped, Event, FileStatus,
                                   ReaderSettings, decode_text, read_bounded, record_id)
from shardvec.readers.fs import open_input

UNSUPPORTED = "unsupported_content_type"
HTML_TYPES = ("text/html", "application/xhtml+xml")


def read_warc(path: str, settings: ReaderSettings) -> Iterator[Event]:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    from shardvec.text.html import decode_html

    wanted = WarcRecordType.response | WarcRecordType.resource | WarcRecordType.conversion
    records = 0
    with open_input(path, settings.storage_options) as fh:
        # Decompression is ours (open_input), so fastwarc reads a plain stream and a
        # damaged member raises here instead of ending the iteration quietly.
        for record in ArchiveIterator(fh, record_types=wanted, parse_http=True, stream_detect=False):
            records += 1
            doc_id = record_id(path, records)
            content_type = _content_type(record)
            lineage = {"record_id": record.record_id, "url": record.headers.get("WARC-Target-URI"),
                       "date": record.headers.get("WARC-Date")}
            payload = read_bounded(record.reader, settings.max_record_bytes)
            if payload is None:
                yield Dropped(doc_id, path, TOO_LONG, **lineage)
                continue
            if content_type in HTML_TYPES:
                kind, text = "html", decode_html(payload)
            elif content_type == "text/plain":
                kind, text = "text", decode_text(payload)
            else:
                yield Dropped(doc_id, path, UNSUPPORTED, **lineage)
                continue
            if text is None:
                yield Dropped(doc_id, path, INVALID_UTF8, **lineage)
            elif not text.strip():
                yield Dropped(doc_id, path, EMPTY, **lineage)
            else:
                yield Document(doc_id, text, path, content_type=kind, **lineage)
    yield FileStatus(path, "ok", records, "warc")


def _content_type(record) -> str:  # type: ignore[no-untyped-def]
    """The payload's media type: from the HTTP header of a response, else from the WARC header."""
    header = record.http_content_type if record.is_http else record.headers.get("Content-Type", "")
    return (header or "").split(";")[0].strip().lower()
