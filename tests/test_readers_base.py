"""A new format is one Reader subclass and a registry line: numbering, ids, the size limit, decompression,
damage and the file's status all come from the base."""

from __future__ import annotations

from pathlib import Path
from typing import IO, Iterator

import pytest
from prepare_helpers import truncated_gzip

from shardvec.readers import READERS, Document, Dropped, FileStatus, ReaderSettings, read_file
from shardvec.readers.base import TOO_LONG, Reader


class KeyedLines(Reader):
    """``key<TAB>text`` lines: all this test's format says is where a record's text and key are."""

    format = "keyed"
    text_only = True

    def read_records(self, fh: IO[bytes]) -> Iterator[Document | Dropped]:
        for raw in self.lines(fh):
            if raw is None:
                yield self.drop(TOO_LONG)
                continue
            key, _, text = raw.decode().rstrip("\n").partition("\t")
            yield self.record(text, record_id=key)


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(READERS, "keyed", KeyedLines)  # the registry line


def read(path: Path, **settings) -> list:
    return list(read_file(str(path), ReaderSettings(format="keyed", **settings)))


def test_records_are_numbered_limited_judged_and_counted_by_the_base(tmp_path: Path) -> None:
    path = tmp_path / "a.keyed"
    path.write_bytes(b"a\tfirst text\nb\t  \nc\t" + b"x" * 200 + b"\nd\tlast\n")
    src = str(path)
    assert read(path, max_record_bytes=100) == [
        Document(f"{src}#1", "first text", src, record_id="a"),
        Dropped(f"{src}#2", src, "empty", record_id="b"),
        Dropped(f"{src}#3", src, "record_too_long"),
        Document(f"{src}#4", "last", src, record_id="d"),
        FileStatus(src, "ok", 4, "keyed"),
    ]


def test_damage_and_binary_files_end_with_a_status_not_an_exception(tmp_path: Path) -> None:
    cut = truncated_gzip(tmp_path / "cut.keyed.gz", "".join(f"k{i}\tline {i}\n" for i in range(20000)))
    *records, status = read(cut)
    assert status.status == "truncated" and status.records == len(records) > 0 and "EOFError" in status.error
    assert records[-1].id == f"{cut}#{len(records)}"
    binary = tmp_path / "b.keyed"
    binary.write_bytes(b"k\t\x00\x01\x02\n")
    assert read(binary) == [FileStatus(str(binary), "unreadable", 0, "keyed", "binary file (NUL bytes), not text")]


class _DamagedAfter:
    """A decompressed stream that gives ``data`` a piece at a time, then raises as a cut-off gzip does."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read1(self, n: int) -> bytes:
        if not self.data:
            raise EOFError("Compressed file ended before the end-of-stream marker was reached")
        piece, self.data = self.data[:n], self.data[n:]
        return piece


@pytest.mark.parametrize("rest", [b"", b"more text\n" * 3])
def test_a_replayed_head_comes_through_before_damage_right_after_it(rest: bytes) -> None:
    """The read that ends the head also reads the stream; damage there must not cost the head's bytes."""
    from shardvec.readers.base import replay

    head = b"first line\nsecond line\n"
    fh = replay(head, _DamagedAfter(rest))  # type: ignore[arg-type]
    got = b""
    with pytest.raises(EOFError):
        while True:
            got += fh.read1(1 << 16)
    assert got == head + rest
