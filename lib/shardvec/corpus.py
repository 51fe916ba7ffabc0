"""The corpus contract between prepare and train.

A corpus directory holds ``shards/*.parquet`` (one row per sentence, column
``tokens: list<string>``), ``vocab.parquet`` (``word, count`` sorted by count
descending then word ascending, so a word's index is the same everywhere),
``vocab.tsv``, ``manifest.json`` and ``_SUCCESS`` (written last).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from shardvec.errors import InputError
from shardvec.storage import Store, require_complete

CORPUS_SCHEMA = "shardvec.corpus/1"
SHARD_SCHEMA = pa.schema([pa.field("tokens", pa.list_(pa.string()))])
VOCAB_SCHEMA = pa.schema([pa.field("word", pa.string()), pa.field("count", pa.int64())])


@dataclass(frozen=True)
class Vocab:
    """Words in index order with their global counts."""

    words: list[str]
    counts: np.ndarray

    def __len__(self) -> int:
        return len(self.words)

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, int]]) -> "Vocab":
        """Order pairs by count descending, then word ascending."""
        ordered = sorted(pairs, key=lambda wc: (-wc[1], wc[0]))
        return cls([w for w, _ in ordered], np.array([c for _, c in ordered], dtype=np.int64))

    def to_table(self) -> pa.Table:
        return pa.table({"word": self.words, "count": self.counts}, schema=VOCAB_SCHEMA)

    @classmethod
    def from_table(cls, table: pa.Table) -> "Vocab":
        if table.schema.names[:2] != ["word", "count"]:
            raise InputError(f"vocabulary table must have columns word, count; found {table.schema.names}")
        return cls(table.column("word").to_pylist(), table.column("count").to_numpy().astype(np.int64))

    def write(self, directory: Path) -> None:
        """``vocab.parquet`` for machines and ``vocab.tsv`` for people and other tools."""
        pq.write_table(self.to_table(), directory / "vocab.parquet")
        with (directory / "vocab.tsv").open("w", encoding="utf-8") as fh:
            for word, count in zip(self.words, self.counts.tolist()):
                fh.write(f"{word}\t{count}\n")

    @classmethod
    def read(cls, path: Path) -> "Vocab":
        return cls.load(Store(str(path)))

    @classmethod
    def load(cls, store: Store) -> "Vocab":
        """Read ``vocab.parquet`` from any storage."""
        return cls.from_table(pq.read_table(io.BytesIO(store.read_bytes())))

    def save(self, store: Store) -> None:
        buffer = io.BytesIO()
        pq.write_table(self.to_table(), buffer)
        store.write_bytes(buffer.getvalue())


@dataclass(frozen=True)
class Corpus:
    """A finished corpus directory on any storage, checked on open."""

    root: Store
    manifest: dict[str, Any]

    @classmethod
    def open(cls, location: str, options: dict[str, Any] | None = None) -> "Corpus":
        root = Store(location, options or {})
        manifest = require_complete(root, "manifest.json", CORPUS_SCHEMA, "shardvec prepare")
        return cls(root, manifest)

    @property
    def shards(self) -> list[Store]:
        return [self.root / "shards" / s["file"] for s in self.manifest["shards"]]

    @property
    def shard_tokens(self) -> list[int]:
        return [int(s["tokens"]) for s in self.manifest["shards"]]

    def vocab(self) -> Vocab:
        return Vocab.load(self.root / "vocab.parquet")
