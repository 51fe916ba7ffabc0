"""shardvec: word vectors from huge corpora.

``prepare`` (Spark) turns raw text into sentence shards and a vocabulary,
``train`` (Dask) trains sharded Word2Vec and merges it into one set of
vectors, ``finetune`` adapts them to a labelled target task and ``evaluate``
scores them. Each takes a :class:`Config`; see ``conf/default.toml``.
"""

from shardvec.api import evaluate, finetune, prepare, train
from shardvec.config import Config, load_config
from shardvec.errors import ShardvecError

__all__ = ["Config", "ShardvecError", "evaluate", "finetune", "load_config", "prepare", "train"]
__version__ = "0.1.0"
