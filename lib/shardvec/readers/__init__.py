"""Read raw input files into documents, accounting for every record.

One module per format, all yielding the events of :mod:`.base`; storage is
reached only through :mod:`.fs`. :func:`read_file` picks the reader (from
``--format`` or by sniffing the file) and turns any damage into a
:class:`FileStatus` instead of an exception.
"""

from __future__ import annotations

import gzip
import lzma
import zlib
from typing import Any, Callable, Iterator, Mapping

from shardvec.readers.base import Document, Dropped, Event, FileStatus, ReaderSettings
from shardvec.readers.fs import InputLocation, expand_inputs, filesystem_for, list_input_files, open_input
from shardvec.readers.jsonl import read_jsonl
from shardvec.readers.parquet import read_parquet
from shardvec.readers.text import LineBlock, read_html, read_text, read_text_blocks
from shardvec.readers.warc import read_warc
from shardvec.readers.wiki import read_wiki

__all__ = ["FORMATS", "Document", "Dropped", "Event", "FileStatus", "InputLocation", "LineBlock", "ReaderSettings",
           "detect_format", "expand_inputs", "list_input_files", "read_file", "read_file_blocks"]

READERS: dict[str, Callable[[str, ReaderSettings], Iterator[Event]]] = {
    "text": read_text,
    "html": read_html,
    "jsonl": read_jsonl,
    "parquet": read_parquet,
    "warc": read_warc,
    "wiki": read_wiki,
}
FORMATS = ("auto", *READERS)
_SNIFF_BYTES = 4096
# What a damaged file raises while being read (SyntaxError: xml.etree.ParseError
# on a cut-off dump; zstd and pyarrow errors are subclasses of these).
_DAMAGE = (EOFError, gzip.BadGzipFile, OSError, ValueError, lzma.LZMAError, zlib.error, SyntaxError)


def detect_format(path: str, options: Mapping[str, Any]) -> str:
    """Guess the format from the file's first (decompressed) bytes, then from its name."""
    if filesystem_for(path, options).head(path, 4) == b"PAR1":
        return "parquet"
    try:
        with open_input(path, options) as fh:
            head = fh.read(_SNIFF_BYTES).lstrip()
    except _DAMAGE:
        head = b""
    lower = head[:512].lower()
    name = path.lower()
    if head.startswith(b"<mediawiki"):
        return "wiki"
    if head.startswith(b"WARC/"):
        return "warc"
    if head.startswith(b"{"):
        return "jsonl"
    if lower.startswith((b"<!doctype html", b"<html")) or name.endswith((".html", ".htm", ".xhtml")):
        return "html"
    if ".jsonl" in name or name.endswith(".json"):
        return "jsonl"
    return "text"


def _is_binary(path: str, options: Mapping[str, Any]) -> bool:
    """NUL bytes in the first decompressed block: not text, whatever its name says."""
    with open_input(path, options) as fh:
        return b"\x00" in fh.read(_SNIFF_BYTES)


def read_file(path: str, settings: ReaderSettings) -> Iterator[Event]:
    """Every event of one file, ending with its FileStatus; never raises on bad data."""
    return _read(path, settings, READERS)  # type: ignore[return-value]


def read_file_blocks(path: str, settings: ReaderSettings) -> Iterator[Event | LineBlock]:
    """As :func:`read_file`, but the lines of plain-text files come in :class:`LineBlock` s, which Spark's
    read step turns into Arrow rows without a Python object per line."""
    return _read(path, settings, {**READERS, "text": read_text_blocks})


def _read(path: str, settings: ReaderSettings, readers: Mapping[str, Callable[[str, ReaderSettings], Iterator[Any]]]
          ) -> Iterator[Event | LineBlock]:
    fmt = settings.format
    records = 0
    try:
        if fmt == "auto":
            fmt = detect_format(path, settings.storage_options)
        if fmt in ("text", "html", "jsonl") and _is_binary(path, settings.storage_options):
            yield FileStatus(path, "unreadable", 0, fmt, "binary file (NUL bytes), not text")
            return
        for event in readers[fmt](path, settings):
            if isinstance(event, FileStatus):
                yield event
                return
            records += len(event) if isinstance(event, LineBlock) else 1
            yield event
    except _DAMAGE as exc:
        status = "truncated" if records else "unreadable"
        yield FileStatus(path, status, records, fmt, f"{type(exc).__name__}: {exc}")
