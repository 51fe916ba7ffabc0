"""The mojibake test looks only around trigger characters and answers exactly as ftfy's is_bad."""

from __future__ import annotations

import random

from ftfy.badness import is_bad as ftfy_is_bad

from shardvec.text.mojibake import _plan, is_bad
from shardvec.text.normalize import repair_mojibake

MOJIBAKE = ["doesnâ€™t", "cafÃ©", "Ð¿Ñ€Ð¸Ð²ÐµÑ‚", "Â ", "×²", "√±", "вЂ", "ā€", "œil", "à²", "Ã\xa0", "β€™"]
CLEAN = ["café au lait", "naïve “quoted” don’t – ok…", "ΟΔΟΣ Привет 日本語", "¶ © ® ° é × → • ·", "1 ½ cup"]


def test_the_fast_path_is_taken_with_the_installed_ftfy() -> None:
    plan = _plan()
    assert plan is not None  # ftfy's expression has the shape the windows rely on
    _, triggers, widest = plan
    assert 2 <= widest <= 16 and not triggers.search("".join(map(chr, range(128))) + " ’ – — … \u200b")


def test_same_answer_as_ftfy_on_known_text() -> None:
    for text in MOJIBAKE + CLEAN + [m + " " + c for m in MOJIBAKE for c in CLEAN] + [c * 50 for c in CLEAN]:
        assert is_bad(text) == ftfy_is_bad(text), text
    assert is_bad("doesnâ€™t") and is_bad("cafÃ©") and not any(is_bad(c) for c in CLEAN)


def test_same_answer_as_ftfy_on_random_text() -> None:
    pieces = MOJIBAKE + CLEAN + list("aA .,!?\n\t0é€œŠš¢£Ÿž\xa0\xad®©°·»«–—´ÂÃÎÐØÙà√≈‚ВГРСΒΓΞΟ") + [
        chr(c) for c in range(0x80, 0x100)]
    rng = random.Random(5)
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randrange(1, 25))) for _ in range(20000)]
    answers = [is_bad(t) for t in texts]
    assert answers == [ftfy_is_bad(t) for t in texts]
    assert 0 < sum(answers) < len(texts)  # both answers occur


def test_repair_still_repairs() -> None:
    assert repair_mojibake("The Mona Lisa doesnâ€™t have eyebrows.") == "The Mona Lisa doesn’t have eyebrows."
    assert repair_mojibake("naïve “quoted” don’t") == "naïve “quoted” don’t"
