"""conf/local.toml and conf/cluster.example.toml load with the real config loader."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from shardvec.config import DaskConfig, SparkConfig, load_config

CONF = Path(__file__).resolve().parents[1] / "conf"


@pytest.mark.parametrize("name", ["local.toml", "cluster.example.toml"])
def test_config_file_loads(name: str) -> None:
    config = load_config(CONF / name, environ={})
    assert config.dask.threads_per_worker >= 1


def test_local_toml_is_local_mode() -> None:
    config = load_config(CONF / "local.toml", environ={})
    assert config.spark.master.startswith("local[")
    assert config.dask.scheduler == ""  # a LocalCluster


def test_cluster_example_sets_every_spark_and_dask_knob() -> None:
    data = tomllib.loads((CONF / "cluster.example.toml").read_text())
    for section, cls in (("spark", SparkConfig), ("dask", DaskConfig)):
        assert set(data[section]) == {f.name for f in dataclasses.fields(cls)}, section
    config = load_config(CONF / "cluster.example.toml", environ={})
    assert config.spark.executor_memory and config.spark.executor_cores > 0
    assert config.spark.shuffle_partitions > 0
    assert config.dask.scheduler.startswith(("tcp://", "tls://"))
