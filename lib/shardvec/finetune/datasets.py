"""Readers for labelled target data: documents with labels, or tagged sentences.

Every reader returns tokens already normalised the way ``shardvec prepare``
normalises the pretraining corpus (NFKC, same tokenizer, same casing), so a
target word finds its pretrained vector. CoNLL tokens are only normalised,
never re-split, because each one carries its own tag. Anything a user can get
wrong (an empty file, a missing column, a line without a label) is an
:class:`InputError` naming the file and, where it helps, the line.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from shardvec.errors import ConfigError, InputError
from shardvec.finetune.modes import TASKS, task_reading
from shardvec.finetune.task import Task
from shardvec.outputs import local_path
from shardvec.text.normalize import normalize_text
from shardvec.text.tokenize import tokenize

FORMATS = ("auto", *(fmt for task in TASKS.values() for fmt in task.formats))
LABEL_PREFIX = "__label__"
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
               ".parquet": "parquet", ".pq": "parquet", ".conll": "conll", ".conllu": "conll",
               ".bio": "conll", ".iob": "conll", ".iob2": "conll", ".ft": "fasttext"}
_SNIFF_LINES = 20


@dataclass(frozen=True)
class Dataset:
    """One labelled file, read.

    ``kind`` names the task the file's format is for (:attr:`task`), which
    says what ``tokens[i]`` and ``labels[i]`` are: a document and its label
    tuple (``classify``), a sentence and one tag per token (``tag``).
    """

    kind: str
    tokens: list[list[str]]
    labels: list[tuple[str, ...]]
    source: str
    format: str
    raw: list[list[str]] | None = None  # CoNLL: the tokens as written (their shapes keep the capitals)

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def task(self) -> type[Task]:
        return TASKS[self.kind]

    @property
    def multilabel(self) -> bool:
        return self.task.is_multilabel(self.labels)

    @property
    def strata(self) -> list[str] | None:
        """What splits stratify on (a document's first label), or None (sentences have no single class)."""
        return self.task.strata(self.labels)


@dataclass(frozen=True)
class ReadOptions:
    """Where the text and labels are, and the prepare settings the vectors were built with."""

    format: str = "auto"
    text_field: str = "text"
    label_field: str = "label"
    lowercase: bool = True
    fold_numbers: bool = False
    fix_mojibake: bool = True


def read_dataset(location: str, options: ReadOptions) -> Dataset:
    """Read one file in ``options.format`` (detected when ``auto``)."""
    path = local_path(location)
    if not path.is_file():
        raise InputError(f"dataset {location} does not exist or is not a file")
    fmt = detect_dataset_format(path) if options.format == "auto" else options.format
    if fmt not in _READERS:
        raise ConfigError(f"finetune.format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    tokens, labels, raw = _READERS[fmt](path, options)
    if not tokens:
        raise InputError(f"{path} holds no labelled examples")
    return Dataset(task_reading(fmt).name, tokens, labels, str(path), fmt, raw)


def detect_dataset_format(path: Path) -> str:
    """The format from the file extension, else from the first lines.

    ``__label__`` anywhere marks fastText; lines of 2-6 whitespace-separated
    fields mark CoNLL. Anything else is ambiguous and must be named.
    """
    fmt = _EXTENSIONS.get(path.suffix.lower())
    if fmt:
        return fmt
    lines = []
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.strip():
                lines.append(line.split())
            if len(lines) >= _SNIFF_LINES:
                break
    if not lines:
        raise InputError(f"{path} is empty")
    if any(t.startswith(LABEL_PREFIX) for fields in lines for t in fields):
        return "fasttext"
    if all(2 <= len(fields) <= 6 for fields in lines):
        return "conll"
    raise InputError(f"cannot tell the format of {path}; set finetune.format")


def text_tokens(text: str, options: ReadOptions) -> list[str]:
    """Tokens of a document, exactly as prepare tokenizes the pretraining corpus."""
    return tokenize(normalize_text(text, options.fix_mojibake), options.lowercase, options.fold_numbers)


def conll_token(token: str, options: ReadOptions) -> str:
    """A CoNLL token in vocabulary form: as prepare would write it when that gives one token.

    Tokens prepare would split or drop (``U.S.``, punctuation) stay whole,
    normalised, so that every tag keeps its token.
    """
    normal = normalize_text(token, options.fix_mojibake)
    pieces = tokenize(normal, options.lowercase, options.fold_numbers)
    if len(pieces) == 1:
        return pieces[0]
    return normal.lower() if options.lowercase else normal


def _lines(path: Path) -> list[str]:
    """The file's lines; bytes that are not UTF-8 (old cp1252 corpora) become U+FFFD, as gensim reads them."""
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


def _read_fasttext(path: Path, options: ReadOptions):
    """``__label__a [__label__b ...] text``: every ``__label__`` token is a label."""
    tokens, labels = [], []
    for number, line in enumerate(_lines(path), 1):
        if not line.strip():
            continue
        words = line.split()
        found = tuple(dict.fromkeys(w[len(LABEL_PREFIX):] for w in words if w.startswith(LABEL_PREFIX)))
        if not found or "" in found:
            raise InputError(f"{path}:{number}: line has no {LABEL_PREFIX}<name> label")
        text = " ".join(w for w in words if not w.startswith(LABEL_PREFIX))
        tokens.append(text_tokens(text, options))
        labels.append(found)
    return tokens, labels, None


def _read_conll(path: Path, options: ReadOptions):
    """``token ... tag`` per line (first and last column), a blank line between sentences."""
    sentences: list[list[str]] = []
    written: list[list[str]] = []
    tags: list[tuple[str, ...]] = []
    words: list[str] = []
    raw: list[str] = []
    current: list[str] = []

    def flush() -> None:
        if words:
            sentences.append(list(words))
            written.append(list(raw))
            tags.append(tuple(current))
            words.clear()
            raw.clear()
            current.clear()

    for number, line in enumerate(_lines(path), 1):
        fields = line.split()
        if not fields:
            flush()
        elif fields[0] == "-DOCSTART-" or line.startswith("# "):
            continue
        elif len(fields) < 2:
            raise InputError(f"{path}:{number}: expected 'token ... tag', got {line.strip()!r}")
        else:
            words.append(conll_token(fields[0], options))
            raw.append(fields[0])
            current.append(fields[-1])
    flush()
    return sentences, tags, written


def _read_rows(path: Path, options: ReadOptions, rows: list[dict[str, Any]], columns: list[str]):
    """Documents from table rows; a label may be a string or (JSONL, Parquet) a list of strings."""
    missing = [c for c in (options.text_field, options.label_field) if c not in columns]
    if missing:
        raise InputError(f"{path} has no column {', '.join(map(repr, missing))}; columns: {', '.join(columns)}")
    tokens, labels = [], []
    for number, row in enumerate(rows, 1):
        raw = row[options.label_field]
        values = raw if isinstance(raw, (list, tuple)) else [raw]
        found = tuple(dict.fromkeys(str(v).strip() for v in values if v is not None and str(v).strip()))
        if not found:
            raise InputError(f"{path}: record {number} has an empty {options.label_field!r}")
        text = row[options.text_field]
        tokens.append(text_tokens("" if text is None else str(text), options))
        labels.append(found)
    return tokens, labels, None


def _read_delimited(path: Path, options: ReadOptions, delimiter: str):
    """CSV/TSV with a header row (Python's csv dialect: quoted fields may hold delimiters and newlines)."""
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.DictReader(fh, delimiter=delimiter)
        try:
            columns = reader.fieldnames
            rows = list(reader)
        except csv.Error as exc:
            raise InputError(f"{path}:{reader.line_num}: not valid {'TSV' if delimiter == chr(9) else 'CSV'}: {exc}") from None
    if columns is None:
        raise InputError(f"{path} is empty")
    return _read_rows(path, options, rows, list(columns))


def _read_jsonl(path: Path, options: ReadOptions):
    rows = []
    for number, line in enumerate(_lines(path), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{number}: not valid JSON: {exc}") from None
        if not isinstance(row, dict):
            raise InputError(f"{path}:{number}: expected a JSON object")
        missing = [f for f in (options.text_field, options.label_field) if f not in row]
        if missing:
            raise InputError(f"{path}:{number}: no field {', '.join(map(repr, missing))}; fields: {', '.join(row)}")
        rows.append(row)
    return _read_rows(path, options, rows, [options.text_field, options.label_field])


def _read_parquet(path: Path, options: ReadOptions):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path} is not a Parquet file: {exc}") from None
    return _read_rows(path, options, table.to_pylist(), table.schema.names)


# Format -> reader of its files: tokens and labels of each unit, and the tokens as written (CoNLL) or None.
# Which task a format's files are for, each task says (Task.formats).
_READERS: dict[str, Callable[[Path, ReadOptions], tuple[list[list[str]], list[tuple[str, ...]],
                                                    list[list[str]] | None]]] = {
    "fasttext": _read_fasttext,
    "conll": _read_conll,
    "csv": lambda p, o: _read_delimited(p, o, ","),
    "tsv": lambda p, o: _read_delimited(p, o, "\t"),
    "jsonl": _read_jsonl,
    "parquet": _read_parquet,
}
