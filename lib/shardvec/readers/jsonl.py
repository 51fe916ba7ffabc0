"""JSON Lines: one object per line, text in a configurable field."""

from __future__ import annotations

import json
from typing import IO, Iterator

from shardvec.readers.base import TOO_LONG, Document, Dropped, Reader

MALFORMED = "malformed_json"
MISSING_TEXT = "missing_text_field"


class JsonlReader(Reader):
    """Each non-blank line is a record; ``id``/``url``/``date`` fields go to the lineage."""

    format = "jsonl"
    text_only = True

    def read_records(self, fh: IO[bytes]) -> Iterator[Document | Dropped]:
        for raw in self.lines(fh):
            if raw is None:
                yield self.drop(TOO_LONG)
                continue
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                yield self.drop(MALFORMED)
                continue
            if not isinstance(obj, dict):
                yield self.drop(MISSING_TEXT)
                continue
            text = obj.get(self.settings.text_field)
            lineage = self.lineage(obj.get)
            yield self.record(text, **lineage) if isinstance(text, str) else self.drop(MISSING_TEXT, **lineage)
