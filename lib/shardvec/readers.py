"""Read raw input files into documents, accounting for every record.

A reader is a generator over one file that yields :class:`Document` (kept for
cleaning), :class:`Dropped` (a record that could not be used, with a reason)
and, last, exactly one :class:`FileStatus` saying whether the whole file was
read (``ok``), ended early on damage (``truncated``, with how many records
were read before it) or could not be read at all (``unreadable``). Damage is
never hidden: a short read is reported, not skipped.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Iterator, Union

from shardvec.errors import InputError

FORMATS = ("auto", "text", "jsonl", "parquet", "wiki")
_SNIFF_BYTES = 4096
# A line whose decoding needed more than this share of replacement characters
# is binary noise, not text.
_MAX_REPLACEMENT_SHARE = 0.1


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    source: str


@dataclass(frozen=True)
class Dropped:
    source: str
    reason: str


@dataclass(frozen=True)
class FileStatus:
    source: str
    status: str  # ok | truncated | unreadable
    records: int
    format: str
    error: str = ""


Event = Union[Document, Dropped, FileStatus]


@dataclass(frozen=True)
class ReaderSettings:
    format: str = "auto"
    text_field: str = "text"


def open_decompressed(path: Path) -> IO[bytes]:
    """Open ``path`` for reading, decompressing by magic bytes rather than by name."""
    raw = path.open("rb")
    head = raw.peek(6)[:6] if hasattr(raw, "peek") else b""
    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    if head.startswith(b"BZh"):
        return bz2.BZ2File(raw)  # type: ignore[return-value]
    if head.startswith(b"\xfd7zXZ"):
        return lzma.LZMAFile(raw)  # type: ignore[return-value]
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        try:
            import zstandard
        except ImportError:  # pragma: no cover - zstandard is a declared dependency
            raise InputError(f"{path}: zstd-compressed, install the 'zstandard' package") from None
        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw))  # type: ignore[return-value]
    return raw  # type: ignore[return-value]


def detect_format(path: Path) -> str:
    """Guess the format from the file's first bytes, then from its name."""
    with path.open("rb") as fh:
        if fh.read(4) == b"PAR1":
            return "parquet"
    try:
        with open_decompressed(path) as fh:
            head = fh.read(_SNIFF_BYTES).lstrip()
    except (OSError, EOFError, ValueError):
        head = b""
    if head.startswith(b"<mediawiki"):
        return "wiki"
    if head.startswith(b"{"):
        return "jsonl"
    name = path.name.lower()
    if ".jsonl" in name or name.endswith(".json"):
        return "jsonl"
    return "text"


def _decode_line(raw: bytes) -> str | None:
    """UTF-8 text of a line, with stray bad bytes replaced; None if it is binary."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", errors="replace")
        if text.count("\ufffd") > _MAX_REPLACEMENT_SHARE * max(len(text), 1):
            return None
        return text.replace("\ufffd", " ")


def _is_binary(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    return b"\x00" in head and not head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"\x28\xb5\x2f\xfd"))


def read_text(path: Path, settings: ReaderSettings) -> Iterator[Event]:
    """One document per non-empty line."""
    source = str(path)
    if _is_binary(path):
        yield FileStatus(source, "unreadable", 0, "text", "binary file (NUL bytes), not text")
        return
    records = 0
    with open_decompressed(path) as fh:
        for raw in fh:
            records += 1
            text = _decode_line(raw)
            if text is None:
                yield Dropped(source, "invalid_utf8")
            elif not text.strip():
                yield Dropped(source, "empty")
            else:
                yield Document(f"{source}#{records}", text, source)
    yield FileStatus(source, "ok", records, "text")


def read_jsonl(path: Path, settings: ReaderSettings) -> Iterator[Event]:
    """One JSON object per line; the text is in ``settings.text_field``."""
    source = str(path)
    records = 0
    with open_decompressed(path) as fh:
        for raw in fh:
            if not raw.strip():
                continue
            records += 1
            try:
                obj = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                yield Dropped(source, "malformed_json")
                continue
            text = obj.get(settings.text_field) if isinstance(obj, dict) else None
            if not isinstance(text, str):
                yield Dropped(source, "missing_text_field")
            elif not text.strip():
                yield Dropped(source, "empty")
            else:
                doc_id = obj.get("id")
                yield Document(f"{source}#{doc_id if doc_id is not None else records}", text, source)
    yield FileStatus(source, "ok", records, "jsonl")


def read_parquet(path: Path, settings: ReaderSettings) -> Iterator[Event]:
    """Rows of a Parquet file; the text is in column ``settings.text_field``."""
    import pyarrow.parquet as pq

    source = str(path)
    parquet = pq.ParquetFile(path)
    if settings.text_field not in parquet.schema_arrow.names:
        yield FileStatus(source, "unreadable", 0, "parquet",
                         f"no column {settings.text_field!r} (columns: {', '.join(parquet.schema_arrow.names)})")
        return
    records = 0
    for batch in parquet.iter_batches(columns=[settings.text_field]):
        for text in batch.column(0).to_pylist():
            records += 1
            if not isinstance(text, str) or not text.strip():
                yield Dropped(source, "empty")
            else:
                yield Document(f"{source}#{records}", text, source)
    yield FileStatus(source, "ok", records, "parquet")


def read_wiki(path: Path, settings: ReaderSettings) -> Iterator[Event]:
    """Article pages of a MediaWiki XML dump, markup stripped by gensim's filter_wiki."""
    from gensim.corpora.wikicorpus import extract_pages, filter_wiki

    source = str(path)
    records = 0
    with open_decompressed(path) as fh:
        for title, text, page_id in extract_pages(fh, filter_namespaces=("0",)):
            records += 1
            if text.lstrip().lower().startswith("#redirect"):
                yield Dropped(source, "wiki_redirect")
                continue
            plain = filter_wiki(text)
            if not plain.strip():
                yield Dropped(source, "empty")
            else:
                yield Document(f"{source}#{page_id}", plain, source)
    yield FileStatus(source, "ok", records, "wiki")


_READERS: dict[str, Callable[[Path, ReaderSettings], Iterator[Event]]] = {
    "text": read_text,
    "jsonl": read_jsonl,
    "parquet": read_parquet,
    "wiki": read_wiki,
}


def read_file(path: Path, settings: ReaderSettings) -> Iterator[Event]:
    """Every event of one file, ending with its FileStatus; never raises on bad data."""
    source = str(path)
    fmt = settings.format
    records = 0
    try:
        if fmt == "auto":
            fmt = detect_format(path)
        for event in _READERS[fmt](path, settings):
            if isinstance(event, FileStatus):
                yield event
                return
            records += 1
            yield event
    except (EOFError, gzip.BadGzipFile, OSError, ValueError, lzma.LZMAError, SyntaxError) as exc:
        # SyntaxError covers xml.etree.ParseError on a cut-off dump.
        status = "truncated" if records else "unreadable"
        yield FileStatus(source, status, records, fmt, f"{type(exc).__name__}: {exc}")


def list_input_files(locations: list[str]) -> list[Path]:
    """Expand files, directories and globs into a sorted list of files.

    A location that matches nothing is an error (exit 2); an empty directory
    is not, it simply contributes no files.
    """
    from glob import glob

    from shardvec.outputs import local_path

    files: set[Path] = set()
    for location in locations:
        path = local_path(location)
        text = os.fspath(path)
        if any(ch in text for ch in "*?["):
            matches = [Path(p) for p in glob(text, recursive=True)]
            if not matches:
                raise InputError(f"input {location}: no file matches this pattern")
            candidates = matches
        elif path.is_dir():
            candidates = [p for p in path.rglob("*")]
        elif path.exists():
            candidates = [path]
        else:
            raise InputError(f"input {location} does not exist")
        files.update(p for p in candidates if p.is_file() and not p.name.startswith((".", "_")))
    return sorted(p.resolve() for p in files)
