"""Open word vectors from wherever a user points: a train output directory or a file, on any storage."""

from __future__ import annotations

from typing import Any

from shardvec.errors import InputError
from shardvec.storage import Store, require_complete

TRAIN_SCHEMA = "shardvec.train/1"


def vectors_file(location: str, options: dict[str, Any] | None = None) -> Store:
    """The word2vec file behind ``location``, checking a train directory is complete."""
    store = Store(location, options or {})
    if store.is_dir():
        require_complete(store, "train_report.json", TRAIN_SCHEMA, "shardvec train")
        return store / "vectors.bin"
    if not store.exists():
        raise InputError(f"vectors {location} do not exist")
    return store


def load_keyed_vectors(location: str, options: dict[str, Any] | None = None):
    """gensim KeyedVectors from word2vec binary (``.bin``) or text (anything else)."""
    from gensim.models import KeyedVectors

    store = vectors_file(str(location), options)
    binary = store.name.endswith(".bin")
    with store.local_copy() as path:
        try:
            return KeyedVectors.load_word2vec_format(str(path), binary=binary)
        except (ValueError, UnicodeDecodeError, EOFError, OSError) as exc:
            raise InputError(f"{store.url} is not a word2vec {'binary' if binary else 'text'} file: {exc}") from None
