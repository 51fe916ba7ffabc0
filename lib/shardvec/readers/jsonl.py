"""JSON Lines: one object per line, text in a configurable field."""

from __future__ import annotations

import json
from typing import Iterator

from shardvec.readers.base import (EMPTY, TOO_LONG, Document, Dropped, Event, FileStatus, ReaderSettings,
                                   bounded_lines, optional_str, record_id)
from shardvec.readers.fs import open_input

MALFORMED = "malformed_json"
MISSING_TEXT = "missing_text_field"


def read_jsonl(path: str, settings: ReaderSettings) -> Iterator[Event]:
    """Each non-blank line is a record; ``id``/``url``/``date`` fields go to the lineage."""
    records = 0
    with open_input(path, settings.storage_options) as fh:
        for raw in bounded_lines(fh, settings.max_record_bytes):
            if raw is not None and not raw.strip():
                continue
            records += 1
            doc_id = record_id(path, records)
            if raw is None:
                yield Dropped(doc_id, path, TOO_LONG)
                continue
            try:
                obj = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                yield Dropped(doc_id, path, MALFORMED)
                continue
            if not isinstance(obj, dict):
                yield Dropped(doc_id, path, MISSING_TEXT)
                continue
            text = obj.get(settings.text_field)
            lineage = {"record_id": optional_str(obj.get(settings.id_field)),
                       "url": optional_str(obj.get(settings.url_field)),
                       "date": optional_str(obj.get(settings.date_field))}
            if not isinstance(text, str):
                yield Dropped(doc_id, path, MISSING_TEXT, **lineage)
            elif not text.strip():
                yield Dropped(doc_id, path, EMPTY, **lineage)
            else:
                yield Document(doc_id, text, path, **lineage)
    yield FileStatus(path, "ok", records, "jsonl")
