"""Readers on their own (no Spark): every format, every kind of damage, every record accounted for."""

from __future__ import annotations

import bz2
import gzip
import importlib.util
import lzma
import socket
from pathlib import Path

import pytest
import zstandard
from prepare_helpers import (html_page, prose, truncated_gzip, write_jsonl, write_parquet, write_warc, write_wet,
                             write_wiki)

from shardvec.errors import ConfigError, EnvironmentProblem, InputError, ShardvecError
from shardvec.readers import (Document, Dropped, FileStatus, ReaderSettings, detect_input_format, expand_inputs,
                              list_input_files, read_file)
from shardvec.readers.fs import LocalFileSystem, RemoteFileSystem, filesystem_for, url_prefix


def read(path: Path, **settings) -> tuple[list[Document], list[Dropped], FileStatus]:
    events = list(read_file(str(path), ReaderSettings(**settings)))
    status = events[-1]
    assert isinstance(status, FileStatus) and all(not isinstance(e, FileStatus) for e in events[:-1])
    docs = [e for e in events if isinstance(e, Document)]
    drops = [e for e in events if isinstance(e, Dropped)]
    if status.status == "ok":
        assert status.records == len(docs) + len(drops)
    return docs, drops, status


@pytest.mark.parametrize("compress", [lambda b: b, gzip.compress, bz2.compress, lzma.compress,
                                      lambda b: zstandard.ZstdCompressor().compress(b)],
                         ids=["plain", "gz", "bz2", "xz", "zst"])
def test_text_lines_in_every_compression(tmp_path: Path, compress) -> None:
    path = tmp_path / "corpus.txt.x"
    path.write_bytes(compress("first line here\n\n  \nsecond line\n".encode()))
    docs, drops, status = read(path)
    assert [d.text.strip() for d in docs] == ["first line here", "second line"]
    assert [d.reason for d in drops] == ["empty", "empty"] and status.format == "text" and status.records == 4
    assert len({d.id for d in docs + drops}) == 4  # ids are unique per record


def test_text_one_document_per_file(tmp_path: Path) -> None:
    path = tmp_path / "book.txt"
    path.write_text("Chapter one.\nIt was a dark night.\n")
    docs, _, status = read(path, text_document="file")
    assert len(docs) == 1 and "dark night" in docs[0].text and status.records == 1
    (tmp_path / "empty.txt").write_bytes(b"")
    assert read(tmp_path / "empty.txt", text_document="file")[2].records == 0


def test_jsonl_text_field_lineage_and_bad_lines(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "docs.jsonl", [
        {"body": "good text", "id": 7, "url": "http://a/", "date": "2024-01-01"},
        "{not json",
        {"other": "no body field"},
        {"body": 3},
        {"body": "   "},
        [1, 2],
    ])
    docs, drops, status = read(path, text_field="body")
    assert [(d.text, d.record_id, d.url, d.date) for d in docs] == [("good text", "7", "http://a/", "2024-01-01")]
    assert [d.reason for d in drops] == ["malformed_json", "missing_text_field", "missing_text_field", "empty",
                                         "missing_text_field"]
    assert status.status == "ok" and status.records == 6


def test_parquet_text_column_and_wrong_schema(tmp_path: Path) -> None:
    good = write_parquet(tmp_path / "good.parquet", {"content": ["one doc", None, "two"], "url": ["u1", "u2", "u3"]})
    docs, drops, status = read(good, text_field="content")
    assert [(d.text, d.url) for d in docs] == [("one doc", "u1"), ("two", "u3")] and len(drops) == 1
    wrong = write_parquet(tmp_path / "wrong.parquet", {"title": ["x"], "n": [1]})
    _, _, status = read(wrong, text_field="content")
    assert status.status == "unreadable" and "no column 'content'" in status.error
    typed = write_parquet(tmp_path / "typed.parquet", {"content": [1, 2]})
    assert "not a string" in read(typed, text_field="content")[2].error


def test_warc_keeps_html_and_text_and_drops_other_payloads(tmp_path: Path) -> None:
    path = write_warc(tmp_path / "crawl.warc.gz", [
        ("http://a.example/", html_page("Main article text.").encode(), "text/html; charset=utf-8"),
        ("http://b.example/robots.txt", b"User-agent: *", "text/plain"),
        ("http://c.example/logo.png", b"\x89PNG\r\n\x1a\n\x00\x00binary", "image/png"),
    ])
    docs, drops, status = read(path)
    assert status.format == "warc" and status.records == 3  # warcinfo and request records are not documents
    assert [(d.content_type, d.url) for d in docs] == [("html", "http://a.example/"),
                                                      ("text", "http://b.example/robots.txt")]
    assert docs[0].date == "2024-05-01T12:00:00Z" and docs[0].record_id.startswith("<urn:uuid:")
    assert [d.reason for d in drops] == ["unsupported_content_type"]


def test_wet_conversion_records(tmp_path: Path) -> None:
    path = write_wet(tmp_path / "crawl.warc.wet.gz", [("http://a/", "Plain extracted text."), ("http://b/", " ")])
    docs, drops, status = read(path)
    assert [d.text for d in docs] == ["Plain extracted text."] and [d.reason for d in drops] == ["empty"]
    assert status.format == "warc"


def test_wiki_dump_articles_and_redirects(tmp_path: Path) -> None:
    path = write_wiki(tmp_path / "enwiki-pages-articles.xml.bz2", [
        ("Anarchism", "0", "'''Anarchism''' is a [[political philosophy]]."),
        ("Old name", "0", "#REDIRECT [[Anarchism]]"),
        ("Talk:Anarchism", "1", "talk page"),
    ])
    docs, drops, status = read(path)
    assert status.format == "wiki" and status.records == 3
    assert "political philosophy" in docs[0].text and "[[" not in docs[0].text and docs[0].url == "Anarchism"
    assert sorted(d.reason for d in drops) == ["empty", "wiki_redirect"]


def test_html_file_is_one_document(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(html_page(prose(3)))
    docs, _, status = read(path)
    assert status.format == "html" and docs[0].content_type == "html" and "<p>" in docs[0].text


def test_truncated_gzip_reports_records_before_the_damage(tmp_path: Path) -> None:
    path = truncated_gzip(tmp_path / "cut.txt.gz", "".join(f"line number {i}\n" for i in range(20000)))
    docs, _, status = read(path)
    assert status.status == "truncated" and status.records == len(docs) > 0 and "EOFError" in status.error


def test_gzip_with_bad_header_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt.gz"
    path.write_bytes(b"\x1f\x8b\x07garbage that is not deflate at all")
    _, _, status = read(path)
    assert status.status == "unreadable" and status.records == 0 and status.error


def test_invalid_utf8_and_binary(tmp_path: Path) -> None:
    mixed = tmp_path / "mixed.txt"
    mixed.write_bytes(b"caf\xe9 au lait is nice\n" + bytes(range(128, 256)) + b"\n")
    docs, drops, _ = read(mixed)
    assert docs[0].text.startswith("caf ") and [d.reason for d in drops] == ["invalid_utf8"]
    binary = tmp_path / "image.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    _, _, status = read(binary)
    assert status.status == "unreadable" and "binary" in status.error


def test_empty_file_and_overlong_line(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    assert read(tmp_path / "empty.txt")[2] == FileStatus(str(tmp_path / "empty.txt"), "ok", 0, "text")
    long = tmp_path / "long.txt"
    long.write_bytes(b"short line\n" + b"word " * 300 + b"\nafter\n")
    docs, drops, status = read(long, max_record_bytes=1000)
    assert [d.text.strip() for d in docs] == ["short line", "after"] and [d.reason for d in drops] == [
        "record_too_long"] and status.records == 3


def test_detect_input_format_by_content_then_name(tmp_path: Path) -> None:
    (tmp_path / "a.data").write_text('{"text": "x"}\n')
    (tmp_path / "b.txt").write_text("<!DOCTYPE html><html></html>")
    (tmp_path / "c").write_text("plain")
    write_warc(tmp_path / "d.bin", [], gzip_members=False)
    write_parquet(tmp_path / "e.dat", {"text": ["x"]})
    found = {p.name: detect_input_format(str(p), {}) for p in sorted(tmp_path.iterdir())}
    assert found == {"a.data": "jsonl", "b.txt": "html", "c": "text", "d.bin": "warc", "e.dat": "parquet"}


def test_inputs_expand_dirs_globs_file_urls_and_refuse_missing(tmp_path: Path) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    for name in ("d/a.txt", "d/sub/b.txt", "d/_SUCCESS", "d/.hidden", "c.txt"):
        (tmp_path / name).write_text("x\n")
    (tmp_path / "empty").mkdir()
    files = list_input_files([str(tmp_path / "d"), f"file://{tmp_path}/c.txt", str(tmp_path / "d" / "*.txt")], {})
    assert sorted(Path(f).name for f in files) == ["a.txt", "b.txt", "c.txt"]
    assert [len(loc.files) for loc in expand_inputs([str(tmp_path / "empty")], {})] == [0]
    # Bookkeeping names are skipped in listings, but a file named on its own is read.
    (tmp_path / "_notes.txt").write_text("x\n")
    assert [Path(f).name for f in list_input_files([str(tmp_path / "_notes.txt")], {})] == ["_notes.txt"]
    with pytest.raises(InputError, match="does not exist"):
        list_input_files([str(tmp_path / "nope")], {})
    with pytest.raises(InputError, match="no file matches"):
        list_input_files([str(tmp_path / "*.none")], {})


def test_a_directory_lists_what_a_recursive_glob_finds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The listing walks directories itself (``os.scandir``): it must find what ``rglob`` and ``is_file``
    did. Hidden and underscore directories are entered (only a file's own name is bookkeeping), a link to
    a file is a file, a link to a directory is not entered, a broken link, a loop of links and an empty
    directory hold nothing."""
    for name in ("in/a.txt", "in/.cache/b.txt", "in/_tmp/c.txt", "in/d/e/f.txt", "in/.hidden", "in/_SUCCESS",
                 "other/g.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x\n")
    (tmp_path / "in" / "to-dir").symlink_to(tmp_path / "other", target_is_directory=True)
    (tmp_path / "in" / "to-file").symlink_to(tmp_path / "other" / "g.txt")
    (tmp_path / "in" / "broken").symlink_to(tmp_path / "missing")
    (tmp_path / "in" / "loop-a").symlink_to(tmp_path / "in" / "loop-b")
    (tmp_path / "in" / "loop-b").symlink_to(tmp_path / "in" / "loop-a")
    (tmp_path / "in" / "empty").mkdir()
    expected = [str(tmp_path / n) for n in ("in/.cache/b.txt", "in/_tmp/c.txt", "in/a.txt", "in/d/e/f.txt",
                                            "other/g.txt")]
    globbed = (p for p in (tmp_path / "in").rglob("*") if p.is_file() and not p.name.startswith((".", "_")))
    assert sorted(str(p.resolve()) for p in globbed) == expected
    assert LocalFileSystem().expand(str(tmp_path / "in")) == expected
    monkeypatch.chdir(tmp_path)
    assert LocalFileSystem().expand("in") == LocalFileSystem().expand("./in/") == expected


def test_listed_files_are_their_resolved_paths_through_links_and_dot_dots(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Directories are resolved once per listing, not per file: the paths must still be each file's own
    ``resolve()``, whether the file, its directory or the path given goes through a link or a ``..``, and
    whether a link is absolute, relative, through a ``..``, or to another link."""
    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    for name in ("real/a.txt", "real/sub/b.txt", "elsewhere/target.txt", "elsewhere/far.txt"):
        (tmp_path / name).write_text("x\n")
    (tmp_path / "real" / "link.txt").symlink_to(tmp_path / "elsewhere" / "target.txt")
    (tmp_path / "alias").symlink_to(tmp_path / "real", target_is_directory=True)
    (tmp_path / "elsewhere" / "hop.txt").symlink_to("../alias/sub/../../elsewhere/far.txt")  # relative, via a link
    (tmp_path / "real" / "sub" / "chain.txt").symlink_to("../../elsewhere/hop.txt")  # a link to a link
    monkeypatch.chdir(tmp_path / "elsewhere")
    for location, found in (("../alias", Path("../alias").rglob("*")),
                            (str(tmp_path / "alias" / "*.txt"), (tmp_path / "alias").glob("*.txt")),
                            (str(tmp_path / "alias") + "/**/*.txt", (tmp_path / "alias").glob("**/*.txt"))):
        expected = sorted(str(p.resolve()) for p in found if p.is_file())
        assert LocalFileSystem().expand(location) == expected and len(expected) >= 2
    listed = LocalFileSystem().expand("../alias")
    assert {str(tmp_path / "elsewhere" / name) for name in ("target.txt", "far.txt")} <= set(listed)


def test_remote_urls_route_to_fsspec_and_listed_files_keep_the_scheme_given() -> None:
    """HDFS and GCS cannot run here: this checks only which file system serves a URL and how a
    listed path becomes a URL again (with fsspec's own path rules); S3 runs for real in test_prepare_s3.py."""
    from fsspec import get_filesystem_class

    assert isinstance(filesystem_for("/data/x.txt", {}), LocalFileSystem)
    assert isinstance(filesystem_for("file:///data/x.txt", {}), LocalFileSystem)
    for url in ("s3://lake/x", "s3a://lake/x", "gs://lake/x", "hdfs://namenode:8020/x"):
        assert filesystem_for(url, {"endpoint_url": "http://127.0.0.1:9"}) == RemoteFileSystem(
            {"endpoint_url": "http://127.0.0.1:9"})
    assert "endpoint_url" not in repr(RemoteFileSystem({"endpoint_url": "x"}))  # options may hold credentials
    # (protocol, location, a file fsspec lists under it, that file's URL)
    for protocol, url, listed, expected in [
            ("s3", "s3a://lake/raw/", "lake/raw/a.txt", "s3a://lake/raw/a.txt"),
            ("s3", "s3://lake/raw/*.gz", "lake/raw/b.gz", "s3://lake/raw/b.gz"),
            ("hdfs", "hdfs://namenode:8020/raw", "/raw/a.txt", "hdfs://namenode:8020/raw/a.txt"),
            ("hdfs", "hdfs:///raw", "/raw/a.txt", "hdfs:///raw/a.txt")]:
        assert url_prefix(url, get_filesystem_class(protocol)._strip_protocol(url)) + listed == expected


def test_an_unusable_remote_url_is_a_one_line_error() -> None:
    with pytest.raises(ConfigError, match="zzz"):
        list_input_files(["zzz://bucket/x"], {})
    # No libhdfs/JVM here (or no name node): either way one line, no traceback.
    with pytest.raises(ShardvecError) as hdfs:
        list_input_files(["hdfs://namenode:8020/corpus"], {})
    assert "hdfs://namenode:8020/corpus" in str(hdfs.value) and "\n" not in str(hdfs.value)
    if importlib.util.find_spec("gcsfs") is None:
        with pytest.raises(EnvironmentProblem, match="gcsfs"):
            list_input_files(["gs://bucket/x"], {})
    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    with pytest.raises(InputError, match="^input s3a://lake/x cannot be listed: [^\n]+$"):
        list_input_files(["s3a://lake/x"], {"endpoint_url": f"http://127.0.0.1:{dead}",
                                            "config_kwargs": {"retries": {"max_attempts": 1}}})
