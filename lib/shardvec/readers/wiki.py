"""MediaWiki XML dumps (``*-pages-articles.xml.bz2``), markup stripped by gensim."""

from __future__ import annotations

from typing import IO, Iterator

from shardvec.readers.base import EMPTY, Document, Dropped, Reader

REDIRECT = "wiki_redirect"


class WikiReader(Reader):
    """Article pages (namespace 0); redirects are dropped with their own reason."""

    format = "wiki"

    def read_records(self, fh: IO[bytes]) -> Iterator[Document | Dropped]:
        from gensim.corpora.wikicorpus import extract_pages, filter_wiki

        for title, text, page_id in extract_pages(fh, filter_namespaces=("0",)):
            if text.lstrip().lower().startswith("#redirect"):
                yield self.drop(REDIRECT)
                continue
            plain = filter_wiki(text)
            # Not self.record(): a dropped page carries no lineage, only a kept one its id and title.
            yield self.document(plain, record_id=str(page_id), url=title) if plain.strip() else self.drop(EMPTY)
