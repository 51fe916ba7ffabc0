"""One row schema for every step of prepare, and the Arrow-batch steps over it.

A row is a file status (``kind = file``), a document (``doc``), a dropped
record (``drop``, with its reason) or a sentence (``sent``, with tokens).
Because every step maps batches of this one schema to batches of it, steps
compose (:func:`chain`) into a single ``mapInArrow`` pass where no shuffle
separates them, and the JVM sees the text only once. Each step only loops
over a batch and calls shardvec's pure core; no Spark logic lives here.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

import pyarrow as pa

from shardvec.readers import Document, Dropped, FileStatus, ReaderSettings, read_file
from shardvec.text.clean import CleanSettings, clean_document
from shardvec.text.dedup import exact_key
from shardvec.text.phrases import join_phrases
from shardvec.text.tokenize import TokenizerSettings, sentences_from_text

RECORD_SCHEMA = pa.schema([
    ("kind", pa.string()), ("source", pa.string()), ("doc_id", pa.string()), ("text", pa.string()),
    ("content_type", pa.string()), ("record_id", pa.string()), ("url", pa.string()), ("date", pa.string()),
    ("reason", pa.string()), ("status", pa.string()), ("records", pa.int64()), ("format", pa.string()),
    ("error", pa.string()), ("exact_key", pa.int64()), ("sent_idx", pa.int32()),
    ("tokens", pa.list_(pa.string())),
])
_SPARK_TYPES = {pa.string(): "string", pa.int64(): "long", pa.int32(): "int", pa.list_(pa.string()): "array<string>"}
RECORD_DDL = ", ".join(f"{f.name} {_SPARK_TYPES[f.type]}" for f in RECORD_SCHEMA)
# A document with no sentence of at least min_sentence_tokens tokens.
NO_SENTENCES = "no_sentences"
# Rows per output batch of the reader, which starts from one row per file.
_READ_BATCH = 8192

Step = Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]


def chain(*steps: Step) -> Step:
    """Run ``steps`` one after the other inside one Python worker."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for step in steps:
            batches = step(batches)
        return batches

    return run


def to_batch(rows: list[dict[str, Any]]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist(rows, schema=RECORD_SCHEMA)


def _event_row(event: Document | Dropped | FileStatus) -> dict[str, Any]:
    if isinstance(event, Document):
        return {"kind": "doc", "source": event.source, "doc_id": event.id, "text": event.text,
                "content_type": event.content_type, "record_id": event.record_id, "url": event.url,
                "date": event.date}
    if isinstance(event, Dropped):
        return {"kind": "drop", "source": event.source, "doc_id": event.id, "reason": event.reason,
                "record_id": event.record_id, "url": event.url, "date": event.date}
    return {"kind": "file", "source": event.source, "status": event.status, "records": event.records,
            "format": event.format, "error": event.error}


def read_step(settings: ReaderSettings) -> Step:
    """Batches of ``path`` rows -> the events of those files."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        rows: list[dict[str, Any]] = []
        for batch in batches:
            for path in batch.column("path").to_pylist():
                for event in read_file(path, settings):
                    rows.append(_event_row(event))
                    if len(rows) >= _READ_BATCH:
                        yield to_batch(rows)
                        rows = []
        if rows:
            yield to_batch(rows)

    return run


def _map_docs(batches: Iterable[pa.RecordBatch],
              on_doc: Callable[[dict[str, Any]], Iterable[dict[str, Any]]]) -> Iterator[pa.RecordBatch]:
    """Apply ``on_doc`` to each document row of each batch; other rows pass unchanged."""
    for batch in batches:
        out: list[dict[str, Any]] = []
        for row in batch.to_pylist():
            if row["kind"] == "doc":
                out.extend(on_doc(row))
            else:
                out.append(row)
        yield to_batch(out)


def clean_step(settings: CleanSettings, with_exact_key: bool) -> Step:
    """Documents -> clean text, or a drop with the reason (HTML, normalization, quality, language, PII)."""

    def on_doc(row: dict[str, Any]) -> Iterable[dict[str, Any]]:
        text, reason = clean_document(row["text"], row["content_type"], settings)
        if reason:
            row.update(kind="drop", reason=reason, text=None)
        else:
            row.update(text=text, content_type="text", exact_key=exact_key(text) if with_exact_key else None)
        return (row,)

    return lambda batches: _map_docs(batches, on_doc)


def tokenize_step(settings: TokenizerSettings) -> Step:
    """Documents -> one ``doc`` row (the kept record) plus one ``sent`` row per sentence.

    A document without a usable sentence becomes a ``drop`` row (``no_sentences``).
    """

    def on_doc(row: dict[str, Any]) -> Iterable[dict[str, Any]]:
        text = row.pop("text")
        row["exact_key"] = None
        sentences = [{"kind": "sent", "source": row["source"], "doc_id": row["doc_id"], "sent_idx": i,
                      "tokens": tokens} for i, tokens in enumerate(sentences_from_text(text, settings))]
        if not sentences:
            row.update(kind="drop", reason=NO_SENTENCES)
        return [row, *sentences]

    return lambda batches: _map_docs(batches, on_doc)


def phrase_step(phrases: Any) -> Step:
    """Sentences -> the same sentences with phrase bigrams joined (``phrases``: a Spark broadcast)."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        table = phrases.value
        for batch in batches:
            kinds = batch.column("kind").to_pylist()
            tokens = batch.column("tokens").to_pylist()
            joined = [join_phrases(t, table) if k == "sent" else t for k, t in zip(kinds, tokens)]
            index = RECORD_SCHEMA.get_field_index("tokens")
            yield batch.set_column(index, RECORD_SCHEMA.field(index), pa.array(joined, pa.list_(pa.string())))

    return run
