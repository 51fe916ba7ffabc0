"""Builders of prepare's test inputs: every format and every kind of damage, made in tmp_path."""

from __future__ import annotations

import bz2
import gzip
import json
import random
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

# Real-looking English prose: enough stop words and word variety for the quality rules.
PROSE = [
    "The history of the city is long and full of change, with markets that have grown along the river.",
    "Scientists have found that the new method works well with data collected over many years.",
    "A small team of engineers built the bridge to connect the two villages on either side of the valley.",
    "The committee agreed that the report should be published and shared with the public next month.",
    "Children in the school learn to read and write before they study history and the natural sciences.",
    "Farmers in the region grow wheat and barley, and they trade with merchants from the northern towns.",
]


def prose(n_sentences: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(PROSE) for _ in range(n_sentences))


def warc_record(warc_type: str, payload: bytes, uri: str = "http://example.com/",
                content_type: str = "application/http; msgtype=response") -> bytes:
    head = (f"WARC/1.0\r\nWARC-Type: {warc_type}\r\nWARC-Record-ID: <urn:uuid:{uuid.uuid4()}>\r\n"
            f"WARC-Date: 2024-05-01T12:00:00Z\r\nWARC-Target-URI: {uri}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n").encode()
    return head + payload + b"\r\n\r\n"


def http_response(body: bytes, content_type: str) -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n\r\n".encode() + body


def html_page(text: str, title: str = "A page") -> str:
    return (f"<!DOCTYPE html><html><head><title>{title}</title><script>var tracking = 1;</script></head>"
            f"<body><nav><a href='/'>Home</a> | <a href='/about'>About us</a></nav>"
            f"<main><h1>{title}</h1><p>{text}</p></main><footer>Copyright footer text</footer></body></html>")


def write_warc(path: Path, pages: list[tuple[str, bytes, str]], gzip_members: bool = True) -> Path:
    """A WARC with a warcinfo record, then one response per (uri, body, content type)."""
    records = [warc_record("warcinfo", b"software: shardvec-tests\r\n", content_type="application/warc-fields")]
    for uri, body, ctype in pages:
        records.append(warc_record("request", b"GET / HTTP/1.1\r\n\r\n", uri, "application/http; msgtype=request"))
        records.append(warc_record("response", http_response(body, ctype), uri))
    path.write_bytes(b"".join(gzip.compress(r) for r in records) if gzip_members else b"".join(records))
    return path


def write_wet(path: Path, texts: list[tuple[str, str]]) -> Path:
    """A WET file: warcinfo, then one ``conversion`` record of plain text per (uri, text)."""
    records = [warc_record("warcinfo", b"software: shardvec-tests\r\n", content_type="application/warc-fields")]
    records += [warc_record("conversion", text.encode(), uri, "text/plain") for uri, text in texts]
    path.write_bytes(b"".join(gzip.compress(r) for r in records))
    return path


def write_wiki(path: Path, pages: list[tuple[str, str, str]]) -> Path:
    """A bz2 MediaWiki dump of (title, namespace, wikitext) pages."""
    ns = "http://www.mediawiki.org/xml/export-0.10/"
    body = "".join(f"<page><title>{t}</title><ns>{n}</ns><id>{i}</id><revision><id>{100 + i}</id>"
                   f"<text xml:space=\"preserve\">{x}</text></revision></page>"
                   for i, (t, n, x) in enumerate(pages, start=1))
    xml = f'<mediawiki xmlns="{ns}" version="0.10"><siteinfo><sitename>Wiki</sitename></siteinfo>{body}</mediawiki>'
    path.write_bytes(bz2.compress(xml.encode()))
    return path


def write_jsonl(path: Path, lines: list[object | str]) -> Path:
    """Objects are serialized; strings are written verbatim (to make malformed lines)."""
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), encoding="utf-8")
    return path


def write_parquet(path: Path, columns: dict[str, list]) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


def truncated_gzip(path: Path, text: str) -> Path:
    data = gzip.compress(text.encode())
    path.write_bytes(data[: len(data) * 2 // 3])
    return path


_SYLLABLES = ["ka", "lo", "mi", "re", "tu", "sa", "ne", "po", "di", "ga", "ve", "zu", "ri", "ho", "fa", "bel"]
WORDS = sorted({a + b + c for a in _SYLLABLES for b in _SYLLABLES for c in ("", "n", "s")})


def random_text(n_words: int, seed: int) -> str:
    """Sentences of made-up words: two texts with different seeds share almost no 5-word shingle."""
    rng = random.Random(seed)
    words = [rng.choice(WORDS) for _ in range(n_words)]
    return " ".join(w + ("." if i % 12 == 11 else "") for i, w in enumerate(words))
