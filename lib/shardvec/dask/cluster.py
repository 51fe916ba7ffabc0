"""Connect to a Dask scheduler, or start a LocalCluster when none is given.

Order: ``dask.scheduler`` (``--scheduler``), then ``$DASK_SCHEDULER_ADDRESS``,
then an embedded LocalCluster of ``dask.n_workers`` processes.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

from shardvec.config import DaskConfig
from shardvec.errors import EnvironmentProblem

if TYPE_CHECKING:
    from distributed import Client


def scheduler_address(config: DaskConfig) -> str:
    return config.scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS", "")


@contextmanager
def dask_client(config: DaskConfig) -> Iterator[Client]:
    from distributed import Client, LocalCluster

    address = scheduler_address(config)
    if address:
        try:
            client = Client(address, timeout="30s")
        except (OSError, TimeoutError) as exc:
            raise EnvironmentProblem(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        cluster = None
    else:
        cluster = LocalCluster(n_workers=config.n_workers, threads_per_worker=config.threads_per_worker,
                               memory_limit=config.memory_limit, host="127.0.0.1", dashboard_address=":0")
        client = Client(cluster)
    try:
        print(f"[train] Dask scheduler {client.scheduler.address} dashboard {client.dashboard_link}",
              file=sys.stderr, flush=True)
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
