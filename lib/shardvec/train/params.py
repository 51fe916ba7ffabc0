"""The Word2Vec hyper-parameters every shard trainer shares, in gensim's names.

Their types, defaults and bounds are declared once, on :class:`TrainConfig`;
:data:`Word2VecParams` is built from those declarations.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from shardvec.config import TrainConfig

# The [train] keys handed to gensim; each checkpoint's meta records exactly these.
GENSIM_KEYS = ("vector_size", "window", "negative", "hs", "sg", "sample", "epochs", "alpha", "min_alpha", "seed",
               "workers")


class _Word2VecParams:
    """What :data:`Word2VecParams` does beyond holding its fields."""

    @classmethod
    def from_config(cls, train: TrainConfig) -> Word2VecParams:
        """The parameters of ``train``, which :meth:`Config.validate` has checked."""
        return cls(**{key: getattr(train, key) for key in GENSIM_KEYS})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]


def _declared_fields() -> list[tuple[str, Any, Any]]:
    """Each gensim key with the type and the default that TrainConfig declares for it."""
    types = typing.get_type_hints(TrainConfig)
    defaults = TrainConfig()
    return [(key, types[key], dataclasses.field(default=getattr(defaults, key))) for key in GENSIM_KEYS]


Word2VecParams = dataclasses.make_dataclass(
    "Word2VecParams", _declared_fields(), bases=(_Word2VecParams,), frozen=True,
    namespace={"__module__": __name__, "__doc__": "Frozen gensim parameters, one field per key of GENSIM_KEYS."})
