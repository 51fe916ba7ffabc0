"""Parquet files: one row per record, text in a configurable column."""

from __future__ import annotations

from typing import Iterator

import pyarrow as pa

from shardvec.readers.base import EMPTY, Document, Dropped, Event, FileStatus, ReaderSettings, optional_str, record_id
from shardvec.readers.fs import filesystem_for


def read_parquet(path: str, settings: ReaderSettings) -> Iterator[Event]:
    """Rows of ``settings.text_field``; a file without that string column is unreadable."""
    import pyarrow.parquet as pq

    with filesystem_for(path, settings.storage_options).open(path) as raw:
        parquet = pq.ParquetFile(raw)
        schema = parquet.schema_arrow
        names = schema.names
        if settings.text_field not in names:
            yield FileStatus(path, "unreadable", 0, "parquet",
                             f"no column {settings.text_field!r} (columns: {', '.join(names)})")
            return
        text_type = schema.field(settings.text_field).type
        if not (pa.types.is_string(text_type) or pa.types.is_large_string(text_type)):
            yield FileStatus(path, "unreadable", 0, "parquet",
                             f"column {settings.text_field!r} is {text_type}, not a string")
            return
        extra = [f for f in (settings.id_field, settings.url_field, settings.date_field) if f in names]
        records = 0
        for batch in parquet.iter_batches(columns=[settings.text_field, *extra]):
            columns = {name: batch.column(name).to_pylist() for name in batch.schema.names}
            for i, text in enumerate(columns[settings.text_field]):
                records += 1
                doc_id = record_id(path, records)
                lineage = {key: optional_str(columns[f][i]) if f in columns else None for key, f in
                           (("record_id", settings.id_field), ("url", settings.url_field),
                            ("date", settings.date_field))}
                if not isinstance(text, str) or not text.strip():
                    yield Dropped(doc_id, path, EMPTY, **lineage)
                else:
                    yield Document(doc_id, text, path, **lineage)
    yield FileStatus(path, "ok", records, "parquet")
