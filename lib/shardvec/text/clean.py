"""One document's way from raw record to clean text, or to a drop reason.

The steps run in a fixed order: HTML extraction, mojibake repair and
Unicode normalization, language id (before the quality rules, whose stop
words are English: a French page is reported as ``wrong_language``, not as
``few_stop_words``), quality rules, then PII masking (last, so placeholders
never sway the rules). Spark's clean step applies :func:`clean_batch`
to whole Arrow batches.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from shardvec.text.html import html_to_text
from shardvec.text.langid import language_reason
from shardvec.text.normalize import normalize_texts, tidy_ascii
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

    @property
    def per_document(self) -> bool:
        """Whether a step that reads each document whole (language, quality, PII) is on."""
        return bool(self.languages or self.quality is not None or self.mask_pii)


def clean_documents(texts: list[str], content_types: list[str], settings: CleanSettings
                    ) -> tuple[list[str | None], list[str | None]]:
    """A batch of documents through the steps: the clean texts (None where dropped) and the drop reasons."""
    out, reasons = clean_batch(pa.array(texts, pa.string()), pa.array(content_types, pa.string()), settings)
    return out.to_pylist(), reasons.to_pylist()


def clean_batch(texts: pa.StringArray, content_types: pa.StringArray, settings: CleanSettings
                ) -> tuple[pa.StringArray, pa.StringArray]:
    """:func:`clean_documents` over Arrow columns, which Spark's clean step hands over as they are.

    Why: most records of a plain-text corpus are short ASCII lines, for which
    normalizing is only tidying spaces and controls; Arrow kernels do that
    for the whole batch in a few passes (:func:`~shardvec.text.normalize.tidy_ascii`),
    where a Python call per line cost more than the work. HTML and
    non-ASCII texts take the per-document path, and the steps that read a
    document whole run only when they are on.
    """
    ascii_text = pc.and_(pc.equal(content_types, "text"), pc.string_is_ascii(texts))
    all_ascii = pc.all(ascii_text).as_py()
    # Tidied whole: right for the ASCII texts; the others' rows (still valid UTF-8) are replaced below.
    out = tidy_ascii(texts) if all_ascii or pc.any(ascii_text).as_py() else texts
    if not all_ascii:
        others = pc.invert(ascii_text)
        raw = [html_to_text(t) if c == "html" else t for t, c in zip(texts.filter(others).to_pylist(),
                                                                       content_types.filter(others).to_pylist())]
        out = pc.replace_with_mask(out, others, pa.array(normalize_texts(raw, settings.fix_mojibake), pa.string()))
    reasons = pc.if_else(pc.equal(pc.binary_length(out), 0), NO_TEXT, pa.scalar(None, pa.string()))
    if settings.per_document:
        out, reasons = _document_steps(out, reasons, settings)
    if reasons.null_count == len(reasons):  # nothing dropped (most batches): no copy of the texts
        return out, reasons
    return pc.if_else(reasons.is_null(), out, pa.scalar(None, pa.string())), reasons


def _document_steps(texts: pa.StringArray, reasons: pa.StringArray, settings: CleanSettings
                    ) -> tuple[pa.StringArray, pa.StringArray]:
    """Language id, the quality rules and PII masking, in that order, over each text not yet dropped."""
    out, why = texts.to_pylist(), reasons.to_pylist()
    for i, text in enumerate(out):
        if why[i]:
            continue
        if settings.languages:
            why[i] = language_reason(text, settings.languages, settings.min_language_score)
        if settings.quality is not None and not why[i]:
            why[i] = quality_reason(text, settings.quality)
        if not why[i] and settings.mask_pii:
            out[i] = mask_pii(text, settings.mask_pii)
    return pa.array(out, pa.string()), pa.array(why, pa.string())
