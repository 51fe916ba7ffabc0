"""prepare on real local Spark with cleaning on: quality rules, language id, PII, mojibake, number
folding; and the same run again is identical (determinism, --overwrite)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from helpers import manifest
from prepare_helpers import prose, write_jsonl
from test_prepare_inputs import assert_accounting

from shardvec.cli import main
from shardvec.config import Config

GERMAN = ("Die Kinder spielen im Garten, während die Eltern in der Küche das Abendessen vorbereiten. "
          "Später gehen alle zusammen in den Park und sprechen über den Tag. ") * 5


def cleaning_config(inputs: list[str], output: Path) -> Config:
    cfg = Config()
    cfg.spark.master, cfg.vocab.min_count = "local[2]", 1
    p = cfg.prepare
    p.quality.enabled, p.quality.min_doc_words, p.quality.max_doc_words = True, 30, 400
    p.languages, p.mask_pii, p.fold_numbers = ["en"], ["email", "ip", "phone"], True
    p.input, p.output, p.shards = inputs, str(output), 3
    return cfg


@pytest.fixture(scope="module")
def corpus(spark, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cleaning")
    docs = [{"text": prose(6, seed=i)} for i in range(20)]
    docs += [
        {"text": prose(6, 50) + " Contact jane.doe@example.org or +44 20 7946 0958 from 10.0.0.12 today."},
        {"text": prose(6, 51) + " The Mona Lisa doesnâ€™t have eyebrows, they say."},
        {"text": prose(6, 52) + " In 1984 the bridge cost 250000 pounds."},
        {"text": "Too short to keep."},
        {"text": GERMAN},
        {"text": prose(6, 53) + " #seo" * 40},
        {"text": prose(6, 54) + " 1234 5678 9012 3456 7890" * 40},
        {"text": prose(30, 55)},
        {"text": "The extraordinarily incomprehensible characteristically uncharacteristic internationalization "
                 "of the counterrevolutionaries was and is disproportionately overrepresented. " * 4},
        {"text": "\n".join(prose(2, seed=60 + i) + " and then..." for i in range(4))},
        {"text": "Cheap shoes online, discount boots sale, best price sneakers, free shipping, winter jackets "
                 "clearance, running shoes deals. " * 6},
    ]
    path = write_jsonl(root / "docs.jsonl", docs)
    from shardvec import api

    return api.prepare(cleaning_config([str(path)], root / "out"))


def shard_tokens(corpus: Path) -> list[list[str]]:
    return [s for p in sorted((corpus / "shards").glob("*.parquet")) for s in pq.read_table(p).column(0).to_pylist()]


def test_quality_and_language_drops_have_reasons(corpus: Path) -> None:
    m = manifest(corpus)
    assert_accounting(m)
    assert m["records"]["dropped"] == {"too_few_words": 1, "too_many_words": 1, "mean_word_length": 1,
                                       "ellipsis_lines": 1, "wrong_language": 1, "symbol_word_ratio": 1,
                                       "alpha_word_share": 1, "few_stop_words": 1}
    assert m["records"]["kept"] == 23


def test_pii_is_masked_mojibake_repaired_and_numbers_folded(corpus: Path) -> None:
    words = {t for s in shard_tokens(corpus) for t in s}
    assert {"<email>", "<phone>", "<ip>", "doesn’t", "0000", "000000"} <= words
    assert not any("@" in w or "â" in w or any(c in "123456789" for c in w) for w in words)


def test_same_input_and_config_give_the_same_corpus_and_overwrite_replaces(corpus: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    again.mkdir()
    (again / "stale.txt").write_text("from an earlier run")
    args = ["prepare", "--input", *manifest(corpus)["config"]["prepare"]["input"], "--output", str(again),
            "--master", "local[2]", "--quality", "--languages", "en", "--mask-pii", "email", "ip", "phone",
            "--fold-numbers", "--min-count", "1", "--shards", "3", "--set", "prepare.quality.min_doc_words=30",
            "--set", "prepare.quality.max_doc_words=400"]
    assert main(args) == 2  # not empty: refused without --overwrite
    assert main([*args, "--overwrite"]) == 0
    assert not (again / "stale.txt").exists() and (again / "_SUCCESS").is_file()
    assert shard_tokens(again) == shard_tokens(corpus)
    assert manifest(again)["shards"] == manifest(corpus)["shards"]
    assert (again / "vocab.tsv").read_text() == (corpus / "vocab.tsv").read_text()
