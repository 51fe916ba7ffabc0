"""ftfy's "is this text mojibake?" test, with the same answer, looking only where mojibake can be.

``ftfy.badness.is_bad`` searches a regular expression of some forty
alternatives at every position of the text, for every non-ASCII document
(what that cost is in docs/prepare.md). Every alternative needs at least
one character from a small set of non-ASCII characters (the "triggers")
and matches at most a few characters, so a match can only lie within that
width of a trigger. :func:`is_bad` finds the triggers with one character-class scan and
runs ftfy's own expression only on the windows around them.

The triggers and the width are read from ftfy's expression itself (its parse
tree), so they follow the installed ftfy; if its shape is ever beyond this
reasoning (a lookaround, an unbounded repeat, an alternative without a
non-ASCII character it must match), :func:`is_bad` searches the whole text,
as ftfy does.
"""

from __future__ import annotations

import re
from functools import lru_cache

from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]

_SINGLE = (sre.LITERAL, sre.NOT_LITERAL, sre.IN, sre.ANY, sre.CATEGORY)


def _members(item: tuple) -> frozenset[int] | None:  # type: ignore[type-arg]
    """The code points a one-character item matches, if it is a plain literal or set; else None."""
    op, av = item
    if op is sre.LITERAL:
        return frozenset([av])
    if op is not sre.IN:
        return None
    points: set[int] = set()
    for sub_op, sub_av in av:
        if sub_op is sre.LITERAL:
            points.add(sub_av)
        elif sub_op is sre.RANGE:
            points.update(range(sub_av[0], sub_av[1] + 1))
        else:  # a negation or a category: not a small set
            return None
    return frozenset(points)


def _width(item: tuple) -> int | None:  # type: ignore[type-arg]
    """The most characters an item matches, or None if that is not bounded."""
    op, av = item
    if op in _SINGLE:
        return 1
    if op is sre.AT and av is sre.AT_BEGINNING:
        return 0
    if op is sre.MAX_REPEAT and av[1] is not sre.MAXREPEAT:
        inner = [_width(i) for i in av[2]]
        return None if None in inner else av[1] * sum(inner)  # type: ignore[arg-type]
    return None


@lru_cache(maxsize=1)
def _plan() -> tuple[re.Pattern[str], re.Pattern[str], int] | None:
    """(ftfy's expression, a class of its trigger characters, the widest match), or None to search everything."""
    from ftfy.badness import BADNESS_RE

    tree = sre_parse.parse(BADNESS_RE.pattern, BADNESS_RE.flags)
    branches = [list(tree)]
    if len(tree) == 1 and tree[0][0] is sre.BRANCH:
        branches = [list(b) for b in tree[0][1][1]]
    triggers: set[int] = set()
    widest = 0
    for items in branches:
        widths = [_width(i) for i in items]
        if None in widths:
            return None
        widest = max(widest, sum(widths))  # type: ignore[arg-type]
        # One item every match of this alternative must hold; the smallest such set of non-ASCII characters.
        required = [m for m in map(_members, items) if m and min(m) >= 0x80]
        if not required:
            return None
        triggers |= min(required, key=len)
    char_class = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(triggers)) + "]")
    return BADNESS_RE, char_class, widest


def is_bad(text: str) -> bool:
    """``ftfy.badness.is_bad(text)``: whether ``text`` looks like it holds mojibake."""
    plan = _plan()
    if plan is None:
        from ftfy.badness import is_bad as ftfy_is_bad

        return ftfy_is_bad(text)
    badness, triggers, widest = plan
    # Windows around the triggers, overlapping ones merged; a match lies inside the window of a trigger it holds.
    lo = hi = -1
    for found in triggers.finditer(text):
        start, end = max(found.start() - widest + 1, 0), min(found.start() + widest, len(text))
        if start <= hi:
            hi = end
            continue
        if hi > lo and badness.search(text, lo, hi):
            return True
        lo, hi = start, end
    return hi > lo and badness.search(text, lo, hi) is not None
