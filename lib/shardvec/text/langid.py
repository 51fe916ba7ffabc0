"""Language identification with py3langid (langid.py's model, shipped in the wheel, numpy 2 ready).

The model is loaded once per process and reused for every document; only
the first ``max_chars`` characters are scored, which decides the language as
well as the whole text and keeps long documents cheap.
"""

from __future__ import annotations

from functools import lru_cache

WRONG_LANGUAGE = "wrong_language"


@lru_cache(maxsize=1)
def _identifier():  # type: ignore[no-untyped-def]
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def identify(text: str, max_chars: int = 2000) -> tuple[str, float]:
    """(ISO 639-1 code, probability) of the language ``text`` is most likely written in."""
    lang, prob = _identifier().classify(text[:max_chars])
    return lang, float(prob)


def language_reason(text: str, keep: tuple[str, ...], min_score: float) -> str | None:
    """None if ``text`` is in one of ``keep`` with at least ``min_score``; else the drop reason."""
    lang, prob = identify(text)
    return None if lang in keep and prob >= min_score else WRONG_LANGUAGE
