"""The tokenizer and normalizer pinned on tricky text (no Spark), and the batch tokenizer held to them.

The expected tokens are what the per-document reference (regular
expressions over each sentence) produces; they are written out so that any
faster implementation must reproduce them exactly, oddities included: a
combining mark is not a word character, so ``İ`` lowercased (``i`` + a
combining dot) and Devanagari vowel signs split words.
"""

from __future__ import annotations

import random
import re

import numpy as np
import pyarrow as pa
import pytest

from shardvec.text.batch_tokenize import character_classes, tokenize_texts
from shardvec.text.normalize import normalize_text
from shardvec.text.pii import PII_KINDS, mask_pii
from shardvec.text.tokenize import WORD, TokenizerSettings, sentences_from_text

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


# The batch tokenizer must give the reference's sentences, document by document.

def _reference(texts: list[str], settings: TokenizerSettings) -> list[tuple[int, list[str]]]:
    return [(i, s) for i, text in enumerate(texts) for s in sentences_from_text(text, settings)]


def _batch(texts: list[str], settings: TokenizerSettings) -> list[tuple[int, list[str]]]:
    tokens = tokenize_texts(texts, settings)
    return list(zip(tokens.doc.tolist(), tokens.sentences.to_pylist()))


SETTINGS = [TokenizerSettings(), EVERY_SENTENCE, TokenizerSettings(fold_numbers=True, max_sentence_length=3),
            TokenizerSettings(lowercase=False, min_sentence_tokens=0, max_sentence_length=1)]


@pytest.mark.parametrize("settings", SETTINGS)
def test_batch_tokenizer_equals_the_reference_on_tricky_text(settings: TokenizerSettings) -> None:
    texts = [t for t, _ in TRICKY] + [mask_pii("mail a@b.org from 10.0.0.1, <EMAIL> x<ip>y", PII_KINDS), "", "a",
                                      ". . .", "Two words", "ΟΔΟΣ\nİ"]
    assert _batch(texts, settings) == _reference(texts, settings)


@pytest.mark.parametrize("settings", SETTINGS)
def test_batch_tokenizer_equals_the_reference_on_random_text(settings: TokenizerSettings) -> None:
    pieces = list("aZé9٣_'’-.!?\"”)] \n\t<>@") + ["<email>", "<ip>", "İ", "Σ", "ς", "\u0301", "🐍", "ह", "ि", "½",
                                                   "x²", "\u00a0", "\u2028", "\x85", "\x1c", "ǅ", "ﬁ", "𝐀", "𝟙"]
    rng = random.Random(7)
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randrange(0, 40))) for _ in range(3000)]
    assert _batch(texts, settings) == _reference(texts, settings)


@pytest.mark.parametrize("settings", SETTINGS)
def test_batch_tokenizer_equals_the_reference_on_ascii_batches(settings: TokenizerSettings) -> None:
    """All-ASCII batches: no character of several bytes anywhere, and a slice of a column."""
    pieces = list("aZ9_'-.!?\")] \n\t<>@") + ["<email>", "<ip>", "Don't", "e.g.", "x--y", "1,000.5"]
    rng = random.Random(11)
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randrange(0, 40))) for _ in range(3000)]
    assert _batch(texts, settings) == _reference(texts, settings)
    assert _batch(pa.array(texts[5:900]).slice(3, 500), settings) == _reference(texts[8:508], settings)


def test_batch_tokenizer_groups_large_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    import shardvec.text.batch_tokenize as batch

    # ASCII and non-ASCII documents mixed (where a character is several bytes, a sentence's document is
    # found by its bytes), one group a document or a few.
    texts = [f"Document {i} says hello. And goodbye now!" if i % 3 else f"Dokument {i}: Grüße. ΟΔΟΣ Ελλάς İz!"
             for i in range(200)]
    whole = _batch(texts, TokenizerSettings())
    monkeypatch.setattr(batch, "_GROUP_BYTES", 100)
    assert _batch(texts, TokenizerSettings()) == whole == _reference(texts, TokenizerSettings())
    assert _batch([], TokenizerSettings()) == []


@pytest.mark.parametrize("data, tokens, sentences", [
    ("ab cd\u2019".encode()[:-1], [b"ab", b"cd"], 1),  # the apostrophe's last byte missing at the end
    (b"ab \xf4\x90\x80\x80 cd", [b"ab", b"cd"], 1),  # beyond U+10FFFF
    (b"ab \xf7\xbf\xbf\xbf cd", [b"ab", b"cd"], 1),
    (b"ab \xff\xff\xff\xff cd", [b"ab", b"cd"], 1),
    (b"ab\xbf\ncd", [b"ab", b"cd"], 2),  # a stray continuation byte before the line break
    (b"ab\xc3<ip> x", [b"ab", b"<ip>", b"x"], 1),  # a lead byte whose character the placeholder cuts short
])
def test_the_scan_reads_bytes_that_are_not_utf8_as_no_character(data: bytes, tokens: list[bytes],
                                                               sentences: int) -> None:
    """Arrow's strings are valid UTF-8, but the compiled scan must neither read outside its buffers nor lose
    the line breaks and placeholders after a byte that is not."""
    from shardvec.text.batch_tokenize import _placeholders
    from shardvec.text.token_scan import scan_sentences

    n = len(data)
    out, offsets, pieces = np.empty(n, np.uint8), np.empty(n + 1, np.int32), np.empty(n + 1, np.int32)
    n_bytes, n_tokens, n_pieces = scan_sentences(np.frombuffer(data, np.uint8), character_classes(), *_placeholders(data),
                                          np.zeros(1, np.int64), 100, 0, False, out, offsets, pieces,
                                          np.empty(n, np.int64))
    ends = offsets[1:n_tokens + 1].tolist()
    assert [out[a:b].tobytes() for a, b in zip([0, *ends], ends)] == tokens and n_bytes == ends[-1]
    assert n_pieces == sentences


def test_character_classes_are_the_regular_expressions() -> None:
    table = character_classes()
    for char in ["a", "_", "-", "’", ".", '"', " ", "\u3000", "٣", "\u0301", "🐍", "\x00"]:
        bits = int(table[ord(char)])
        assert bool(bits & 1) == bool(re.fullmatch(WORD, char)) and bool(bits & 32) == bool(re.fullmatch(r"\d", char))
        assert bool(bits & 16) == char.isspace()


def test_normalize_fast_path_equals_the_full_passes() -> None:
    import unicodedata

    from shardvec.text.normalize import _CONTROL, _SPACES

    pieces = list("aé \t\n\r\x00\x07\x1c\x85\xa0\u3000\u2028\u200b\ufeff\u2003ﬁ") + ["  ", "x y"]
    rng = random.Random(3)
    for _ in range(20000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 30)))
        full = _SPACES.sub(" ", _CONTROL.sub(" ", unicodedata.normalize("NFKC", text))).strip()
        assert normalize_text(text, fix_mojibake=False) == full, repr(text)
