"""Connect to a Dask scheduler, or start a LocalCluster when none is given.

Order: ``dask.scheduler`` (``--scheduler``), then ``$DASK_SCHEDULER_ADDRESS``,
then an embedded LocalCluster of ``dask.n_workers`` processes.

A ``tls://`` scheduler is reached with the client certificate named by
``dask.tls_ca_file`` / ``tls_cert`` / ``tls_key``, or, when those are empty,
with Dask's own ``distributed.comm.tls.*`` configuration.
"""

from __future__ import annotations

import os
import ssl
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from shardvec.config import DaskConfig
from shardvec.errors import ConfigError, EnvironmentProblem
from shardvec.logs import stage_logger

log = stage_logger(__name__, "train")

if TYPE_CHECKING:
    from distributed import Client
    from distributed.security import Security

TLS_KEYS = ("tls_ca_file", "tls_cert", "tls_key")


def scheduler_address(config: DaskConfig) -> str:
    return config.scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS", "")


def client_security(config: DaskConfig, address: str) -> Security | None:
    """The client's TLS settings from ``[dask]``, checked; None leaves them to Dask's configuration.

    Only keys that are set produce a Security, so that certificates from
    ``DASK_DISTRIBUTED__COMM__TLS__*`` or a Dask YAML file keep working. The
    files are loaded here, before connecting, so that a wrong path or a key that
    does not match its certificate is reported as such, not as an unreachable
    scheduler.
    """
    from distributed.security import Security

    paths = {key: getattr(config, key) for key in TLS_KEYS if getattr(config, key)}
    if not paths:
        if address.startswith("tls://"):
            _require_dask_tls_settings(address)
        return None
    _check_tls_paths(paths, address)
    security = Security(tls_ca_file=config.tls_ca_file, tls_client_cert=config.tls_cert,
                        tls_client_key=config.tls_key or None, require_encryption=True)
    try:
        security.get_connection_args("client")
    except ssl.SSLError as exc:
        raise ConfigError(f"{_names(paths)} cannot be loaded for TLS: {exc}") from None
    return security


def _names(paths: dict[str, str]) -> str:
    return ", ".join(f"dask.{key}" for key in paths)


def _check_tls_paths(paths: dict[str, str], address: str) -> None:
    """The set ``[dask] tls_*`` keys make a client certificate for a ``tls://`` address."""
    if not address.startswith("tls://"):
        raise ConfigError(f"{_names(paths)} set, but the Dask scheduler address is not tls://HOST:PORT: "
                          f"{address or 'none given (a LocalCluster would start)'}")
    for key in ("tls_ca_file", "tls_cert"):
        if key not in paths:
            raise ConfigError(f"dask.{key} is not set; a TLS client needs dask.tls_ca_file and dask.tls_cert")
    for key, path in paths.items():
        if not Path(path).is_file():
            raise ConfigError(f"dask.{key}: no such file: {path}")


def _require_dask_tls_settings(address: str) -> None:
    """Refuse a ``tls://`` address that Dask's configuration gives no certificate for.

    Without this, distributed fails deep inside the connection with a TypeError.
    A configured ``distributed.client.security-loader`` provides the
    certificates at connection time, so it is trusted to.
    """
    import dask
    from distributed.security import Security

    if dask.config.get("distributed.client.security-loader", None):
        return
    tls = Security().get_tls_config_for_role("client")
    if not (tls["ca_file"] and tls["cert"]):
        raise ConfigError(f"the Dask scheduler {address} needs TLS: set dask.tls_ca_file and dask.tls_cert "
                          "(and dask.tls_key), or Dask's distributed.comm.tls.ca-file and .client.cert/.key")


def _connect(address: str, security: Security | None) -> Client:
    """A client of the scheduler at ``address``; any failure to connect is one line, exit 2."""
    from distributed import Client

    try:
        return Client(address, timeout="30s", security=security)
    except (OSError, TimeoutError) as exc:
        cause = f" ({exc.__cause__})" if exc.__cause__ else ""
        raise EnvironmentProblem(f"cannot reach the Dask scheduler at {address}: {exc}{cause}") from None


# The embedded cluster's workers run without Dask's statistical profiler, which samples every worker
# thread's stack every 10 ms: training is measurably faster without it (bench/RESULTS.md, Train stage).
# The dashboard's profile page stays empty; a cluster of one's own keeps its settings.
EMBEDDED_WORKER_CONFIG = {"distributed.worker.profile.enabled": False}


@contextmanager
def dask_client(config: DaskConfig) -> Iterator[Client]:
    import dask
    from distributed import Client, LocalCluster

    address = scheduler_address(config)
    security = client_security(config, address)
    if address:
        client = _connect(address, security)
        cluster = None
    else:
        with dask.config.set(EMBEDDED_WORKER_CONFIG):
            cluster = LocalCluster(n_workers=config.n_workers, threads_per_worker=config.threads_per_worker,
                                   memory_limit=config.memory_limit, host="127.0.0.1", dashboard_address=":0")
        client = Client(cluster)
    try:
        log.info(f"Dask scheduler {client.scheduler.address} dashboard {client.dashboard_link}")
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
