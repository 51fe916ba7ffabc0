"""The tokenizer and normalizer pinned on tricky text (no Spark).

The expected tokens are what the per-document reference (regular
expressions over each sentence) produces; they are written out so that any
faster implementation must reproduce them exactly, oddities included: a
combining mark is not a word character, so ``İ`` lowercased (``i`` + a
combining dot) and Devanagari vowel signs split words.
"""

from __future__ import annotations

import pytest

from shardvec.text.normalize import normalize_text
from shardvec.text.pii import PII_KINDS, mask_pii
from shardvec.text.tokenize import TokenizerSettings, sentences_from_text

EVERY_SENTENCE = TokenizerSettings(min_sentence_tokens=1)

TRICKY = [
    # Unicode letters and digits of any script; superscripts and fractions are digits; , and . split numbers
    ("Ünïcode ναι Привет 日本語テキスト x² ½ ٣٤٥ 1,234.50",
     [["ünïcode", "ναι", "привет", "日本語テキスト", "x²", "½", "٣٤٥", "1", "234", "50"]]),
    # inner apostrophes (ASCII and typographic) join, outer ones and doubled ones do not
    ("Don't rock ’n’ roll, 'quoted' o''brien", [["don't", "rock", "n", "roll", "quoted", "o", "brien"]]),
    # inner hyphens join; leading, trailing and doubled ones split; underscore is not a word character
    ("state-of-the-art -leading trailing- a--b e-mail a-'b snake_case_name",
     [["state-of-the-art", "leading", "trailing", "a", "b", "e-mail", "a", "b", "snake", "case", "name"]]),
    # final sigma: str.lower's context rule (a full stop is case-ignorable, so ΑΣ.Β keeps σ)
    ("ΟΔΟΣ ΣΟΦΟΣ. ΑΣ.Β", [["οδος", "σοφος"], ["ασ", "β"]]),
    # Turkish: İ lowercases to i + U+0307 (a mark, not a word character); dotless ı stays
    ("İstanbul IŞIK ıi", [["i", "stanbul", "işik", "ıi"]]),
    # emoji, their variation selectors and skin tones are not words
    ("I ❤️ Python 🐍 👍🏽 ok", [["i", "python", "ok"]]),
    # right-to-left scripts; Arabic vowel marks split words like any mark
    ("שלום עולם! مَرْحَبًا بالعالم", [["שלום", "עולם"], ["م", "ر", "ح", "ب", "ا", "بالعالم"]]),
    ("हिन्दी भाषा", [["ह", "न", "द", "भ", "ष"]]),
    # sentences end at . ! ? (closing quotes included) before whitespace, and at line breaks
    ('He said "stop." Then left. Mr. Smith came!Really?  Yes.\nNew line',
     [["he", "said", "stop"], ["then", "left"], ["mr"], ["smith", "came", "really"], ["yes"], ["new", "line"]]),
    # URLs and e-mail addresses without masking fall apart into words
    ("Visit https://example.com/a-b?x=1 or mail jane.doe@example.org now",
     [["visit", "https", "example", "com", "a-b", "x", "1", "or", "mail", "jane", "doe", "example", "org", "now"]]),
]


@pytest.mark.parametrize("text, expected", TRICKY)
def test_reference_tokens_of_tricky_text(text: str, expected: list[list[str]]) -> None:
    assert list(sentences_from_text(text, EVERY_SENTENCE)) == expected


def test_pii_placeholders_are_single_tokens_and_urls_are_not_masked() -> None:
    text = ("Visit https://example.com/a-b?x=1 or mail jane.doe@example.org, ip 10.0.0.1 or call 555-123-4567 "
            "now, not <email>x or a<ip>b")
    masked = mask_pii(text, PII_KINDS)
    assert masked.startswith("Visit https://example.com/a-b?x=1 or mail <email>, ip <ip> or call <phone> now")
    assert list(sentences_from_text(masked, EVERY_SENTENCE)) == [[
        "visit", "https", "example", "com", "a-b", "x", "1", "or", "mail", "<email>", "ip", "<ip>", "or", "call",
        "<phone>", "now", "not", "<email>", "x", "or", "a", "<ip>", "b"]]


def test_number_folding_case_and_sentence_limits() -> None:
    assert list(sentences_from_text("In ٣٤٥ and 1984", TokenizerSettings(fold_numbers=True))) == [
        ["in", "000", "and", "0000"]]
    assert list(sentences_from_text("Keep Case Here", TokenizerSettings(lowercase=False))) == [
        ["Keep", "Case", "Here"]]
    # one-token sentences are dropped by default; long ones are cut into pieces, short pieces dropped
    assert list(sentences_from_text("Mr. Smith came. A b c d e f g", TokenizerSettings(max_sentence_length=3))) == [
        ["smith", "came"], ["a", "b", "c"], ["d", "e", "f"]]


@pytest.mark.parametrize("text, expected", [
    ("ﬁne ｗｏｒｄ x² ①", "fine word x2 1"),  # NFKC folds ligatures, full-width forms, superscripts
    ("foo\u200bbar\x00baz\u00a0\u00a0qux\u3000end\t\ttab", "foo bar baz qux end tab"),
    ("  lead and trail \u2028 ", "lead and trail"),
    ("e\u0301te\u0301", "été"),  # composed
    ("ΟΔΟΣ", "ΟΔΟΣ"),  # case is the tokenizer's business
    ("line one\nline two", "line one\nline two"),
])
def test_normalize_tricky_text(text: str, expected: str) -> None:
    assert normalize_text(text) == expected
