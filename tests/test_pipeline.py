"""End-to-end contracts of prepare -> train -> evaluate on real Spark and Dask."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from gensim.models import KeyedVectors
from gensim.test.utils import datapath
from helpers import gensim_data, manifest, prepared_corpus, small_config, write_lines
from scipy.stats import spearmanr

from shardvec import api
from shardvec.cli import main
from shardvec.corpus import Vocab
from shardvec.errors import InputError
from shardvec.train.rules import RULES


@pytest.fixture(scope="module")
def corpus(spark, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    extra = write_lines(root / "in" / "extra.txt", ["The cat sat on the mat. The dog sat on the log.", "", "x"])
    return prepared_corpus(small_config(), [gensim_data("lee_background.cor"), str(extra)], root / "out")


def test_prepare_writes_the_corpus_contract(corpus: Path) -> None:
    assert (corpus / "_SUCCESS").is_file()
    m = manifest(corpus)
    assert m["schema"] == "shardvec.corpus/1"
    assert {"inputs", "records", "sentences", "tokens", "shards", "vocab", "config", "versions", "seed"} <= set(m)
    r = m["records"]
    assert r["in"] == 300 + 3 and r["in"] == r["kept"] + sum(r["dropped"].values())
    # The empty line and the one-word line are dropped, each with its reason.
    assert r["dropped"] == {"empty": 1, "no_sentences": 1}
    by_file = {Path(i["path"]).name: i for i in m["inputs"]}
    assert by_file["extra.txt"]["kept"] == 1 and by_file["lee_background.cor"]["kept"] == 300
    assert all(i["status"] == "ok" for i in m["inputs"])

    shard_files = sorted((corpus / "shards").glob("*.parquet"))
    assert [s["file"] for s in m["shards"]] == [p.name for p in shard_files] and len(shard_files) == 2
    total = 0
    for spec, path in zip(m["shards"], shard_files):
        table = pq.read_table(path)
        assert table.schema.field("tokens").type.value_type == pa.string()
        tokens = sum(len(t) for t in table.column("tokens").to_pylist())
        assert tokens == spec["tokens"] and table.num_rows == spec["sentences"]
        total += tokens
    assert total == m["tokens"]

    vocab = Vocab.read(corpus / "vocab.parquet")
    counts = vocab.counts.tolist()
    keys = [(-c, w) for w, c in zip(vocab.words, counts)]
    assert keys == sorted(keys) and min(counts) >= 2 and len(vocab) == m["vocab"]["size"]
    tsv = (corpus / "vocab.tsv").read_text().splitlines()
    assert tsv[0] == f"{vocab.words[0]}\t{counts[0]}" and len(tsv) == len(vocab)
    # Vocabulary counts are true counts over the shards.
    all_tokens = [t for p in shard_files for s in pq.read_table(p).column("tokens").to_pylist() for t in s]
    assert counts[0] == all_tokens.count(vocab.words[0])


def test_prepare_refuses_existing_output_and_missing_input(corpus: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prepare", "--input", gensim_data("lee_background.cor"), "--output", str(corpus)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert main(["prepare", "--input", str(tmp_path / "nope.txt"), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "nope.txt does not exist" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_train_refuses_an_unfinished_corpus(corpus: Path, tmp_path: Path) -> None:
    half = tmp_path / "half"
    half.mkdir()
    (half / "manifest.json").write_text((corpus / "manifest.json").read_text())
    cfg = small_config()
    cfg.train.corpus, cfg.train.output = str(half), str(tmp_path / "v")
    with pytest.raises(InputError, match="no _SUCCESS marker"):
        api.train(cfg)
    (half / "_SUCCESS").touch()
    (half / "manifest.json").write_text(json.dumps({"schema": "shardvec.corpus/0"}))
    with pytest.raises(InputError, match="schema 'shardvec.corpus/0'"):
        api.train(cfg)


@pytest.mark.parametrize("merge", sorted(RULES))
def test_train_each_merge_mode_writes_loadable_vectors(corpus: Path, tmp_path: Path, merge: str) -> None:
    from gensim.models import KeyedVectors

    cfg = small_config()
    cfg.train.corpus, cfg.train.output, cfg.train.merge = str(corpus), str(tmp_path / "vectors"), merge
    cfg.train.write_text = cfg.train.write_kv = True
    out = api.train(cfg)
    assert (out / "_SUCCESS").is_file()
    vocab = Vocab.read(corpus / "vocab.parquet")
    kv = KeyedVectors.load_word2vec_format(str(out / "vectors.bin"), binary=True)
    assert kv.index_to_key == vocab.words and kv.vector_size == 32
    text = KeyedVectors.load_word2vec_format(str(out / "vectors.txt"), binary=False)
    assert np.allclose(text.vectors, kv.vectors, atol=1e-5)
    mapped = KeyedVectors.load(str(out / "vectors.kv"), mmap="r")
    assert isinstance(mapped.vectors, np.memmap) and np.array_equal(mapped.vectors, kv.vectors)

    vectors = np.load(out / "model" / "vectors.npy", allow_pickle=False)
    output = np.load(out / "model" / "output_weights.npy", allow_pickle=False)
    assert vectors.shape == output.shape == (len(vocab), 32)
    assert np.array_equal(vectors, kv.vectors)
    assert np.abs(output).sum() > 0, "output weights were trained and kept"
    assert Vocab.read(out / "model" / "vocab.parquet").words == vocab.words

    table = pq.read_table(out / "vectors.parquet")
    assert table.schema.field("vector").type == pa.list_(pa.float32(), 32)
    assert table.column("word").to_pylist() == vocab.words

    report = json.loads((out / "train_report.json").read_text())
    rounds = 4 if RULES[merge].periodic else 1
    assert report["schema"] == "shardvec.train/1" and report["merge"] == merge == report["rule"]["name"]
    assert all(r["rule"]["name"] == merge and r["merge_seconds"] >= 0 for r in report["round_log"])
    assert (out / "train_report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(report["round_log"]) == report["rounds"] == rounds
    assert report["seed"] == 1 and report["versions"]["gensim"]
    assert all(r["words"] > 0 and r["bytes_moved"] > 0 for r in report["round_log"])
    # Training did something: frequent words moved away from their random start.
    assert float(np.linalg.norm(vectors[:50], axis=1).mean()) > 0.5


def test_evaluate_writes_scores_with_oov_shares(corpus: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    cfg = small_config()
    cfg.train.corpus, cfg.train.output = str(corpus), str(tmp_path / "v")
    api.train(cfg)
    out = tmp_path / "scores.json"
    assert main(["evaluate", "--vectors", str(tmp_path / "v"), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "WordSim353" in printed and "SimLex-999" in printed
    scores = json.loads(out.read_text())
    assert scores["analogy"]["questions"] == 19544
    assert 0 < scores["analogy"]["oov_share"] < 1
    assert scores["wordsim353"]["pairs"] == 353 and 0 <= scores["wordsim353"]["oov_share"] < 1
    # SimLex-999 recomputed here from the vectors: cosine of every pair in vocabulary, ranked against the humans'.
    kv = KeyedVectors.load_word2vec_format(str(tmp_path / "v" / "vectors.bin"), binary=True)
    with open(datapath("simlex999.txt"), encoding="utf-8") as fh:
        pairs = [line.split("\t") for line in fh if line.strip() and not line.startswith("#")]
    known = [(a.lower(), b.lower(), float(s)) for a, b, s in pairs if a.lower() in kv and b.lower() in kv]
    expected = spearmanr([s for *_, s in known], [kv.similarity(a, b) for a, b, _ in known]).correlation
    assert len(pairs) == scores["simlex999"]["pairs"] == 999 and 0 < len(known) < 999
    assert scores["simlex999"]["spearman"] == pytest.approx(expected, abs=1e-4)
    assert scores["simlex999"]["oov_share"] == pytest.approx(1 - len(known) / 999, abs=1e-4)
    # The same scores from the bare vectors.bin.
    assert main(["evaluate", "--vectors", str(tmp_path / "v" / "vectors.bin")]) == 0
    assert main(["evaluate", "--vectors", str(tmp_path / "missing.bin")]) == 2
