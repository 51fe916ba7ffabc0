"""One document's way from raw record to clean text, or to a drop reason.

The steps run in a fixed order: HTML extraction, mojibake repair and
Unicode normalization, language id (before the quality rules, whose stop
words are English: a French page is reported as ``wrong_language``, not as
``few_stop_words``), quality rules, then PII masking (last, so placeholders
never sway the rules). Spark's clean step applies :func:`clean_documents`
to whole Arrow batches.
"""

from __future__ import annotations

from dataclasses import dataclass

from shardvec.text.html import html_to_text
from shardvec.text.langid import language_reason
from shardvec.text.normalize import normalize_texts
from shardvec.text.pii import mask_pii
from shardvec.text.quality import QualitySettings, quality_reason

NO_TEXT = "no_text"


@dataclass(frozen=True)
class CleanSettings:
    fix_mojibake: bool = True
    quality: QualitySettings | None = None
    languages: tuple[str, ...] = ()  # empty keeps every language
    min_language_score: float = 0.0
    mask_pii: tuple[str, ...] = ()


def clean_documents(texts: list[str], content_types: list[str], settings: CleanSettings
                    ) -> tuple[list[str | None], list[str | None]]:
    """A batch of documents through the steps: the clean texts (None where dropped) and the drop reasons.

    Each step runs over the whole batch, and a step that is off costs
    nothing per document; on plain text with the defaults, that leaves
    :func:`~shardvec.text.normalize.normalize_texts`.
    """
    texts = [html_to_text(t) if c == "html" else t for t, c in zip(texts, content_types)]
    out: list[str | None] = normalize_texts(texts, settings.fix_mojibake)  # type: ignore[assignment]
    reasons: list[str | None] = [None if t else NO_TEXT for t in out]
    for i, text in enumerate(out):
        if reasons[i]:
            out[i] = None
            continue
        if settings.languages:
            reasons[i] = language_reason(text, settings.languages, settings.min_language_score)  # type: ignore[arg-type]
        if settings.quality is not None and not reasons[i]:
            reasons[i] = quality_reason(text, settings.quality)  # type: ignore[arg-type]
        if reasons[i]:
            out[i] = None
        elif settings.mask_pii:
            out[i] = mask_pii(text, settings.mask_pii)  # type: ignore[arg-type]
    return out, reasons
