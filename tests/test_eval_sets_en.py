"""The English development set (eval/dev_en.jsonl) and the unanswerable set (eval/unanswerable_en.jsonl):
every gold quote is an exact span of its letter's raw text as kamerqa reads it, and the sets keep the
shape they were written to (question kinds, spread over letters, near-miss share)."""
from __future__ import annotations

import json
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

import pytest

from corpus.readers import read_corpus
from qa.gold import resolve_gold
from qa.questions import read_kamerqa_jsonl
from tests.conftest import shared_corpus

EVAL = Path(__file__).resolve().parents[1] / "eval"
DEV_EN = EVAL / "dev_en.jsonl"
UNANSWERABLE_EN = EVAL / "unanswerable_en.jsonl"
TYPES = {"why", "number", "when", "who", "decision", "position", "what", "keyword"}
CORE_TYPES = ("why", "number", "when", "who", "decision")  # each at least MIN_PER_CORE_TYPE (issue 10)
MIN_PER_CORE_TYPE = 8
QUOTE_CHARS = (40, 300)
DOC_ID = re.compile(r"\b(?:sgd-\d{10}|kst-\d+-\d+|seed-\d+)\b")


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@lru_cache(maxsize=1)
def default_letters() -> dict:
    root = shared_corpus()
    return {letter.id: letter for letter in read_corpus([root / "sgd" / "letters.jsonl", root / "modern"]).letters}


def test_dev_en_shape():
    rows = records(DEV_EN)
    ids = [q["id"] for q in rows]
    assert len(ids) == len(set(ids)) and all(re.fullmatch(r"en-\d{3}", i) for i in ids)
    assert len(rows) >= 60
    assert {q["lang"] for q in rows} == {"en"}
    kinds = Counter(q["type"] for q in rows)
    assert set(kinds) <= TYPES, kinds
    assert all(kinds[k] >= MIN_PER_CORE_TYPE for k in CORE_TYPES), kinds
    assert len({a["doc_id"] for q in rows for a in q["answers"]}) >= 45
    for q in rows:
        assert q["answers"], q["id"]
        for answer in q["answers"]:
            assert QUOTE_CHARS[0] <= len(answer["quote"]) <= QUOTE_CHARS[1], (q["id"], len(answer["quote"]))


def test_dev_en_reads_without_problems():
    question_set = read_kamerqa_jsonl(DEV_EN)
    assert not question_set.problems
    assert len(question_set.questions) == len(records(DEV_EN))


def test_dev_en_quotes_are_exact_spans_of_the_default_corpus():
    letters = default_letters()
    missing = [(q["id"], a["doc_id"]) for q in records(DEV_EN) for a in q["answers"]
               if a["doc_id"] not in letters or a["quote"] not in letters[a["doc_id"]].text]
    assert not missing
    gold, problems = resolve_gold(read_kamerqa_jsonl(DEV_EN).questions, letters)
    assert not problems and len(gold) == len(records(DEV_EN))


def test_dev_en_asks_nothing_the_original_set_asks():
    original = EVAL.parents[1] / "shared" / "eval" / "dev_questions.jsonl"
    if not original.exists():
        pytest.skip(f"needs {original}")
    asked = {q["question"].strip().lower() for q in records(original)}
    assert not [q["id"] for q in records(DEV_EN) if q["question"].strip().lower() in asked]


def test_unanswerable_en_shape():
    rows = records(UNANSWERABLE_EN)
    ids = [q["id"] for q in rows]
    assert len(ids) == len(set(ids)) and all(re.fullmatch(r"uen-\d{2}", i) for i in ids)
    assert len(rows) >= 32
    assert all(q["question"].strip() and q["notes"].strip() for q in rows)
    assert {q["type"] for q in rows} <= {"near-miss", "out-of-corpus"}
    assert sum(q["type"] == "near-miss" for q in rows) * 2 >= len(rows)
    langs = Counter(q["lang"] for q in rows)
    assert set(langs) == {"en", "nl"} and langs["en"] > langs["nl"]
    dev = {q["question"].strip().lower() for q in records(DEV_EN)}
    assert not [q["id"] for q in rows if q["question"].strip().lower() in dev]


def test_near_misses_name_letters_that_exist():
    """A near-miss says which letter has the topic; that letter must be in the default corpus or the large one."""
    letters = default_letters()
    large = shared_corpus() / "sgd" / "kamerstukken.jsonl"
    large_ids = set(re.findall(r'"id": "(sgd-\d{10})"', large.read_text(encoding="utf-8")))
    for q in records(UNANSWERABLE_EN):
        if q["type"] != "near-miss":
            continue
        named = DOC_ID.findall(q["notes"])
        assert named, f"{q['id']}: a near-miss should name the letter that has the topic"
        assert all(d in letters or d in large_ids for d in named), (q["id"], named)
