"""MediaWiki XML dumps (``*-pages-articles.xml.bz2``), markup stripped by gensim."""

from __future__ import annotations

from typing import Iterator

from shardvec.readers.base import EMPTY, Document, Dropped, Event, FileStatus, ReaderSettings, record_id
from shardvec.readers.fs import open_input

REDIRECT = "wiki_redirect"


def read_wiki(path: str, settings: ReaderSettings) -> Iterator[Event]:
    """Article pages (namespace 0); redirects are dropped with their own reason."""
    from gensim.corpora.wikicorpus import extract_pages, filter_wiki

    records = 0
    with open_input(path, settings.storage_options) as fh:
        for title, text, page_id in extract_pages(fh, filter_namespaces=("0",)):
            records += 1
            doc_id = record_id(path, records)
            if text.lstrip().lower().startswith("#redirect"):
                yield Dropped(doc_id, path, REDIRECT)
                continue
            plain = filter_wiki(text)
            if not plain.strip():
                yield Dropped(doc_id, path, EMPTY)
            else:
                yield Document(doc_id, plain, path, record_id=str(page_id), url=title)
    yield FileStatus(path, "ok", records, "wiki")
