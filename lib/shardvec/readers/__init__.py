"""Read raw input files into documents, accounting for every record.

One module per format, each a :class:`~shardvec.readers.base.Reader` yielding
the events of :mod:`.base`; storage is reached only through :mod:`.fs`.
:func:`read_file` picks the reader (from ``--format`` or by sniffing the file)
and turns any damage into a :class:`FileStatus` instead of an exception.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import IO, Any, Iterator, Mapping

from shardvec.readers.base import (DAMAGE, SNIFF_BYTES, Document, Dropped, Event, FileStatus, Reader,
                                   ReaderSettings, damage_error)
from shardvec.readers.fs import InputLocation, expand_inputs, list_input_files, open_sniffed
from shardvec.readers.jsonl import JsonlReader
from shardvec.readers.lines import LineBlock
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
    with open_sniffed(path, options) as (magic, fh):
        return format_of(path, magic, _head(fh) or b"")


def format_of(path: str, magic: bytes, head: bytes) -> str:
    """The format a file's first raw bytes (``magic``), its first decompressed bytes and its name say."""
    if magic == b"PAR1":
        return "parquet"
    head = head.lstrip()
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


def _head(fh: IO[bytes]) -> bytes | None:
    """The first SNIFF_BYTES of a decompressed stream; None if it is damaged before them."""
    try:
        return fh.read(SNIFF_BYTES)
    except DAMAGE:
        return None


def read_file(path: str, settings: ReaderSettings) -> Iterator[Event]:
    """Every event of one file, ending with its FileStatus; never raises on bad data."""
    for event in read_file_blocks(path, settings):
        if isinstance(event, LineBlock):
            yield from event.events()
        else:
            yield event


def read_file_blocks(path: str, settings: ReaderSettings) -> Iterator[Event | LineBlock]:
    """As :func:`read_file`, but the lines of plain-text files come in :class:`LineBlock` s, which Spark's
    read step turns into Arrow rows without a Python object per line.

    With ``format = "auto"`` the file is opened once: the bytes read to tell
    its format are handed to its reader with the stream (inputs are often
    many small files, where every open counts).
    """
    if settings.format != "auto":
        yield from READERS[settings.format](path, settings).events()
        return
    with ExitStack() as opened:
        try:
            magic, fh = opened.enter_context(open_sniffed(path, settings.storage_options))
        except DAMAGE as exc:
            yield FileStatus(path, "unreadable", 0, "auto", damage_error(exc))
            return
        head = _head(fh)
        reader = READERS[format_of(path, magic, head or b"")](path, settings)
        if head is not None and reader.streamed:
            yield from reader.events((head, fh))
            return
    yield from reader.events()  # damage in the head (reported by the reader's own read) or a Parquet file
