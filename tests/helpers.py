"""Small helpers shared by the tests (import with ``from helpers import ...``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shardvec.config import Config

# The bucket the ``s3`` fixture (conftest.py) creates.
BUCKET = "lake"


def small_config(**train: object) -> Config:
    """Defaults sized for tests: local[2] Spark, small models, no end-of-run evaluation.

    Keyword arguments override ``[train]`` keys.
    """
    cfg = Config()
    cfg.spark.master = "local[2]"
    cfg.spark.shuffle_partitions = 4
    cfg.vocab.min_count = 2
    settings = {"vector_size": 32, "epochs": 2, "rounds_per_epoch": 2, "evaluate": False, **train}
    for key, value in settings.items():
        setattr(cfg.train, key, value)
    return cfg


def gensim_data(name: str) -> str:
    """A file from gensim's installed ``test/test_data``."""
    from gensim.test.utils import datapath

    return datapath(name)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def prepared_corpus(config: Config, inputs: list[str], output: Path, shards: int = 2) -> Path:
    """Run the real prepare stage (the session's Spark) and return the corpus directory."""
    from shardvec import api

    config.prepare.input = inputs
    config.prepare.output = str(output)
    config.prepare.shards = shards
    return api.prepare(config)


def manifest(corpus: Path) -> dict[str, Any]:
    return json.loads((corpus / "manifest.json").read_text())


def inline_table(options: dict[str, str]) -> str:
    """A TOML inline table, as --set takes it."""
    return "{" + ", ".join(f'{k} = "{v}"' for k, v in options.items()) + "}"
