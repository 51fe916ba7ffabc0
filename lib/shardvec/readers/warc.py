"""WARC and WET files in the Common Crawl layout.

A *record* here is a WARC record that carries a document: ``response`` (an
HTTP response: HTML is kept for extraction, plain text as is), ``resource``
and ``conversion`` (WET's extracted text). ``warcinfo``, ``request`` and
``metadata`` records describe the crawl, not documents, and are not counted.
"""

from __future__ import annotations

from typing import IO, Iterator

from shardvec.readers.base import TOO_LONG, Document, Dropped, Reader, decode_text

UNSUPPORTED = "unsupported_content_type"
HTML_TYPES = ("text/html", "application/xhtml+xml")


class WarcReader(Reader):
    """Documents of WARC and WET records, with their URI, date and record id as lineage."""

    format = "warc"
    streamed = False  # FastWARC seeks in the stream it is given

    def read_records(self, fh: IO[bytes]) -> Iterator[Document | Dropped]:
        from fastwarc.warc import ArchiveIterator, WarcRecordType

        from shardvec.text.html import decode_html

        wanted = WarcRecordType.response | WarcRecordType.resource | WarcRecordType.conversion
        # Decompression is ours (Reader.open), so fastwarc reads a plain stream and a
        # damaged member raises here instead of ending the iteration quietly.
        for record in ArchiveIterator(fh, record_types=wanted, parse_http=True, stream_detect=False):
            content_type = _content_type(record)
            lineage = {"record_id": record.record_id, "url": record.headers.get("WARC-Target-URI"),
                       "date": record.headers.get("WARC-Date")}
            payload = self.bounded(record.reader)
            if payload is None:
                yield self.drop(TOO_LONG, **lineage)
            elif content_type in HTML_TYPES:
                yield self.record(decode_html(payload), "html", **lineage)
            elif content_type == "text/plain":
                yield self.record(decode_text(payload), **lineage)
            else:
                yield self.drop(UNSUPPORTED, **lineage)


def _content_type(record) -> str:  # type: ignore[no-untyped-def]
    """The payload's media type: from the HTTP header of a response, else from the WARC header."""
    header = record.http_content_type if record.is_http else record.headers.get("Content-Type", "")
    return (header or "").split(";")[0].strip().lower()
