"""Masking of e-mail addresses, IP addresses and phone numbers.

Each match becomes a placeholder the tokenizer keeps as one token
(``<email>``), so the words around it still have a neighbour to learn from
while the value itself never reaches the vocabulary.
"""

from __future__ import annotations

import re

PII_KINDS = ("email", "ip", "phone")
PLACEHOLDERS = {kind: f"<{kind}>" for kind in PII_KINDS}

_PATTERNS = {
    "email": re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-zA-Z]{2,}\b"),
    "ip": re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b"
                     r"|\b(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}\b"),
    # International or North-American style: +44 20 7946 0958, (555) 123-4567, 555-123-4567.
    "phone": re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]\d{3,4}\b"),
}


_DIGIT = re.compile(r"\d")


def mask_pii(text: str, kinds: tuple[str, ...] | list[str]) -> str:
    """Replace every match of the given kinds by its placeholder (e-mail first: it may hold digits).

    A pattern runs only where it can match: an e-mail address needs an ``@``,
    a phone number and an IPv4 address a digit, an IPv6 address a ``:``; most
    texts have none of them, and a membership test costs far less than a
    regular expression.
    """
    has_digit = None
    for kind in PII_KINDS:
        if kind not in kinds:
            continue
        if kind == "email":
            if "@" not in text:
                continue
        else:
            if has_digit is None:
                has_digit = _DIGIT.search(text) is not None
            if not has_digit and (kind == "phone" or ":" not in text):
                continue
        text = _PATTERNS[kind].sub(PLACEHOLDERS[kind], text)
    return text
