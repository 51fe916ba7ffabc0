"""Parquet files: one row per record, text in a configurable column."""

from __future__ import annotations

from typing import IO, ContextManager, Iterator

import pyarrow as pa

from shardvec.readers.base import Document, Dropped, Reader, Unreadable
from shardvec.readers.fs import filesystem_for


class ParquetReader(Reader):
    """Rows of ``settings.text_field``; a file without that string column is unreadable."""

    format = "parquet"
    streamed = False

    def open(self) -> ContextManager[IO[bytes]]:
        """The raw bytes: Parquet compresses inside the file, by column chunk."""
        return filesystem_for(self.path, self.settings.storage_options).open(self.path)

    def read_records(self, fh: IO[bytes]) -> Iterator[Document | Dropped]:
        import pyarrow.parquet as pq

        settings = self.settings
        text_field = settings.text_field
        parquet = pq.ParquetFile(fh)
        schema = parquet.schema_arrow
        names = schema.names
        if text_field not in names:
            raise Unreadable(f"no column {text_field!r} (columns: {', '.join(names)})")
        text_type = schema.field(text_field).type
        if not (pa.types.is_string(text_type) or pa.types.is_large_string(text_type)):
            raise Unreadable(f"column {text_field!r} is {text_type}, not a string")
        extra = [f for f in (settings.id_field, settings.url_field, settings.date_field) if f in names]
        for batch in parquet.iter_batches(columns=[text_field, *extra]):
            for row in batch.to_pylist():
                yield self.record(row[text_field] or "", **self.lineage(row.get))  # a null cell is an empty record
