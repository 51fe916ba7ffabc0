"""One document's way from raw record to clean text, or to a drop reason.

The steps run in a fixed order: HTML extraction, mojibake repair and
Unicode normalization, language id (before the quality rules, whose stop
words are English: a French page is reported as ``wrong_language``, not as
``few_stop_words``), quality rules, then PII masking (last, so placeholders
never sway the rules). Spark applies :func:`clean_document`
to whole Arrow batches; the benchmark's single-process pipeline calls it as is.
"""

from __future__ import annotations

from dataclasses import dataclass

from shardvec.text.html import html_to_text
from shardvec.text.langid import language_reason
from shardvec.text.normalize import normalize_text
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


def clean_document(text: str, content_type: str, settings: CleanSettings) -> tuple[str, str | None]:
    """``(clean text, None)`` for a kept document, ``("", reason)`` for a dropped one."""
    if content_type == "html":
        text = html_to_text(text)
    text = normalize_text(text, settings.fix_mojibake)
    if not text:
        return "", NO_TEXT
    if settings.languages:
        reason = language_reason(text, settings.languages, settings.min_language_score)
        if reason:
            return "", reason
    if settings.quality is not None:
        reason = quality_reason(text, settings.quality)
        if reason:
            return "", reason
    if settings.mask_pii:
        text = mask_pii(text, settings.mask_pii)
    return text, None
