"""Build gensim's C vocabulary table once per shard model instead of at every round.

gensim converts the vocabulary to a C++ table (``CythonVocab``) at the start
of every ``train(corpus_file=...)`` call, in Python, holding the GIL (what it
costs: bench/RESULTS.md). A single gensim run pays it once per epoch; a shard
trainer calls ``train`` once per round, ``train.rounds_per_epoch`` times per
epoch, on a vocabulary that never changes. Models registered here get their table built on first
use and reused after. Every other model (unregistered) is served by gensim's
own constructor, as if nothing were installed.
"""

from __future__ import annotations

import weakref
from typing import Any

# KeyedVectors -> {(hs, fasttext): table}; an entry goes when its KeyedVectors does.
_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def keep_vocab_table(wv: Any) -> None:
    """Reuse one C vocabulary table across ``train`` calls of the model owning ``wv``.

    Only for vocabularies that never change afterwards (no
    ``build_vocab(update=True)``): the table would go stale.
    """
    _install()
    _TABLES.setdefault(wv, {})


def _install() -> None:
    """Put the caching constructor where gensim looks for ``CythonVocab`` at each call (once per process)."""
    from gensim.models import word2vec_corpusfile

    original = word2vec_corpusfile.CythonVocab
    if getattr(original, "shardvec_reuses_tables", False):
        return

    def vocab_table(wv: Any, hs: int = 0, fasttext: int = 0):
        tables = _TABLES.get(wv)
        if tables is None:
            return original(wv, hs=hs, fasttext=fasttext)
        key = (bool(hs), bool(fasttext))
        if key not in tables:
            tables[key] = original(wv, hs=hs, fasttext=fasttext)
        return tables[key]

    vocab_table.shardvec_reuses_tables = True  # type: ignore[attr-defined]
    word2vec_corpusfile.CythonVocab = vocab_table
