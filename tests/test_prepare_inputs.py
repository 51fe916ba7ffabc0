"""prepare on real local Spark over every input format and every kind of bad input, in one run."""

from __future__ import annotations

import gzip
import bz2
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import zstandard
from helpers import manifest, prepared_corpus, write_lines
from prepare_helpers import (html_page, prose, truncated_gzip, write_jsonl, write_parquet, write_warc, write_wet,
                             write_wiki)

from shardvec import api
from shardvec.cli import main
from shardvec.config import Config

LINES = [prose(2, seed=i) for i in range(40)]


def assert_accounting(m: dict) -> None:
    """Every input record is kept or dropped with a reason, per file and in total."""
    r = m["records"]
    assert r["in"] == r["kept"] + sum(r["dropped"].values())
    for entry in m["inputs"]:
        assert entry["records"] == entry["kept"] + sum(entry["dropped"].values()), entry
    assert r["in"] == sum(e["records"] for e in m["inputs"])


def make_inputs(raw: Path) -> None:
    text = "".join(line + "\n" for line in LINES).encode()
    write_lines(raw / "plain.txt", LINES)
    (raw / "lines.txt.gz").write_bytes(gzip.compress(text))
    (raw / "lines.txt.bz2").write_bytes(bz2.compress(text))
    (raw / "lines.txt.zst").write_bytes(zstandard.ZstdCompressor().compress(text))
    write_jsonl(raw / "docs.jsonl", [{"text": prose(4, 1), "id": "j1", "url": "http://j/1", "date": "2024-02-03"},
                                     "{broken json", {"title": "no text field"}, {"text": prose(3, 2)}])
    write_parquet(raw / "table.parquet", {"text": [prose(3, 3), prose(3, 4), ""]})
    write_parquet(raw / "wrong_schema.parquet", {"title": ["a"], "views": [3]})
    write_warc(raw / "crawl.warc.gz", [
        ("http://news.example/a", html_page(prose(5, 5), "News").encode(), "text/html"),
        ("http://news.example/logo.png", b"\x89PNG\r\n\x1a\n\x00binary", "image/png"),
    ])
    write_wet(raw / "crawl.warc.wet.gz", [("http://wet.example/", prose(4, 6))])
    write_wiki(raw / "wiki-pages-articles.xml.bz2",
               [("History", "0", prose(4, 7)), ("Alias", "0", "#REDIRECT [[History]]")])
    (raw / "page.html").write_text(html_page(prose(4, 8), "Docs"))
    truncated_gzip(raw / "truncated.txt.gz", "".join(line + "\n" for line in LINES * 200))
    (raw / "bad_header.txt.gz").write_bytes(b"\x1f\x8b\x07not really gzip at all")
    (raw / "invalid_utf8.txt").write_bytes(b"caf\xe9 is a word in this line\n" + bytes(range(128, 256)) + b"\n")
    (raw / "binary.dat").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 16)
    (raw / "empty.txt").write_bytes(b"")
    with (raw / "one_line_50mb.txt").open("wb") as fh:
        chunk = (prose(40) + " ").encode()
        for _ in range(50 * 2 ** 20 // len(chunk) + 1):
            fh.write(chunk)


@pytest.fixture(scope="module")
def corpus(spark, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("inputs")
    make_inputs(root / "raw")
    (root / "empty_dir").mkdir()
    cfg = Config()
    cfg.spark.master, cfg.vocab.min_count = "local[2]", 1
    return prepared_corpus(cfg, [f"file://{root / 'raw'}", str(root / "empty_dir")], root / "out", shards=4)


def by_name(m: dict) -> dict[str, dict]:
    return {Path(e["path"]).name: e for e in m["inputs"]}


def test_every_format_is_read(corpus: Path) -> None:
    m = manifest(corpus)
    assert_accounting(m)
    files = by_name(m)
    expected = {"plain.txt": "text", "lines.txt.gz": "text", "lines.txt.bz2": "text", "lines.txt.zst": "text",
                "docs.jsonl": "jsonl", "table.parquet": "parquet", "crawl.warc.gz": "warc",
                "crawl.warc.wet.gz": "warc", "wiki-pages-articles.xml.bz2": "wiki", "page.html": "html"}
    for name, fmt in expected.items():
        assert files[name]["format"] == fmt and files[name]["status"] == "ok", files[name]
    for name in ("plain.txt", "lines.txt.gz", "lines.txt.bz2", "lines.txt.zst"):
        assert files[name]["kept"] == 40
    assert files["docs.jsonl"]["dropped"] == {"malformed_json": 1, "missing_text_field": 1}
    assert files["table.parquet"]["dropped"] == {"empty": 1} and files["table.parquet"]["kept"] == 2
    assert files["crawl.warc.gz"] == {**files["crawl.warc.gz"], "records": 2, "kept": 1,
                                      "dropped": {"unsupported_content_type": 1}}
    assert files["wiki-pages-articles.xml.bz2"]["dropped"] == {"wiki_redirect": 1}
    assert m["input_locations"][1] == {"location": str(corpus.parent / "empty_dir"), "files": 0}


def test_every_bad_input_is_counted_and_reported(corpus: Path) -> None:
    files = by_name(manifest(corpus))
    cut = files["truncated.txt.gz"]
    assert cut["status"] == "truncated" and 0 < cut["records"] == cut["kept"] and "EOFError" in cut["error"]
    for name in ("bad_header.txt.gz", "binary.dat"):
        assert files[name]["status"] == "unreadable" and files[name]["records"] == 0 and files[name]["error"]
    assert files["wrong_schema.parquet"]["status"] == "unreadable"
    assert "no column 'text'" in files["wrong_schema.parquet"]["error"]
    assert files["invalid_utf8.txt"]["kept"] == 1 and files["invalid_utf8.txt"]["dropped"] == {"invalid_utf8": 1}
    assert files["empty.txt"] == {**files["empty.txt"], "status": "ok", "records": 0}
    assert files["one_line_50mb.txt"]["dropped"] == {"record_too_long": 1}


def test_html_is_reduced_to_main_text_and_lineage_keeps_ids(corpus: Path) -> None:
    tokens = {t for p in (corpus / "shards").glob("*.parquet") for s in pq.read_table(p).column(0).to_pylist()
              for t in s}
    assert "tracking" not in tokens and "copyright" not in tokens and "farmers" in tokens
    lineage = pq.read_table(corpus / "lineage").to_pylist()
    m = manifest(corpus)
    assert len(lineage) == m["records"]["in"] and len({r["doc_id"] for r in lineage}) == len(lineage)
    jsonl = next(r for r in lineage if r["record_id"] == "j1")
    assert (jsonl["url"], jsonl["date"], jsonl["reason"]) == ("http://j/1", "2024-02-03", None)
    warc = [r for r in lineage if r["source"].endswith("crawl.warc.gz")]
    assert {r["url"] for r in warc} == {"http://news.example/a", "http://news.example/logo.png"}
    assert {r["reason"] for r in warc} == {None, "unsupported_content_type"}
    # One file per task that had records, renamed in task order; the tasks' own files are gone.
    assert sorted(p.name for p in (corpus / "lineage").iterdir()) == [f"part-{i:05d}.parquet" for i in
                                                                      range(m["lineage"]["files"])]
    assert not (corpus / "_lineage").exists()


def test_shards_are_balanced_by_tokens(corpus: Path) -> None:
    shards = manifest(corpus)["shards"]
    tokens = [s["tokens"] for s in shards]
    assert len(tokens) == 4 and max(tokens) - min(tokens) <= 0.02 * sum(tokens) / 4, tokens
    counts: Counter[str] = Counter()
    for spec in shards:
        table = pq.read_table(corpus / "shards" / spec["file"])
        assert sum(len(t) for t in table.column("tokens").to_pylist()) == spec["tokens"]
        assert table.num_rows == spec["sentences"]
        counts.update(w for t in table.column("tokens").to_pylist() for w in t)
    # The vocabulary is summed from per-task counts: it must equal a count over the shards.
    vocab = pq.read_table(corpus / "vocab.parquet").to_pylist()
    assert {r["word"]: r["count"] for r in vocab} == dict(counts) and sum(counts.values()) == sum(tokens)


def test_without_lineage_the_workers_sum_the_fates_and_the_manifest_is_the_same(corpus: Path, tmp_path: Path) -> None:
    """With lineage off no task writes a lineage file: the same accounting and shards as with it."""
    raw = corpus.parent / "raw"
    inputs = sorted(str(p) for p in raw.iterdir() if p.name != "one_line_50mb.txt")
    cfg = Config()
    cfg.spark.master, cfg.vocab.min_count, cfg.prepare.lineage = "local[2]", 1, False
    m = manifest(prepared_corpus(cfg, inputs, tmp_path / "out", shards=2))
    assert_accounting(m)
    assert "lineage" not in m and not (tmp_path / "out" / "lineage").exists()
    with_lineage = by_name(manifest(corpus))
    assert {name: entry for name, entry in by_name(m).items()} == {
        name: entry for name, entry in with_lineage.items() if name != "one_line_50mb.txt"}
    counts: Counter[str] = Counter()
    for spec in m["shards"]:
        counts.update(w for t in pq.read_table(tmp_path / "out" / "shards" / spec["file"]).column("tokens").to_pylist()
                      for w in t)
    vocab = pq.read_table(tmp_path / "out" / "vocab.parquet").to_pylist()
    assert {r["word"]: r["count"] for r in vocab} == dict(counts) and sum(counts.values()) == m["tokens"]


def test_missing_path_existing_output_and_bad_input_flag_exit_2(corpus: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prepare", "--input", str(tmp_path / "nope"), "--output", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["prepare", "--input", str(corpus.parent / "raw" / "plain.txt"), "--output", str(corpus)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    raw = corpus.parent / "raw"
    args = ["prepare", "--input", str(raw / "plain.txt"), str(raw / "bad_header.txt.gz"), "--output",
            str(tmp_path / "strict"), "--master", "local[2]", "--fail-on-bad-input"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "damaged input" in err and "Traceback" not in err
    assert not (tmp_path / "strict").exists() and not list(tmp_path.glob(".strict.*"))


def test_a_failed_run_leaves_nothing_that_looks_complete(config: Config, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import shardvec.spark.prepare_job as prepare_job

    def crash(*args, **kwargs):
        raise RuntimeError("simulated crash while writing shards")

    monkeypatch.setattr(prepare_job, "write_balanced_shards", crash)
    config.prepare.input = [str(write_lines(tmp_path / "in.txt", LINES))]
    config.prepare.output = str(tmp_path / "out")
    with pytest.raises(RuntimeError, match="simulated crash"):
        api.prepare(config)
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_one_file_bigger_than_a_cores_share_is_spread_after_reading(spark, tmp_path: Path) -> None:
    from shardvec.spark.prepare_job import file_groups, input_work

    small = [str(write_lines(tmp_path / f"s{i}.txt", LINES)) for i in range(8)]
    big = tmp_path / "big.txt.gz"
    big.write_bytes(gzip.compress(b"x" * 1000) + b"\0" * (3 << 20))  # 3 MiB stored, about 12 MiB of work
    for files, balanced in ((small, True), ([*small, str(big)], False)):
        groups = file_groups(spark, input_work(files, {}))
        paths = groups.frame.mapInArrow(groups.paths_step, "path string")
        # Partition i holds group i's files, in order: the order the shards follow.
        assert [[r.path for r in p] for p in paths.rdd.glom().collect()] == groups.listing.value
        assert sorted(p for group in groups.listing.value for p in group) == sorted(files) and all(groups.listing.value)
        assert groups.balanced is balanced
        groups.listing.destroy()


def test_a_files_work_is_judged_by_its_magic_only_where_big_and_not_named_compressed(tmp_path: Path,
                                                                                      monkeypatch) -> None:
    """Compressed text counts four times its size; only a file of a megabyte or more without a compressed
    suffix is opened to tell (each open is a request on an object store, and the driver does them all)."""
    import os

    from shardvec.readers import fs
    from shardvec.spark import prepare_job

    files = {"dump": gzip.compress(os.urandom(1 << 20)), "a.txt.gz": gzip.compress(b"a\n" * 50),
             "A.TGZ": gzip.compress(b"A\n" * 50), "b.txt": b"b\n" * 50, "c.txt": b"c\n" * (1 << 20),
             "d.bin": gzip.compress(b"d\n" * 50)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    opened: list[str] = []
    head = fs.LocalFileSystem.head
    monkeypatch.setattr(fs.LocalFileSystem, "head", lambda self, path, n: opened.append(Path(path).name) or
                        head(self, path, n))
    work = {name: prepare_job._work_estimate(str(tmp_path / name), {}) for name in files}
    assert work == {name: len(data) * (1 if name in ("b.txt", "c.txt", "d.bin") else 4) for name, data in files.items()}
    assert sorted(opened) == ["c.txt", "dump"]
