"""The train, evaluate and fine-tune stages against a real S3 API (moto's server on loopback).

The corpus is prepared locally and uploaded, so these stages are tested on
their own (prepare's own S3 round trip is ``test_prepare_s3.py``); everything
after that reads and writes s3:// / s3a:// for real.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import BUCKET, gensim_data, inline_table, prepared_corpus, small_config

from shardvec import api
from shardvec.cli import main
from shardvec.config import Config
from shardvec.storage import Store


def s3_config(options: dict[str, str]) -> Config:
    cfg = small_config(vector_size=24)
    # A credential in the options must work and must never reach a report.
    cfg.storage.options = {**options, "key": "testing", "secret": "testing"}
    return cfg


def test_train_evaluate_finetune_round_trip_through_s3(spark, s3: dict[str, str], tmp_path: Path) -> None:
    cfg = s3_config(s3)
    local = prepared_corpus(cfg, [gensim_data("lee_background.cor")], tmp_path / "corpus")
    lake = Store(f"s3://{BUCKET}", cfg.storage.options)
    (lake / "corpus").upload_dir(local)
    assert "_SUCCESS" in (lake / "corpus").listdir()

    cfg.train.corpus, cfg.train.output = f"s3a://{BUCKET}/corpus", f"s3://{BUCKET}/vectors"
    assert api.train(cfg) == f"s3://{BUCKET}/vectors"
    out = lake / "vectors"
    assert {"_SUCCESS", "vectors.bin", "vectors.parquet", "train_report.json", "model", "checkpoints"} <= set(
        out.listdir())
    assert set((out / "model").listdir()) == {"_SUCCESS", "model.json", "output_weights.npy", "vectors.npy",
                                              "vocab.parquet"}
    report = (out / "train_report.json").read_json()
    assert report["corpus"] == f"s3://{BUCKET}/corpus"
    assert report["config"]["storage"]["options"]["secret"] == "***"
    assert "testing" not in json.dumps(report)
    vectors = (out / "model" / "vectors.npy").load_npy()
    assert vectors.shape == (report["vocab_size"], 24) and np.isfinite(vectors).all()

    common = ["--set", f"storage.options={inline_table(s3)}"]
    assert main(["evaluate", "--vectors", f"s3a://{BUCKET}/vectors", "--output", f"s3://{BUCKET}/scores.json",
                 *common]) == 0
    assert (lake / "scores.json").read_json()["wordsim353"]["pairs"] == 353

    (lake / "data" / "polarity.txt").put_file(Path(gensim_data("pang_lee_polarity.cor")))
    assert main(["finetune", "--vectors", f"s3://{BUCKET}/vectors", "--dataset", f"s3://{BUCKET}/data/polarity.txt",
                 "--output", f"s3://{BUCKET}/finetune", "--set", "finetune.repeats=1",
                 "--set", "finetune.budgets=[1.0]", *common]) == 0
    ft = lake / "finetune"
    assert {"_SUCCESS", "report.json", "report.md"} <= set(ft.listdir())
    assert "classify" in (ft / "report.json").read_json()
    # An existing remote output is refused without --overwrite, as locally.
    assert main(["finetune", "--vectors", f"s3://{BUCKET}/vectors", "--dataset", f"s3://{BUCKET}/data/polarity.txt",
                 "--output", f"s3://{BUCKET}/finetune", *common]) == 2


def test_unfinished_remote_corpus_is_refused(s3: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    lake = Store(f"s3://{BUCKET}", s3)
    (lake / "half" / "manifest.json").write_json({"schema": "shardvec.corpus/1"})
    args = ["train", "--corpus", f"s3://{BUCKET}/half", "--output", f"s3://{BUCKET}/v2",
            "--set", f"storage.options={inline_table(s3)}"]
    assert main(args) == 2
    assert "has no _SUCCESS marker" in capsys.readouterr().err
    assert not (lake / "v2").exists()



def test_a_failed_remote_finetune_leaves_the_previous_output_whole(s3: dict[str, str],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import shardvec.finetune.pipeline as pipeline

    previous = Store(f"s3://{BUCKET}/finetune-failed", s3)
    (previous / "report.json").write_json({"previous": True})
    (previous / "_SUCCESS").write_bytes(b"")

    def crash(config: Config, stage: Path) -> dict[str, object]:
        (stage / "report.md").write_text("half a report")
        raise RuntimeError("simulated crash while fine-tuning")

    monkeypatch.setattr(pipeline, "_run", crash)
    cfg = Config()
    cfg.storage.options = s3
    ft = cfg.finetune
    ft.vectors, ft.dataset, ft.output, ft.overwrite = "vectors.bin", "data.txt", previous.url, True
    with pytest.raises(RuntimeError, match="simulated crash"):
        api.finetune(cfg)
    assert sorted(previous.listdir()) == ["_SUCCESS", "report.json"]
    assert (previous / "report.json").read_json() == {"previous": True}
