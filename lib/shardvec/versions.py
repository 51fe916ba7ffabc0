"""Library versions recorded in every manifest and report, for reproducibility."""

from __future__ import annotations

import platform
from importlib import metadata

_TRACKED = ("shardvec", "pyspark", "gensim", "dask", "distributed", "numpy", "numba", "pyarrow")


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _TRACKED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
