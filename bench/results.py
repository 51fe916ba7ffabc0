"""``bench/RESULTS.md``: one section per benchmark, each replaced by its own next run."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(section: str) -> None:
    """Replace the section whose heading is ``section``'s first line, keeping the others."""
    heading = section.splitlines()[0]
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\n"
    start = text.find(heading)
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + (text[end + 1:] if end >= 0 else "")
    RESULTS.write_text(text.rstrip() + "\n\n" + section.rstrip() + "\n")
