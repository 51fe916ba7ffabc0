"""Open word vectors from wherever a user points: a train output directory or a file."""

from __future__ import annotations

from pathlib import Path

from shardvec.errors import InputError
from shardvec.outputs import local_path, require_complete

TRAIN_SCHEMA = "shardvec.train/1"


def vectors_file(location: str | Path) -> Path:
    """The word2vec file behind ``location``, checking a train directory is complete."""
    path = local_path(location)
    if path.is_dir():
        require_complete(path, "train_report.json", TRAIN_SCHEMA, "shardvec train")
        return path / "vectors.bin"
    if not path.is_file():
        raise InputError(f"vectors {location} do not exist")
    return path


def load_keyed_vectors(location: str | Path):
    """gensim KeyedVectors from word2vec binary (``.bin``) or text (anything else)."""
    from gensim.models import KeyedVectors

    path = vectors_file(location)
    binary = path.suffix == ".bin"
    try:
        return KeyedVectors.load_word2vec_format(str(path), binary=binary)
    except (ValueError, UnicodeDecodeError, EOFError, OSError) as exc:
        raise InputError(f"{path} is not a word2vec {'binary' if binary else 'text'} file: {exc}") from None
