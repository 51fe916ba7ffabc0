"""The pure cleaning core (no Spark): normalization, HTML, quality rules, language id, PII, tokens."""

from __future__ import annotations

import pytest
from prepare_helpers import html_page, prose

from shardvec.text.clean import NO_TEXT, CleanSettings, clean_documents
from shardvec.text.html import decode_html, html_to_text
from shardvec.text.langid import identify, language_reason
from shardvec.text.normalize import normalize_text, repair_mojibake
from shardvec.text.pii import mask_pii
from shardvec.text.quality import QualitySettings, quality_reason
from shardvec.text.tokenize import TokenizerSettings, sentences_from_text, tokenize


def test_normalize_repairs_mojibake_folds_compatibility_forms_and_drops_controls() -> None:
    assert repair_mojibake("The Mona Lisa doesnâ€™t have eyebrows.") == "The Mona Lisa doesn’t have eyebrows."
    assert repair_mojibake("plain ascii") == "plain ascii"
    assert normalize_text("ﬁne  ｗｏｒｄ\x00\x07 here\u200b") == "fine word here"
    assert normalize_text("doesnâ€™t", fix_mojibake=False) != normalize_text("doesnâ€™t")


def test_html_main_text_without_boilerplate() -> None:
    text = html_to_text(html_page("The actual article body is here."))
    assert "actual article body" in text and "tracking" not in text and "Home" not in text
    assert decode_html("<html><head><meta charset='latin-1'></head><p>café</p></html>".encode("latin-1")).endswith(
        "<p>café</p></html>")


@pytest.mark.parametrize("text, settings, reason", [
    ("too short", QualitySettings(), "too_few_words"),
    (prose(40), QualitySettings(max_words=100), "too_many_words"),
    ("a b c d e f g h i j " * 10, QualitySettings(), "mean_word_length"),
    (prose(10) + " #tag" * 30, QualitySettings(), "symbol_word_ratio"),
    (prose(10) + " 123 456 789" * 20, QualitySettings(), "alpha_word_share"),
    ("Cheap shoes online, discount boots sale, best price sneakers, free shipping. " * 6, QualitySettings(),
     "few_stop_words"),
    ("\n".join([prose(2, seed=i) + " ..." for i in range(5)] + [prose(2)]), QualitySettings(), "ellipsis_lines"),
])
def test_each_quality_rule_drops_with_its_reason(text: str, settings: QualitySettings, reason: str) -> None:
    assert quality_reason(text, settings) == reason


def test_quality_keeps_prose_and_zero_turns_a_rule_off() -> None:
    assert quality_reason(prose(10), QualitySettings()) is None
    assert quality_reason("too short", QualitySettings(min_words=0, min_stop_words=0)) is None


def test_language_id_ships_its_model() -> None:
    assert identify(prose(3))[0] == "en"
    german = "Die Kinder spielen im Garten, während die Eltern in der Küche das Abendessen vorbereiten."
    assert identify(german)[0] == "de"
    assert language_reason(german, ("en",), 0.5) == "wrong_language"
    assert language_reason(prose(3), ("en",), 0.5) is None


def test_pii_masking() -> None:
    text = "Mail jane.doe@example.org or call +44 20 7946 0958 or (555) 123-4567; server 192.168.1.20 is up."
    masked = mask_pii(text, ["email", "ip", "phone"])
    assert masked == "Mail <email> or call <phone> or <phone>; server <ip> is up."
    assert mask_pii(text, ["email"]).count("<") == 1
    assert tokenize(masked)[:2] == ["mail", "<email>"]


def test_tokenizer_lowercases_folds_numbers_and_splits_long_sentences() -> None:
    assert tokenize("Don't stop: state-of-the-art, Ünïcode_words!") == ["don't", "stop", "state-of-the-art",
                                                                         "ünïcode", "words"]
    assert tokenize("In 1984 it cost $3.50", fold_numbers=True) == ["in", "0000", "it", "cost", "0", "00"]
    settings = TokenizerSettings(min_sentence_tokens=2, max_sentence_length=3)
    assert list(sentences_from_text("One two three four five. Six!\nSeven eight", settings)) == [
        ["one", "two", "three"], ["four", "five"], ["seven", "eight"]]


def clean_document(text: str, content_type: str, settings: CleanSettings) -> tuple[str, str | None]:
    """``(clean text, None)`` for a kept document, ``("", reason)`` for a dropped one."""
    texts, reasons = clean_documents([text], [content_type], settings)
    return texts[0] or "", reasons[0]


def test_clean_document_order_of_steps() -> None:
    settings = CleanSettings(quality=QualitySettings(), languages=("en",), mask_pii=("email",))
    text, reason = clean_document(html_page(prose(10) + " Write to a@b.com."), "html", settings)
    assert reason is None and "<email>" in text and "Copyright" not in text
    assert clean_document("<html><body><script>x</script></body></html>", "html", settings) == ("", NO_TEXT)
    assert clean_document("Too short to keep, this one.", "text", settings) == ("", "too_few_words")
    # Language id runs before the (English) stop-word rule, so French is reported as such.
    french = "Les enfants jouent dans le jardin pendant que les parents préparent le dîner. " * 10
    assert clean_document(french, "text", settings) == ("", "wrong_language")


def test_clean_batch_normalizes_as_each_document_alone() -> None:
    """ASCII texts tidied over the batch's bytes, the others one by one: the same texts and reasons as
    :func:`normalize_texts` per document gives."""
    import random

    from shardvec.text.normalize import normalize_texts

    pieces = list("aZ .\t\n\r\x00\x07\x0b\x0c\x1c\x1f\x7f") + ["  ", "x y", "é", "\u3000", "\u200b", "ﬁ"]
    rng = random.Random(5)
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randrange(0, 25))) for _ in range(5000)]
    out, reasons = clean_documents(texts, ["text"] * len(texts), CleanSettings())
    expected = normalize_texts(texts)
    assert out == [t or None for t in expected]
    assert reasons == [None if t else NO_TEXT for t in expected]
    assert sum(t.isascii() for t in texts) > 1000 and sum(not t.isascii() for t in texts) > 1000


def test_ascii_tidying_of_a_sliced_batch_with_nulls_is_each_text_alone() -> None:
    """The batch kernel reads a slice's own bytes only, keeps nulls and never joins one text's spaces to the
    next text's (a text ending in a space, the next starting with one); line breaks stay inside a text and
    go at its edges, with the spaces beside them."""
    import random

    import pyarrow as pa

    from shardvec.text.normalize import normalize_text, tidy_ascii

    rng = random.Random(7)
    texts = ["".join(rng.choice(" \t\n\r\x00\x7fab.") for _ in range(rng.randrange(0, 9))) for _ in range(3000)]
    texts = [None if i % 11 == 0 else t for i, t in enumerate(texts)]
    column = pa.array(["lead  ", *texts, "  tail"], pa.string()).slice(1, len(texts))
    assert tidy_ascii(column).to_pylist() == [None if t is None else normalize_text(t) for t in texts]
    assert tidy_ascii(pa.array([], pa.string())).to_pylist() == []
