"""The Word2Vec hyper-parameters every shard trainer shares, in gensim's names."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from shardvec.config import TrainConfig
from shardvec.errors import ConfigError


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
        params = cls(**{k: getattr(train, k) for k in cls.__dataclass_fields__})
        params.validate()
        return params

    def validate(self) -> None:
        checks = [
            (self.vector_size > 0, "train.vector_size must be positive"),
            (self.window > 0, "train.window must be positive"),
            (self.negative >= 0 and self.hs in (0, 1), "train.negative must be >= 0 and train.hs 0 or 1"),
            (self.negative > 0 or self.hs == 1, "set train.negative > 0 or train.hs = 1, else nothing trains"),
            (self.sg in (0, 1), "train.sg must be 0 (CBOW) or 1 (skip-gram)"),
            (self.epochs > 0, "train.epochs must be positive"),
            (0 < self.min_alpha <= self.alpha, "need 0 < train.min_alpha <= train.alpha"),
            (self.workers > 0, "train.workers must be positive"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
