"""Read raw input files into documents, accounting for every record.

One module per format, each a :class:`~shardvec.readers.base.Reader` yielding
the events of :mod:`.base`; storage is reached only through :mod:`.fs`.
:func:`read_file` picks the reader (from ``--format`` or by sniffing the file)
and turns any damage into a :class:`FileStatus` instead of an exception.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from shardvec.readers.base import (DAMAGE, SNIFF_BYTES, Document, Dropped, Event, FileStatus, LineBlock, Reader,
                                   ReaderSettings, damage_error)
from shardvec.readers.fs import InputLocation, expand_inputs, filesystem_for, list_input_files, open_input
from shardvec.readers.jsonl import JsonlReader
from shardvec.readers.parquet import ParquetReader
from shardvec.readers.text import HtmlReader, TextReader
from shardvec.readers.warc import WarcReader
from shardvec.readers.wiki import WikiReader

__all__ = ["FORMATS", "Document", "Dropped", "Event", "FileStatus", "InputLocation", "LineBlock", "ReaderSettings",
           "detect_input_format", "expand_inputs", "list_input_files", "read_file", "read_file_blocks"]

# The formats ``--format`` names: a new reader is one line here.
READERS: dict[str, type[Reader]] = {reader.format: reader for reader in (
    TextReader, HtmlReader, JsonlReader, ParquetReader, WarcReader, WikiReader)}
FORMATS = ("auto", *READERS)


def detect_input_format(path: str, options: Mapping[str, Any]) -> str:
    """Guess the format from the file's first (decompressed) bytes, then from its name."""
    if filesystem_for(path, options).head(path, 4) == b"PAR1":
        return "parquet"
    try:
        with open_input(path, options) as fh:
            head = fh.read(SNIFF_BYTES).lstrip()
    except DAMAGE:
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


def read_file(path: str, settings: ReaderSettings) -> Iterator[Event]:
    """Every event of one file, ending with its FileStatus; never raises on bad data."""
    for event in read_file_blocks(path, settings):
        if isinstance(event, LineBlock):
            yield from event.events()
        else:
            yield event


def read_file_blocks(path: str, settings: ReaderSettings) -> Iterator[Event | LineBlock]:
    """As :func:`read_file`, but the lines of plain-text files come in :class:`LineBlock` s, which Spark's
    read step turns into Arrow rows without a Python object per line."""
    format_name = settings.format
    if format_name == "auto":
        try:
            format_name = detect_input_format(path, settings.storage_options)
        except DAMAGE as exc:
            yield FileStatus(path, "unreadable", 0, format_name, damage_error(exc))
            return
    yield from READERS[format_name](path, settings).events()
