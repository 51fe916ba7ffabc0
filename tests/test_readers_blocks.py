"""Plain-text lines judged a block at a time give the records that judging each line gives."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

import shardvec.readers.text as text_reader
from shardvec.readers import Document, Dropped, FileStatus, LineBlock, ReaderSettings, read_file, read_file_blocks
from shardvec.readers.base import bounded_lines, decode_text, record_id, record_ids

LINES = [b"hello world\n", b"\n", b"   \n", b"\t\x0b\x1c\r\n", "\u3000\n".encode(), "\x85 \n".encode(),
         "x\u3000\n".encode(), "caf\u00e9 \u2028 ok\n".encode(), b"y" * 300 + b"\n", b"after long\n",
         b"last line without newline"]


def one_by_one(path: Path, limit: int) -> list[tuple[str, str | None, str | None]]:
    """The records as the reader judged them line by line: (id, text, drop reason)."""
    out = []
    with open(path, "rb") as fh:
        for n, raw in enumerate(bounded_lines(fh, limit), start=1):
            text = None if raw is None else decode_text(raw)
            reason = ("record_too_long" if raw is None else "invalid_utf8" if text is None
                      else None if text.strip() else "empty")
            out.append((record_id(str(path), n), None if reason else text, reason))
    return out


def records(path: Path, settings: ReaderSettings) -> list[tuple[str, str | None, str | None]]:
    out = []
    for event in read_file(str(path), settings):
        if isinstance(event, Document):
            out.append((event.id, event.text, None))
        elif isinstance(event, Dropped):
            out.append((event.id, None, event.reason))
    return out


@pytest.mark.parametrize("block_lines", [1, 3, 8192])
@pytest.mark.parametrize("bad", [False, True])
@pytest.mark.parametrize("chunk_bytes", [7, 1 << 20])  # 7: lines, and the overlong one, span many reads
def test_blocks_give_the_records_of_each_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block_lines: int,
                                              bad: bool, chunk_bytes: int) -> None:
    monkeypatch.setattr(text_reader, "_BLOCK_LINES", block_lines)
    monkeypatch.setattr(text_reader, "_CHUNK_BYTES", chunk_bytes)
    invalid = [b"bad \xff\xfe line\n", b"\xff" * 50 + b"\n", b"stray \xff byte in a longer line\n"] if bad else []
    lines = [*LINES[:-1], *invalid, LINES[-1]]
    path = tmp_path / "lines.txt"
    path.write_bytes(b"".join(lines))
    settings = ReaderSettings(format="text", max_record_bytes=100)
    assert records(path, settings) == one_by_one(path, 100)
    blocks = [e for e in read_file_blocks(str(path), settings) if isinstance(e, LineBlock)]
    assert len(blocks) == -(-len(lines) // block_lines)
    assert sum(map(len, blocks)) == len(lines)


def test_damage_keeps_the_lines_read_before_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text_reader, "_BLOCK_LINES", 1000)
    data = gzip.compress(b"".join(b"line %d of text\n" % i for i in range(20000)))
    path = tmp_path / "cut.txt.gz"
    path.write_bytes(data[: len(data) * 2 // 3])
    events = list(read_file_blocks(str(path), ReaderSettings(format="text")))
    status = events[-1]
    assert isinstance(status, FileStatus) and status.status == "truncated"
    kept = sum(len(e) for e in events if isinstance(e, LineBlock))
    assert kept == status.records > 1000 and kept % 1000 != 0  # the partial block came through
    assert records(path, ReaderSettings(format="text"))[-1][1] == f"line {kept - 1} of text\n"


def test_record_ids_match_record_id() -> None:
    import numpy as np
    import pyarrow as pa

    sources = ["s3://b/x.txt", "s3://b/x.txt", "/data/y #2.txt"]
    assert record_ids(pa.array(sources), np.array([7, 8, 1])).to_pylist() == [
        record_id(s, n) for s, n in zip(sources, (7, 8, 1))]


@pytest.mark.parametrize("chunk_bytes", [7, 101, 102, 1 << 20])
@pytest.mark.parametrize("tail", [b"z" * 100, b"z" * 101, b"z" * 250])
def test_lines_at_the_limit_are_judged_as_line_by_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       chunk_bytes: int, tail: bytes) -> None:
    """Lines of exactly the limit, one byte over it, and a last line over it without a newline."""
    monkeypatch.setattr(text_reader, "_CHUNK_BYTES", chunk_bytes)
    path = tmp_path / "edges.txt"
    path.write_bytes(b"a" * 100 + b"\n" + b"b" * 101 + b"\n" + b"c" * 99 + b"\n" + tail)
    got = records(path, ReaderSettings(format="text", max_record_bytes=100))
    assert got == one_by_one(path, 100)
    assert [r for _, _, r in got] == [None, "record_too_long", None, None if len(tail) <= 100 else "record_too_long"]


@pytest.mark.parametrize("bad", ["none", "lines", "cut"])
def test_blocks_of_many_files_are_judged_as_each_on_its_own(tmp_path: Path, bad: str) -> None:
    """Spark's read step judges a batch of files' blocks at once: the same texts and reasons, in order,
    as judging each block alone, also when one file's lines are not UTF-8 (that block goes line by line),
    and when a file ends in the first bytes of a character whose rest begins the next file (valid UTF-8
    joined, not on their own)."""
    from shardvec.readers.lines import judge_blocks, judge_lines

    invalid = [b"bad \xff\xfe line\n", b"\xff" * 50 + b"\n"] if bad == "lines" else []
    cut = [b"caf\xc3", b"\xa9 au lait\n"] if bad == "cut" else [b"", b""]
    contents = [b"".join(LINES[:5]), b"".join([*LINES[5:], b"\n", cut[0]]),
                b"".join([cut[1], LINES[0], *invalid, LINES[7]]), b"only line\n"]
    blocks = []
    for i, content in enumerate(contents):
        path = tmp_path / f"f{i}.txt"
        path.write_bytes(content)
        blocks += [e for e in read_file_blocks(str(path), ReaderSettings(format="text", max_record_bytes=100))
                   if isinstance(e, LineBlock)]
    assert len(blocks) == len(contents)
    texts, reasons = judge_blocks(blocks)
    alone = [judge_lines(block.data, block.lengths) for block in blocks]
    assert texts.to_pylist() == [t for a in alone for t in a[0].to_pylist()]
    assert reasons.to_pylist() == [r for a in alone for r in a[1].to_pylist()]
    assert {"empty", "record_too_long"} <= set(reasons.to_pylist())
    assert ("invalid_utf8" in reasons.to_pylist()) == (bad != "none")


@pytest.mark.parametrize("batch_rows", [3, 8192])  # 3: many read batches, files numbered across them
def test_lines_numbered_by_file_are_tallied_as_lines_that_carry_their_path(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch,
                                                                         batch_rows: int) -> None:
    """Spark's read step without line ids gives each line only its file's number; the tally step sums the
    same (kind, file, reason) counts as from lines that carry their path and id, and lets no number out."""
    import pyarrow as pa

    import shardvec.spark.records as records_module
    from shardvec.spark.records import FILE_INDEX, chain, read_step, tally_step

    monkeypatch.setattr(records_module, "_READ_BATCH", batch_rows)
    paths = []
    for i, content in enumerate([b"".join(LINES), b"one\n\n two\n", b"\n\n", b"x" * 300 + b"\nlast\n"]):
        paths.append(str(tmp_path / f"f{i}.txt"))
        Path(paths[-1]).write_bytes(content)
    settings = ReaderSettings(format="text", max_record_bytes=100)
    batch = pa.record_batch([pa.array(paths)], names=["path"])

    def tallied(line_ids: bool) -> tuple[list[tuple], list[dict]]:
        rows = pa.Table.from_batches(list(chain(read_step(settings, line_ids), tally_step())([batch]))).to_pylist()
        fates = sorted((r["kind"], r["source"], r["reason"], r["count"]) for r in rows if r["kind"] in ("doc", "drop"))
        assert all(r["file"] is None for r in rows) and not any(r["kind"] == FILE_INDEX for r in rows)
        return fates, sorted((r for r in rows if r["kind"] == "file"), key=lambda r: r["source"])

    numbered, with_ids = tallied(False), tallied(True)
    assert numbered == with_ids
    fates = numbered[0]
    assert ("doc", paths[1], None, 2) in fates and ("drop", paths[2], "empty", 2) in fates
    assert ("drop", paths[3], "record_too_long", 1) in fates
    assert sum(c for *_, c in fates) == sum(r["records"] for r in numbered[1])
