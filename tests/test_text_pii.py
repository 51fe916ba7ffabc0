"""PII masking with its pre-checks masks exactly what every pattern run on every text masks."""

from __future__ import annotations

import random

import pytest

from shardvec.text.pii import _PATTERNS, PII_KINDS, PLACEHOLDERS, mask_pii


def _every_pattern(text: str, kinds: tuple[str, ...]) -> str:
    for kind in PII_KINDS:
        if kind in kinds:
            text = _PATTERNS[kind].sub(PLACEHOLDERS[kind], text)
    return text


@pytest.mark.parametrize("kinds", [PII_KINDS, ("ip",), ("phone",), ("email", "phone")])
def test_pre_checks_change_nothing(kinds: tuple[str, ...]) -> None:
    pieces = list("a1@.:-+() ٣\n") + ["jane.doe@example.org", "10.0.0.1", "dead:beef:cafe:babe:dead:beef:cafe:babe",
                                     "+44 20 7946 0958", "(555) 123-4567", "٣٣٣-٣٣٣-٣٣٣٣", "x@y.co", "1.2.3.4"]
    rng = random.Random(4)
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randrange(0, 20))) for _ in range(5000)]
    masked = [mask_pii(t, kinds) for t in texts]
    assert masked == [_every_pattern(t, kinds) for t in texts]
    assert sum(m != t for m, t in zip(masked, texts)) > 500  # the patterns did match


def test_digitless_ipv6_is_still_masked() -> None:
    assert mask_pii("host dead:beef:cafe:babe:dead:beef:cafe:babe up", ["ip"]) == "host <ip> up"
