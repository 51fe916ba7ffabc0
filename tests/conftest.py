"""Shared fixtures: one real local Spark per test session, no network but loopback.

Tests start real engines (Spark local mode, Dask LocalCluster, moto's S3
server); nothing here mocks them. Data comes from the tests themselves or
from gensim's installed ``test_data``.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Iterator

import pytest

from shardvec.config import Config, SparkConfig

_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address) -> None:  # type: ignore[no-untyped-def]
    """Refuse connections off this machine: tests must not depend on the network."""
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        try:
            ip = ipaddress.ip_address(socket.gethostbyname(host) if self.family == socket.AF_INET else host)
        except (OSError, ValueError):
            ip = None
        if ip is None or not ip.is_loopback:
            raise OSError(f"tests may not reach the network ({address!r})")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)


@pytest.fixture(autouse=True, scope="session")
def progress_lines() -> None:
    """The progress lines the command prints, also for tests that call ``shardvec.api`` (a library prints none)."""
    from shardvec.logs import show_progress

    show_progress()


@pytest.fixture(autouse=True, scope="session")
def own_cache_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The user's cache directory, for this session and the processes it starts, under its own temporary
    directory: a JVM that Spark starts in a test process writes its class archive (``spark.class_archive``)
    there, not in the home."""
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if before is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = before


@pytest.fixture(scope="session")
def spark(own_cache_directory: None):
    """A real embedded Spark (local[2]) shared by every test of the session."""
    from shardvec.spark.session import spark_session

    # No class archive: the session's JVM would write one as the tests end, for no later run to map.
    session = spark_session(SparkConfig(master="local[2]", shuffle_partitions=4, driver_memory="1g",
                                        class_archive=False))
    yield session
    session.stop()


@pytest.fixture
def config() -> Config:
    """Defaults sized for tests (see helpers.small_config)."""
    from helpers import small_config

    return small_config()


@pytest.fixture(scope="session")
def s3() -> Iterator[dict[str, str]]:
    """A moto S3 server on a free loopback port with bucket ``helpers.BUCKET``, credentials in the environment.

    Yields the storage options that reach it. One per session: moto keeps its
    buckets in process-wide state anyway, so test files use their own prefixes.
    """
    from helpers import BUCKET
    from moto.server import ThreadedMotoServer

    from shardvec.storage import Store

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    mp = pytest.MonkeyPatch()
    for var, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        mp.setenv(var, value)
    options = {"endpoint_url": f"http://127.0.0.1:{port}"}
    Store(f"s3://{BUCKET}", options).fs.mkdir(BUCKET)
    yield options
    mp.undo()
    server.stop()
