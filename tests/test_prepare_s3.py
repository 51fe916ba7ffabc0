"""prepare against a real S3 API (moto's server on loopback), on the session's real Spark.

The Spark executors' Python readers read the s3a:// inputs through s3fs,
with the storage options carried in the reader settings; the corpus is
staged locally and uploaded to s3://. It must be the corpus the same input
gives when prepared from and to local paths.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from helpers import BUCKET, inline_table, write_lines
from prepare_helpers import PROSE, prose, truncated_gzip, write_jsonl

from shardvec.cli import main
from shardvec.storage import Store

ROOT = f"{BUCKET}/prepare"  # this file's part of the session's bucket
# Credentials given as storage options must reach the executors and never the manifest.
KEY, SECRET = "AKIDSHARDVECTEST", "shardvec-s3cr3t"
FLAGS = ["--shards", "2", "--min-count", "2"]


def write_inputs(raw: Path) -> Path:
    """Plain text, gzip in a subdirectory, JSONL with bad records, a truncated gzip and bookkeeping files."""
    write_lines(raw / "news.txt", [*PROSE, "", prose(3, seed=1)])
    (raw / "more").mkdir()
    (raw / "more" / "feed.txt.gz").write_bytes(gzip.compress("\n".join(reversed(PROSE)).encode()))
    write_jsonl(raw / "docs.jsonl", [{"text": prose(2, seed=2), "id": "j1"}, "{not json", {"id": "j3"}])
    truncated_gzip(raw / "cut.txt.gz", "\n".join(prose(2, seed=i) for i in range(400)))
    (raw / "_SUCCESS").write_text("")
    (raw / ".hidden").write_text("skipped\n")
    return raw


def options_flag(s3: dict[str, str]) -> list[str]:
    return ["--set", f"storage.options={inline_table({**s3, 'key': KEY, 'secret': SECRET})}"]


def relative(path: str, root: str) -> str:
    assert path.startswith(root), (path, root)
    return path[len(root):]


def test_prepare_from_s3a_to_s3_gives_the_local_corpus(spark, s3: dict[str, str], tmp_path: Path) -> None:
    raw = write_inputs(tmp_path / "raw")
    lake = Store(f"s3://{ROOT}", s3)
    (lake / "raw").upload_dir(raw)
    (lake / "corpus" / "stale.parquet").write_bytes(b"left by an earlier run")
    staging = tmp_path / "staging"

    # The local reference run skips the lineage, which is only checked remotely.
    assert main(["prepare", "--input", str(raw), "--output", str(tmp_path / "local"), *FLAGS,
                 "--set", "prepare.lineage=false"]) == 0
    assert main(["prepare", "--input", f"s3a://{ROOT}/raw", "--output", f"s3://{ROOT}/corpus", "--overwrite",
                 "--set", f"prepare.staging_dir={staging}", *FLAGS, *options_flag(s3)]) == 0

    corpus, local = lake / "corpus", tmp_path / "local"
    # --overwrite replaced the earlier output (stale.parquet is gone); the corpus is complete.
    assert set(corpus.listdir()) == {"_SUCCESS", "manifest.json", "vocab.parquet", "vocab.tsv", "shards", "lineage"}
    assert list(staging.iterdir()) == []  # the staged copy is gone once uploaded
    manifest = (corpus / "manifest.json").read_json()
    expected = json.loads((local / "manifest.json").read_text())

    # Every record accounted for, per file, with the damaged file reported as such; paths as given (s3a://).
    records = manifest["records"]
    assert records["in"] == records["kept"] + sum(records["dropped"].values()) > 0
    assert manifest["input_locations"] == [{"location": f"s3a://{ROOT}/raw", "files": 4}]
    by_file = {relative(e["path"], f"s3a://{ROOT}/raw/"): e for e in manifest["inputs"]}
    assert {name: e["status"] for name, e in by_file.items()} == {
        "news.txt": "ok", "more/feed.txt.gz": "ok", "docs.jsonl": "ok", "cut.txt.gz": "truncated"}
    assert by_file["cut.txt.gz"]["records"] > 0 and "EOFError" in by_file["cut.txt.gz"]["error"]
    assert by_file["docs.jsonl"]["dropped"] == {"malformed_json": 1, "missing_text_field": 1}
    local_by_file = {relative(e["path"], f"{raw}/"): e for e in expected["inputs"]}
    assert {n: {k: v for k, v in e.items() if k != "path"} for n, e in by_file.items()} == {
        n: {k: v for k, v in e.items() if k != "path"} for n, e in local_by_file.items()}
    for key in ("records", "sentences", "tokens", "shards", "vocab"):
        assert manifest[key] == expected[key], key

    # The same tokens, shard by shard, and the same vocabulary.
    for shard in manifest["shards"]:
        remote_rows = pq.read_table(io.BytesIO((corpus / "shards" / shard["file"]).read_bytes())).to_pylist()
        assert remote_rows == pq.read_table(local / "shards" / shard["file"]).to_pylist()
    assert (corpus / "vocab.tsv").read_bytes() == (local / "vocab.tsv").read_bytes()
    lineage = [pq.read_table(io.BytesIO((corpus / "lineage" / name).read_bytes())).to_pylist()
               for name in (corpus / "lineage").listdir()]
    sources = [row["source"] for part in lineage for row in part]
    assert len(sources) == records["in"] and all(s.startswith(f"s3a://{ROOT}/raw/") for s in sources)

    # The options reached the executors (their reads above went to this endpoint); credentials are redacted.
    assert manifest["config"]["storage"]["options"] == {**s3, "key": "***", "secret": "***"}
    text = (corpus / "manifest.json").read_bytes().decode()
    assert KEY not in text and SECRET not in text


def test_remote_refusals_are_one_line_and_leave_the_output_alone(spark, s3: dict[str, str], tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    lake = Store(f"s3://{ROOT}", s3)
    (lake / "in" / "a.txt").write_bytes("\n".join(PROSE).encode())
    truncated_gzip(tmp_path / "cut.txt.gz", "\n".join(prose(2, seed=i) for i in range(400)))
    (lake / "in" / "cut.txt.gz").put_file(tmp_path / "cut.txt.gz")
    (lake / "taken" / "manifest.json").write_json({"schema": "shardvec.corpus/1"})
    (lake / "taken" / "_SUCCESS").write_bytes(b"")
    staging = tmp_path / "staging"
    common = ["--set", f"prepare.staging_dir={staging}", *options_flag(s3)]

    def error(args: list[str]) -> str:
        capsys.readouterr()
        assert main(["prepare", *args, *common]) == 2
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.startswith("shardvec:")]
        assert len(lines) == 1 and "Traceback" not in err, err
        return lines[0]

    for missing in (f"s3a://{ROOT}/nope", "s3a://no-such-bucket/raw"):
        assert error(["--input", missing, "--output", f"s3://{ROOT}/out"]) == \
            f"shardvec: error: input {missing} does not exist"
    assert "exists and is not empty; pass --overwrite" in error(
        ["--input", f"s3a://{ROOT}/in", "--output", f"s3://{ROOT}/taken"])
    # A run that fails after reading leaves the previous output, and no staged copy, behind.
    assert "damaged input file" in error(["--input", f"s3a://{ROOT}/in", "--output", f"s3://{ROOT}/taken",
                                          "--overwrite", "--fail-on-bad-input"])
    assert (lake / "taken").listdir() == ["_SUCCESS", "manifest.json"]
    assert not (lake / "out").exists() and list(staging.iterdir()) == []
