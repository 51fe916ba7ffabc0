"""Real English text for the benchmarks, obtained at bench time and never committed.

Debian packages carry large real text: a dictionary (GCIDE), WordNet glosses,
fortunes, Perl's manual and the Python and Linux kernel documentation (reST
sources and real HTML pages). The Brown Corpus comes from ``../shared/data/brown.tar.gz``
when it is there. The HTML pages are also wrapped as WARC response records
(Common Crawl's layout, uncompressed) for the web path. Everything is cached
under ``$SHARDVEC_BENCH_CACHE`` (default ``~/.cache/shardvec-bench``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

PACKAGES = ("dict-gcide", "wordnet-base", "fortunes", "python3.11-doc", "linux-doc-6.1", "perl-doc")
REPO = Path(__file__).resolve().parents[1]
BROWN = REPO.parent / "shared" / "data" / "brown.tar.gz"


def cache_dir() -> Path:
    path = Path(os.environ.get("SHARDVEC_BENCH_CACHE", Path.home() / ".cache" / "shardvec-bench"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def fetch_packages(cache: Path | None = None) -> Path:
    """Download and unpack the Debian packages once; return the unpacked root."""
    cache = cache or cache_dir()
    root = cache / "debian"
    marker = root / ".complete"
    if marker.exists():
        return root
    debs = cache / "debs"
    debs.mkdir(exist_ok=True)
    print(f"[bench] downloading {', '.join(PACKAGES)}", file=sys.stderr)
    subprocess.run(["apt-get", "download", "-q", *PACKAGES], cwd=debs, check=True)
    root.mkdir(exist_ok=True)
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
    marker.touch()
    return root


def read_brown(path: Path = BROWN) -> dict[str, list[list[tuple[str, str]]]]:
    """Source file name (``ca01`` ...) -> its sentences of (word, tag), in name order."""
    files: dict[str, list[list[tuple[str, str]]]] = {}
    with tarfile.open(path) as tar:
        for member in tar:
            name = Path(member.name).name
            if not member.isfile() or not re.fullmatch(r"c[a-r]\d\d", name):
                continue
            raw = tar.extractfile(member).read().decode("utf-8")  # type: ignore[union-attr]
            files[name] = [[tuple(tok.rsplit("/", 1)) for tok in line.split()]  # type: ignore[misc]
                           for line in raw.splitlines() if line.strip()]
    return dict(sorted(files.items()))


def brown_sentences(cache: Path | None = None) -> Path | None:
    """The Brown Corpus as plain text, one file per source file, tags removed.

    Returns None when ``../shared/data/brown.tar.gz`` is missing.
    """
    if not BROWN.exists():
        print(f"[bench] {BROWN} is missing: the Brown Corpus is left out", file=sys.stderr)
        return None
    out = (cache or cache_dir()) / "brown-plain"
    if (out / ".complete").exists():
        return out
    out.mkdir(exist_ok=True)
    for name, sentences in read_brown().items():
        lines = [" ".join(word for word, _ in sentence) for sentence in sentences]
        (out / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / ".complete").touch()
    return out


def text_inputs(cache: Path | None = None) -> list[Path]:
    """Plain-text inputs (documentation sources, dictionary, glosses, scripture, fortunes, Brown)."""
    root = fetch_packages(cache)
    share = root / "usr" / "share"
    files = sorted((share / "doc" / "python3.11" / "html" / "_sources").rglob("*.txt"))
    files += sorted((share / "doc" / "linux-doc-6.1" / "html" / "_sources").rglob("*.txt"))
    files += sorted((share / "perl").rglob("*.pod"))
    files += sorted((share / "dictd").glob("*.dict.dz"))
    files += sorted((share / "wordnet").glob("data.*"))
    files += sorted(p for p in (share / "games" / "fortunes").glob("*") if p.is_file() and not p.suffix)
    brown = brown_sentences(cache)
    if brown:
        files += sorted(brown.glob("*.txt"))
    return files


def html_inputs(cache: Path | None = None) -> list[Path]:
    """Real web-like HTML pages (the Python and Linux kernel documentation)."""
    doc = fetch_packages(cache) / "usr" / "share" / "doc"
    return sorted(p for d in ("python3.11", "linux-doc-6.1") for p in (doc / d / "html").rglob("*.html")
                  if "_sources" not in p.parts)


def warc_inputs(cache: Path | None = None, file_mb: float = 8.0) -> list[Path]:
    """The HTML pages as WARC files of about ``file_mb`` MB: a ``warcinfo`` record, then per page a
    ``request`` and a ``response`` record with its HTTP header, as a crawler writes them."""
    out = (cache or cache_dir()) / "warc"
    if not (out / ".complete").exists():
        out.mkdir(exist_ok=True)
        chunks: list[bytes] = []
        for i, page in enumerate(html_inputs(cache)):
            uri = f"https://docs.example.org/{page.parent.name}/{page.name}"
            body = page.read_bytes()
            chunks.append(_warc_record("request", f"GET /{page.name} HTTP/1.1\r\nHost: docs.example.org\r\n\r\n"
                                       .encode(), uri, "application/http; msgtype=request", i))
            http = f"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {len(body)}\r\n\r\n"
            chunks.append(_warc_record("response", http.encode() + body, uri, "application/http; msgtype=response", i))
            if sum(map(len, chunks)) >= file_mb * 2 ** 20:
                _write_warc(out, chunks)
                chunks = []
        if chunks:
            _write_warc(out, chunks)
        (out / ".complete").touch()
    return sorted(out.glob("*.warc"))


def warc_sample(target_mb: float) -> list[Path]:
    """The first WARC files of :func:`warc_inputs` that together reach ``target_mb`` MB."""
    chosen, total = [], 0
    for path in warc_inputs():
        if total >= target_mb * 2 ** 20:
            break
        chosen.append(path)
        total += path.stat().st_size
    return chosen


def _warc_record(kind: str, payload: bytes, uri: str, content_type: str, n: int) -> bytes:
    head = (f"WARC/1.0\r\nWARC-Type: {kind}\r\nWARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-{n:012d}>\r\n"
            f"WARC-Date: 2024-05-01T12:00:00Z\r\nWARC-Target-URI: {uri}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n").encode()
    return head + payload + b"\r\n\r\n"


def _write_warc(out: Path, records: list[bytes]) -> None:
    info = _warc_record("warcinfo", b"software: shardvec bench\r\n", "", "application/warc-fields", 0)
    (out / f"pages-{len(list(out.glob('*.warc'))):03d}.warc").write_bytes(info + b"".join(records))


if __name__ == "__main__":
    for label, files in (("text", text_inputs()), ("html", html_inputs()), ("warc", warc_inputs())):
        size = sum(f.stat().st_size for f in files)
        print(f"{label}: {len(files)} files, {size / 2**20:.1f} MiB")
