"""One row schema for every step of prepare, and the Arrow-batch steps over it.

A row is a file status (``kind = file``), a document (``doc``), a dropped
record (``drop``, with its reason), a sentence (``sent``, with tokens), or,
once :func:`spill_step` has written a task's sentences to a part
file, that file (``part``: path in ``source``, sentences in ``records``,
tokens in ``count``, Spark partition in ``partition``; the task's word
counts are in the file beside it, :func:`word_counts_path`), or a task's
lineage file (``lineage``, written by :func:`lineage_step`; path in
``source``, records in ``count``). A ``doc`` or ``drop`` row stands for
``count`` records: one, until :func:`tally_step` sums them per file, fate
and reason. Its file is ``source``, or, where nothing needs each line's
path and id (:func:`read_step`), the number in ``file`` that a ``file_index``
row of the same task gives the path of.
Because every step maps batches of this one schema to batches of it, steps
compose (:func:`chain`) into a single ``mapInArrow`` pass where no shuffle
separates them, and the JVM sees the text only once. Each step only loops
over a batch and calls shardvec's pure core; rows it does not touch pass
through as Arrow data, never as Python objects.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from shardvec.readers import Document, Dropped, FileStatus, LineBlock, ReaderSettings, read_file_blocks
from shardvec.readers.base import record_ids
from shardvec.readers.lines import judge_blocks
from shardvec.spark.shards import PartWriter
from shardvec.spark.worker import start_task
from shardvec.text.batch_tokenize import tokenize_texts
from shardvec.text.clean import CleanSettings, clean_batch
from shardvec.text.dedup import exact_key
from shardvec.text.phrases import join_phrases
from shardvec.text.tokenize import TokenizerSettings

RECORD_SCHEMA = pa.schema([
    ("kind", pa.string()), ("source", pa.string()), ("doc_id", pa.string()), ("text", pa.string()),
    ("content_type", pa.string()), ("record_id", pa.string()), ("url", pa.string()), ("date", pa.string()),
    ("reason", pa.string()), ("status", pa.string()), ("records", pa.int64()), ("format", pa.string()),
    ("error", pa.string()), ("exact_key", pa.int64()),
    ("tokens", pa.list_(pa.string())), ("count", pa.int64()), ("partition", pa.int32()), ("file", pa.int32()),
])
_SPARK_TYPES = {pa.string(): "string", pa.int64(): "long", pa.int32(): "int", pa.list_(pa.string()): "array<string>"}
RECORD_DDL = ", ".join(f"{f.name} {_SPARK_TYPES[f.type]}" for f in RECORD_SCHEMA)
# A document with no sentence of at least min_sentence_tokens tokens.
NO_SENTENCES = "no_sentences"
# The reader starts from one row per file; it emits a batch every this many
# records or text bytes, whichever comes first (whole-file documents are large).
_READ_BATCH = 16384
_READ_BATCH_BYTES = 64 << 20

Step = Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]
# The kind of the row a timed step adds: its name in ``reason``, its CPU microseconds in ``count``.
TIMING = "timing"
LINEAGE = "lineage"
# The kind of the row that names a file (``source``) by its number in this task (``file``).
FILE_INDEX = "file_index"
# What the lineage keeps of each record: its id and file, the reader's own id, url and date, the drop reason.
LINEAGE_SCHEMA = pa.schema([RECORD_SCHEMA.field(name) for name in ("doc_id", "source", "record_id", "url", "date",
                                                                   "reason")])
_FATES = ("doc", "drop")


def chain(*steps: Step) -> Step:
    """Run ``steps`` one after the other inside one Python worker: what each of prepare's ``mapInArrow`` tasks
    runs (:func:`~shardvec.spark.worker.start_task` first)."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        start_task()
        for step in steps:
            batches = step(batches)
        return batches

    return run


def timed(name: str, step: Step) -> Step:
    """``step``, then one ``timing`` row with the CPU time it took in this task.

    Why: the steps run chained in one Python worker, each pulling batches from
    the one before, so the time inside a step's generator includes its
    upstream's; that is measured and taken off. Summed over the tasks, these
    rows give the manifest each step's megabytes per second per core, on
    whatever cluster the job ran.
    """

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        upstream = _Stopwatch(batches)
        outputs = step(upstream)
        spent = 0.0
        while True:
            started = time.process_time()
            batch = next(outputs, None)
            spent += time.process_time() - started
            if batch is None:
                break
            yield batch
        yield make_batch(1, kind=TIMING, reason=name, count=round((spent - upstream.seconds) * 1e6))

    return run


class _Stopwatch:
    """An iterator over batches that counts the CPU seconds spent making them."""

    def __init__(self, batches: Iterator[pa.RecordBatch]) -> None:
        self._batches = batches
        self.seconds = 0.0

    def __iter__(self) -> "_Stopwatch":
        return self

    def __next__(self) -> pa.RecordBatch:
        started = time.process_time()
        try:
            return next(self._batches)
        finally:
            self.seconds += time.process_time() - started


def make_batch(n: int, **columns: Any) -> pa.RecordBatch:
    """A record batch of ``n`` rows: the given columns (lists, arrays or one scalar for all rows), nulls elsewhere."""
    arrays = []
    for field in RECORD_SCHEMA:
        value = columns.get(field.name)
        if value is None:
            arrays.append(_nulls(n, field.type))
        elif isinstance(value, (str, int)):
            arrays.append(pa.repeat(pa.scalar(value, field.type), n))
        else:
            arrays.append(value if isinstance(value, pa.Array) else pa.array(value, field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=RECORD_SCHEMA)


_NULLS: dict[pa.DataType, pa.Array] = {}


def _nulls(n: int, type_: pa.DataType) -> pa.Array:
    """``n`` nulls of ``type_``: a slice of one array kept per type, as a batch has a dozen null columns."""
    nulls = _NULLS.get(type_)
    if nulls is None or len(nulls) < n:
        nulls = _NULLS[type_] = pa.nulls(max(n, 2 * len(nulls) if nulls is not None else n), type_)
    return nulls.slice(0, n)


def replace(batch: pa.RecordBatch, **columns: Any) -> pa.RecordBatch:
    """``batch`` with some columns replaced (lists or arrays)."""
    for name, value in columns.items():
        i = RECORD_SCHEMA.get_field_index(name)
        field = RECORD_SCHEMA.field(i)
        batch = batch.set_column(i, field, value if isinstance(value, pa.Array) else pa.array(value, field.type))
    return batch


def conform(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` in exactly the record schema (Spark may hand over extra columns or large string types)."""
    if batch.schema.equals(RECORD_SCHEMA):
        return batch
    return pa.RecordBatch.from_arrays([batch.column(name) for name in RECORD_SCHEMA.names],
                                      names=RECORD_SCHEMA.names).cast(RECORD_SCHEMA)


def split_kind(batch: pa.RecordBatch, *kinds: str) -> tuple[pa.RecordBatch, pa.RecordBatch]:
    """(rows of one of ``kinds``, all other rows) of a batch, in the record schema."""
    batch = conform(batch)
    column = batch.column("kind")
    # One kind (most calls): a comparison to a scalar costs a third of a set lookup, and every step
    # splits every batch.
    is_kind = pc.equal(column, kinds[0]) if len(kinds) == 1 else pc.is_in(column, pa.array(kinds, pa.string()))
    # Most batches hold one kind of row (the steps emit them so): no copy of their text then.
    matching = is_kind.true_count
    if matching in (0, batch.num_rows):
        empty = batch.slice(0, 0)
        return (batch, empty) if matching else (empty, batch)
    is_kind = pc.fill_null(is_kind, False)  # a row without a kind is one of the others
    return batch.filter(is_kind), batch.filter(pc.invert(is_kind))


def _event_batches(events: list[Document | Dropped | FileStatus]) -> Iterator[pa.RecordBatch]:
    docs = [e for e in events if isinstance(e, Document)]
    drops = [e for e in events if isinstance(e, Dropped)]
    files = [e for e in events if isinstance(e, FileStatus)]
    lineage = ("record_id", "url", "date")
    if docs:
        yield make_batch(len(docs), kind="doc", source=[d.source for d in docs], doc_id=[d.id for d in docs],
                         text=[d.text for d in docs], content_type=[d.content_type for d in docs], count=1,
                         **{f: [getattr(d, f) for d in docs] for f in lineage})
    if drops:
        yield make_batch(len(drops), kind="drop", source=[d.source for d in drops], doc_id=[d.id for d in drops],
                         reason=[d.reason for d in drops], count=1, **{f: [getattr(d, f) for d in drops] for f in lineage})
    if files:
        yield make_batch(len(files), kind="file", **{f: [getattr(s, f) for s in files]
                                                      for f in ("source", "status", "records", "format", "error")})


class _ReadBuffer:
    """What the readers yielded, in order, until a batch's worth; then Arrow batches of it all.

    Events (one record each) become rows one by one; the readers'
    :class:`LineBlock` s hold their lines' bytes, and a run of them is judged
    and becomes rows in a few numpy and Arrow calls, whatever the number of
    files.
    (File statuses hold no document, so their order does not matter: they
    wait aside and do not break a run.)
    """

    def __init__(self, numbered: dict[str, int] | None) -> None:
        self.runs: list[list[Document | Dropped] | list[LineBlock]] = []
        self.files: list[FileStatus] = []
        self.rows = self.size = 0
        self.numbered = numbered  # None: lines carry their path and id; else each file's number so far

    def add(self, event: Document | Dropped | FileStatus | LineBlock) -> None:
        if isinstance(event, FileStatus):
            self.files.append(event)
            return
        blocks = isinstance(event, LineBlock)
        if not self.runs or isinstance(self.runs[-1][0], LineBlock) != blocks:
            self.runs.append([])
        self.runs[-1].append(event)  # type: ignore[arg-type]
        self.rows += len(event) if isinstance(event, LineBlock) else 1
        self.size += (len(event.data) if isinstance(event, LineBlock)
                      else len(event.text) if isinstance(event, Document) else 0)

    def full(self) -> bool:
        return self.rows >= _READ_BATCH or self.size >= _READ_BATCH_BYTES

    def flush(self) -> Iterator[pa.RecordBatch]:
        for run in self.runs:
            if isinstance(run[0], LineBlock):
                yield from (_block_batches(run) if self.numbered is None  # type: ignore[arg-type]
                            else _numbered_block_batches(run, self.numbered))  # type: ignore[arg-type]
            else:
                yield from _event_batches(run)  # type: ignore[arg-type]
        yield from _event_batches(self.files)  # type: ignore[arg-type]
        self.runs, self.files, self.rows, self.size = [], [], 0, 0


def _block_batches(blocks: list[LineBlock]) -> Iterator[pa.RecordBatch]:
    """The blocks' lines as rows that carry their file's path and their record id."""
    lengths = [len(b) for b in blocks]
    sources = pa.array([b.source for b in blocks], pa.string()).take(np.repeat(np.arange(len(blocks)), lengths))
    ids = record_ids(sources, np.concatenate([np.arange(b.first, b.first + len(b)) for b in blocks]))
    yield from _judged_batches(blocks, source=sources, doc_id=ids)


def _numbered_block_batches(blocks: list[LineBlock], numbered: dict[str, int]) -> Iterator[pa.RecordBatch]:
    """The blocks' lines as rows that carry only their file's number (a ``file_index`` row first for each
    file not numbered before): an int per line instead of a path and an id, copied by every filter after."""
    new = list(dict.fromkeys(b.source for b in blocks if b.source not in numbered))
    if new:
        first = len(numbered)
        numbered.update((source, first + i) for i, source in enumerate(new))
        yield make_batch(len(new), kind=FILE_INDEX, source=new, file=[numbered[source] for source in new])
    files = np.repeat(np.array([numbered[b.source] for b in blocks], dtype=np.int32), [len(b) for b in blocks])
    yield from _judged_batches(blocks, file=pa.array(files))


def _judged_batches(blocks: list[LineBlock], **where: pa.Array) -> Iterator[pa.RecordBatch]:
    """A ``doc`` row per kept line and a ``drop`` row per dropped one, with ``where``'s columns (a value
    per line) of each."""
    texts, reasons = judge_blocks(blocks)
    kept = reasons.is_null()
    n_kept = pc.sum(kept).as_py() or 0
    if n_kept:
        yield make_batch(n_kept, kind="doc", text=texts.filter(kept), content_type="text", count=1,
                         **{name: column.filter(kept) for name, column in where.items()})
    if n_kept < len(kept):
        dropped = pc.invert(kept)
        yield make_batch(len(kept) - n_kept, kind="drop", reason=reasons.filter(dropped), count=1,
                         **{name: column.filter(dropped) for name, column in where.items()})


def group_paths_step(groups: Any) -> Step:
    """Batches of group numbers (``id``) -> a batch of ``path`` rows per group: the files of
    ``groups.value[id]`` (a broadcast list of lists of paths), in order."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for group in batch.column("id").to_pylist():
                yield pa.record_batch([pa.array(groups.value[group], pa.string())], names=["path"])

    return run


def read_step(settings: ReaderSettings, line_ids: bool = True) -> Step:
    """Batches of ``path`` rows -> the events of those files.

    ``line_ids = False``: the lines of plain-text files carry only their
    file's number, not its path and their record id. Why: for a corpus of
    short lines, the path repeated per line, the ids and their copies in
    every filter cost 6 % of reading to tallying (0.34 of 5.3 CPU seconds on
    the prepare bench's 100 MB, ``bench/prepare_rows.py``), and only the lineage, dedup and the spread
    of skewed inputs read them; the accounting needs just the file, which
    :func:`tally_step` resolves. So it is only for a pass in which
    :func:`tally_step` runs in the same chain.
    """

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        buffer = _ReadBuffer(None if line_ids else {})
        for batch in batches:
            for path in batch.column("path").to_pylist():
                for event in read_file_blocks(path, settings):
                    buffer.add(event)
                    if buffer.full():
                        yield from buffer.flush()
        yield from buffer.flush()

    return run


def clean_step(settings: CleanSettings, with_exact_key: bool) -> Step:
    """Documents -> clean text, or a drop with the reason (HTML, normalization, language, quality, PII)."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            docs, others = split_kind(batch, "doc")
            if docs.num_rows:
                texts, reasons = clean_batch(docs.column("text"), docs.column("content_type"), settings)
                keys = ({"exact_key": [exact_key(t) if t is not None else None for t in texts.to_pylist()]}
                        if with_exact_key else {})
                kind = (docs.column("kind") if reasons.null_count == docs.num_rows  # all kept: no new column
                        else pc.if_else(reasons.is_null(), "doc", "drop"))
                yield replace(docs, text=texts, reason=reasons, kind=kind,
                              content_type=pa.repeat(pa.scalar("text"), docs.num_rows), **keys)
            if others.num_rows:
                yield others

    return run


def tokenize_step(settings: TokenizerSettings) -> Step:
    """Documents -> one ``doc`` row (the kept record, text dropped) plus one ``sent`` row per sentence.

    A document without a usable sentence becomes a ``drop`` row (``no_sentences``). The whole
    batch is tokenized at once (:func:`~shardvec.text.batch_tokenize.tokenize_texts`), and its
    sentences go straight into an Arrow list column: no Python object per token.
    """

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            docs, others = split_kind(batch, "doc")
            if others.num_rows:
                yield others
            if not docs.num_rows:
                continue
            tokens = tokenize_texts(docs.column("text"), settings)
            has_sentence = np.zeros(docs.num_rows, dtype=bool)
            has_sentence[tokens.doc] = True
            kept = pa.array(has_sentence)
            yield replace(docs, kind=pc.if_else(kept, "doc", "drop"), text=pa.nulls(docs.num_rows, pa.string()),
                          exact_key=pa.nulls(docs.num_rows, pa.int64()),
                          reason=pc.if_else(kept, pa.scalar(None, pa.string()), NO_SENTENCES))
            if len(tokens.doc):
                yield make_batch(len(tokens.doc), kind="sent", tokens=tokens.sentences)

    return run


def phrase_step(phrases: Any) -> Step:
    """Sentences -> the same sentences with phrase bigrams joined (``phrases``: a Spark broadcast)."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        table = phrases.value
        for batch in batches:
            sentences, others = split_kind(batch, "sent")
            if others.num_rows:
                yield others
            if sentences.num_rows:
                joined = [join_phrases(tokens, table) for tokens in sentences.column("tokens").to_pylist()]
                yield replace(sentences, tokens=joined)

    return run


# Tokens counted at a time when spilling. A count per batch gave a row to every distinct word of every
# batch, and summing those rows hashed the common words once more per batch; this bounds the table.
_COUNT_TOKENS = 1 << 22


def spill_step(directory: str) -> Step:
    """Sentences -> this task's part file in ``directory``, one ``part`` row and its ``word`` counts.

    Why: the tokens are the bulk of the data, and every step after
    tokenizing only needs them in order and counted. Writing them here, in
    the Python worker that made them, keeps them out of JVM rows, the cache
    and any shuffle; the vocabulary is summed from the small per-task counts
    and the shards are cut from the part files by token range
    (:mod:`shardvec.spark.shards`). The file name carries the stage and
    attempt, so a retried task never writes over a file another attempt
    reported.
    """

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        partition, path = _task_file(directory, "part", ".arrow")
        writer, counts, pending = None, [], []
        for batch in batches:
            sentences, others = split_kind(batch, "sent")
            if others.num_rows:
                yield others
            if not sentences.num_rows:
                continue
            column = sentences.column("tokens")
            writer = writer or PartWriter(path)
            writer.write(column)
            pending.append(column.flatten())
            if sum(map(len, pending)) >= _COUNT_TOKENS:
                counts.append(pc.value_counts(pa.chunked_array(pending)))
                pending = []
        if writer is None:
            return
        writer.close()
        if pending:
            counts.append(pc.value_counts(pa.chunked_array(pending)))
        words = pa.Table.from_arrays([pa.concat_arrays([c.field("values") for c in counts]),
                                      pa.concat_arrays([c.field("counts") for c in counts])], ["word", "count"])
        if len(counts) > 1:
            summed = words.group_by("word", use_threads=False).aggregate([("count", "sum")])
            words = pa.table({"word": summed["word"], "count": summed["count_sum"]})
        pq.write_table(words, word_counts_path(path), compression="none", write_statistics=False)
        yield make_batch(1, kind="part", source=path, records=writer.sentences, count=writer.tokens,
                         partition=partition)

    return run


def _task_file(directory: str, name: str, suffix: str) -> tuple[int, str]:
    """(this Spark task's partition, a path for its ``name`` file in ``directory``).

    The name carries the stage and attempt, so a retried task never writes
    over a file another attempt reported: the driver keeps only the files
    named in the rows it received.
    """
    from pyspark import TaskContext

    task = TaskContext.get()
    partition = task.partitionId()
    return partition, os.path.join(directory, f"{name}-{partition:05d}-{task.stageId()}-{task.attemptNumber()}{suffix}")


def lineage_step(directory: str) -> Step:
    """Every record's fate -> this task's lineage file in ``directory`` and one ``lineage`` row; all rows pass on.

    Why: the lineage holds a row per input record (millions for a corpus of
    short lines). Written here, where the records are, none of those rows
    has to become a JVM row, be cached and be sorted: the records can be
    summed by :func:`tally_step` as when there is no lineage, and the
    driver only renames the files. Rows are in the order the task met them.
    """

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        partition, path = _task_file(directory, "lineage", ".parquet")
        writer, records = None, 0
        for batch in batches:
            batch = conform(batch)
            fates, _ = split_kind(batch, *_FATES)
            if fates.num_rows:
                writer = writer or pq.ParquetWriter(path, LINEAGE_SCHEMA)
                writer.write_batch(fates.select(LINEAGE_SCHEMA.names))
                records += fates.num_rows
            yield batch
        if writer is not None:
            writer.close()
            yield make_batch(1, kind=LINEAGE, source=path, count=records, partition=partition)

    return run


def word_counts_path(part: str) -> str:
    """The file of (word, count) rows written beside a part file."""
    return part.removesuffix(".arrow") + ".words.parquet"


# Rows summed at a time by the tally: a group-by's set-up costs more than a batch's own rows.
_TALLY_ROWS = 1 << 18
# Batches of fewer rows (file statuses, timings, part files: one batch per read batch or task) are handed to
# the JVM together by the tally: each batch the JVM receives costs both sides a round of their own.
_SMALL_BATCH = 4096


def tally_step() -> Step:
    """``doc`` and ``drop`` rows -> one row per (kind, source, reason) with the sum of their ``count``.

    Why: a corpus has millions of records but few files and reasons; once
    nothing needs the records one by one (the lineage, if any, is written
    before this step), sending only these sums keeps the JVM's side of the
    job small. Rows that name their file by number (:func:`read_step`) are
    summed by number and given the path of their task's ``file_index`` row;
    those rows end here.
    """
    keys = ["kind", "source", "file", "reason"]

    def summed(fates: list[pa.RecordBatch]) -> pa.Table:
        # A key null throughout (the path where rows carry their file's number, or the number where they carry
        # the path) costs the group-by as much as a real one (40 % of it): grouped without, then put back.
        table = pa.Table.from_batches(fates)
        used = [key for key in keys if table[key].null_count < table.num_rows]
        grouped = table.group_by(used, use_threads=False).aggregate([("count", "sum")])
        return pa.table({**{key: grouped[key] if key in used else pa.nulls(grouped.num_rows, table[key].type)
                            for key in keys}, "count_sum": grouped["count_sum"]})

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        sums, pending, paths = [], [], {}  # paths: file number -> path
        held: list[pa.RecordBatch] = []  # small batches passing on to the JVM, handed on together, in order
        for batch in batches:
            index, batch = split_kind(batch, FILE_INDEX)
            paths.update(zip(index.column("file").to_pylist(), index.column("source").to_pylist()))
            fates, others = split_kind(batch, *_FATES)
            if others.num_rows:
                big = others.num_rows >= _SMALL_BATCH
                if not big:
                    held.append(others)
                if held and (big or sum(len(b) for b in held) >= _TALLY_ROWS):
                    yield pa.concat_batches(held)
                    held = []
                if big:
                    yield others
            if fates.num_rows:
                pending.append(fates.select([*keys, "count"]))
                if sum(len(b) for b in pending) >= _TALLY_ROWS:  # summed some batches at a time
                    sums.append(summed(pending))
                    pending = []
        if held:
            yield pa.concat_batches(held)
        if pending:
            sums.append(summed(pending))
        if sums:
            total = pa.concat_tables(sums).group_by(keys, use_threads=False).aggregate([("count_sum", "sum")])
            numbers = total["file"].combine_chunks()
            named = pa.array([paths[n] if n is not None else None for n in numbers.to_pylist()], pa.string())
            total = (pa.table({"kind": total["kind"], "source": pc.coalesce(total["source"], named),
                               "reason": total["reason"], "count": total["count_sum_sum"]})
                     .group_by(["kind", "source", "reason"], use_threads=False).aggregate([("count", "sum")]))
            yield make_batch(total.num_rows, count=total["count_sum"].combine_chunks(),
                             **{key: total[key].combine_chunks() for key in ("kind", "source", "reason")})

    return run
