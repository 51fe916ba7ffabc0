"""The Word2Vec hyper-parameters every shard trainer shares, in gensim's names."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from shardvec.config import TrainConfig


@dataclass(frozen=True)
class Word2VecParams:
    vector_size: int = 100
    window: int = 5
    negative: int = 5
    hs: int = 0
    sg: int = 1
    sample: float = 1e-3
    epochs: int = 5
    alpha: float = 0.025
    min_alpha: float = 0.0001
    seed: int = 1
    workers: int = 1

    @classmethod
    def from_config(cls, train: TrainConfig) -> "Word2VecParams":
        """The parameters of ``train``, which :meth:`Config.validate` has checked."""
        return cls(**{k: getattr(train, k) for k in cls.__dataclass_fields__})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
