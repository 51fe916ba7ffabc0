"""Progress lines on stderr, so stdout stays free for the summary table."""

from __future__ import annotations

import sys


def log(message: str) -> None:
    print(f"[finetune] {message}", file=sys.stderr, flush=True)
