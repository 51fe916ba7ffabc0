"""Target-data readers: every format, auto-detection, and the errors a user can cause."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from gensim.test.utils import datapath

from shardvec.errors import ConfigError, InputError
from shardvec.finetune.datasets import ReadOptions, detect_dataset_format, read_dataset

AUTO = ReadOptions()


def test_fasttext_pang_lee_polarity():
    data = read_dataset(datapath("pang_lee_polarity.cor"), AUTO)
    assert (data.format, data.kind, len(data)) == ("fasttext", "classify", 200)
    assert data.tokens[0] == ["simplistic", "silly", "and", "tedious"]
    assert sorted({ls for ls in data.labels}) == [("neg",), ("pos",)]
    assert not data.multilabel
    assert data.strata[:1] == ["neg"]


def test_fasttext_multilabel_and_tokenizer(tmp_path):
    path = tmp_path / "data.ft"
    path.write_text("__label__a __label__b Don't STOP, believing!\n\n__label__b just b\n", encoding="utf-8")
    data = read_dataset(str(path), AUTO)
    assert data.labels == [("a", "b"), ("b",)]
    assert data.tokens[0] == ["don't", "stop", "believing"]
    assert data.multilabel
    cased = read_dataset(str(path), ReadOptions(lowercase=False))
    assert cased.tokens[0][1] == "STOP"


@pytest.mark.parametrize("suffix,sep", [(".csv", ","), (".tsv", "\t")])
def test_delimited(tmp_path, suffix, sep):
    path = tmp_path / f"data{suffix}"
    path.write_text(f"id{sep}body{sep}topic\n1{sep}\"Hello{sep} world\"{sep}greet\n2{sep}bye now{sep}leave\n",
                    encoding="utf-8")
    data = read_dataset(str(path), ReadOptions(text_field="body", label_field="topic"))
    assert data.format == suffix[1:]
    assert data.tokens == [["hello", "world"], ["bye", "now"]]
    assert data.labels == [("greet",), ("leave",)]


def test_jsonl_with_list_labels(tmp_path):
    path = tmp_path / "data.jsonl"
    rows = [{"text": "red apple", "label": ["fruit", "red"]}, {"text": "blue sky", "label": "sky"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    data = read_dataset(str(path), AUTO)
    assert data.labels == [("fruit", "red"), ("sky",)]
    assert data.multilabel


def test_parquet(tmp_path):
    path = tmp_path / "data.parquet"
    pq.write_table(pa.table({"text": ["one two", "three"], "label": ["x", "y"]}), path)
    data = read_dataset(str(path), AUTO)
    assert (data.format, data.tokens, data.labels) == ("parquet", [["one", "two"], ["three"]], [("x",), ("y",)])


def test_conll_keeps_every_token(tmp_path):
    path = tmp_path / "ner.txt"
    path.write_text("-DOCSTART- -X- O\n\nJohn NNP B-PER\nSmith NNP I-PER\n, , O\nin IN O\n1984 CD O\n\n"
                    "Paris NNP B-LOC\n", encoding="utf-8")
    data = read_dataset(str(path), ReadOptions(fold_numbers=True))
    assert (data.format, data.kind) == ("conll", "tag")
    assert data.tokens == [["john", "smith", ",", "in", "0000"], ["paris"]]
    assert data.labels == [("B-PER", "I-PER", "O", "O", "O"), ("B-LOC",)]
    assert data.strata is None


def test_detect_dataset_format_by_name_and_content(tmp_path):
    names = {"a.csv": "csv", "a.TSV": "tsv", "a.ndjson": "jsonl", "a.pq": "parquet", "a.conll": "conll"}
    for name, fmt in names.items():
        assert detect_dataset_format(tmp_path / name) == fmt
    ft = tmp_path / "plain.txt"
    ft.write_text("some text __label__x\n")
    conll = tmp_path / "tags.txt"
    conll.write_text("a O\nb B-X\n\nc O\n")
    assert detect_dataset_format(ft) == "fasttext"
    assert detect_dataset_format(conll) == "conll"


@pytest.mark.parametrize("name,content,message", [
    ("empty.txt", "", "is empty"),
    ("prose.txt", "just some words in a line that is long\n", "cannot tell the format"),
    ("nolabel.ft", "__label__a fine\nno label here\n", "2: line has no __label__"),
    ("blank.ft", "\n\n", "holds no labelled examples"),
    ("cols.csv", "text,category\nhello,x\n", "no column 'label'"),
    ("empty.csv", "", "is empty"),
    ("header.csv", "text,label\n", "holds no labelled examples"),
    ("nolabel.csv", "text,label\nhello,\n", "record 1 has an empty 'label'"),
    ("bad.jsonl", "{\"text\": \"a\", \"label\": \"x\"}\n{oops\n", "2: not valid JSON"),
    ("field.jsonl", "{\"text\": \"a\"}\n", "1: no field 'label'"),
    ("list.jsonl", "[1, 2]\n", "expected a JSON object"),
    ("short.conll", "word O\nlonely\n", "2: expected 'token ... tag'"),
    ("garbage.parquet", "not parquet", "is not a Parquet file"),
])
def test_reader_errors(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        read_dataset(str(path), AUTO)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_dataset(str(tmp_path / "nope.csv"), AUTO)
    path = tmp_path / "a.csv"
    path.write_text("text,label\na,b\n")
    with pytest.raises(ConfigError, match="finetune.format"):
        read_dataset(str(path), ReadOptions(format="xml"))
