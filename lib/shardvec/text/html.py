"""HTML to its main text, with Resiliparse (maintained, C++; also reads WARC as FastWARC).

Boilerplate (navigation, footers, scripts) is left out, so Word2Vec learns
from what a page says rather than its menus.
"""

from __future__ import annotations


def decode_html(data: bytes) -> str:
    """Bytes of a page as text, in the encoding its bytes and meta tags suggest."""
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    return bytes_to_str(data, detect_encoding(data))


def html_to_text(html: str) -> str:
    """The main content of a page as plain text, paragraphs on separate lines."""
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    return extract_plain_text(HTMLTree.parse(html), main_content=True, alt_texts=False, links=False)
