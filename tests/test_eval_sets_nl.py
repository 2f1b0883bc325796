"""The question files in eval/ are well-formed and their gold quotes really are in the letters.

Every `eval/*.jsonl` file with `answers` is a development set: each quote must be an exact substring
(40-300 characters) of the raw text of its letter as kamerqa reads it from the default corpus. Files
without `answers` are unanswerable sets. The Dutch sets also keep the size and mix the issue asks for.
Needs ../shared/corpus; skipped when this checkout has none beside it.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import shared_corpus

EVAL = Path(__file__).resolve().parents[1] / "eval"
QUOTE_CHARS = (40, 300)  # the quote length the eval format prescribes (../shared/eval/README.md)
UNANSWERABLE_TYPES = {"near-miss", "out-of-corpus"}


def question_files() -> list[Path]:
    """The question sets (one question a line); conversations and LLM claims have their own tests."""
    return sorted(p for p in EVAL.glob("*.jsonl") if not p.name.startswith(("conversations", "llm_")))


def read_rows(path: Path) -> list[dict]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError as e:
                pytest.fail(f"{path.name}:{number} is not JSON ({e}); fix the line")
    return rows


@pytest.fixture(scope="module")
def corpus_texts() -> dict[str, str]:
    """Letter id -> raw text of the default corpus, read the way kamerqa reads it."""
    from corpus.readers import read_corpus

    root = shared_corpus()
    letters = read_corpus([root / "sgd" / "letters.jsonl", root / "modern"]).letters
    return {letter.id: letter.text for letter in letters}


def test_there_are_question_files():
    names = {p.name for p in question_files()}
    assert {"dev_nl.jsonl", "unanswerable_nl.jsonl"} <= names, f"eval/ holds {sorted(names)}"


@pytest.mark.parametrize("path", question_files(), ids=lambda p: p.name)
def test_rows_have_fields_and_unique_ids(path: Path):
    rows = read_rows(path)
    assert rows, f"{path.name} is empty"
    ids = Counter(r.get("id") for r in rows)
    assert not [i for i, n in ids.items() if n > 1], f"{path.name}: duplicate ids"
    for r in rows:
        assert r.get("id") and r.get("question", "").strip(), f"{path.name}: row without id or question: {r}"
        assert r.get("lang") in ("nl", "en"), f"{path.name} {r['id']}: lang must be nl or en"
        if "answers" in r:
            assert r["answers"] and r.get("type"), f"{path.name} {r['id']}: needs answers and a type"
        elif "type" in r:
            assert r["type"] in UNANSWERABLE_TYPES, f"{path.name} {r['id']}: type {r['type']!r}"


@pytest.mark.parametrize("path", question_files(), ids=lambda p: p.name)
def test_quotes_are_exact_spans_of_their_letters(path: Path, corpus_texts: dict[str, str]):
    bad = []
    for r in read_rows(path):
        for a in r.get("answers", []):
            text = corpus_texts.get(a["doc_id"])
            if text is None:
                bad.append(f"{r['id']}: no letter {a['doc_id']} in the default corpus")
            elif a["quote"] not in text:
                bad.append(f"{r['id']}: quote not in {a['doc_id']}: {a['quote'][:60]!r}")
            elif not QUOTE_CHARS[0] <= len(a["quote"]) <= QUOTE_CHARS[1]:
                bad.append(f"{r['id']}: quote of {len(a['quote'])} characters")
    assert not bad, f"{path.name}: " + "; ".join(bad[:10])


def test_no_question_is_asked_twice():
    seen: dict[str, str] = {}
    paths = question_files() + [p for p in [shared_corpus().parent / "eval" / "dev_questions.jsonl"] if p.exists()]
    for path in paths:
        for r in read_rows(path):
            key = " ".join(r["question"].lower().split())
            assert key not in seen, f"{path.name} {r['id']} repeats {seen.get(key)}"
            seen[key] = f"{path.name} {r['id']}"


def test_dutch_development_set_size_and_mix():
    rows = read_rows(EVAL / "dev_nl.jsonl")
    types = Counter(r["type"] for r in rows)
    docs = {a["doc_id"] for r in rows for a in r["answers"]}
    assert len(rows) >= 105 and all(r["lang"] == "nl" for r in rows)
    assert all(types[t] >= 12 for t in ("why", "number", "when", "who", "decision")), dict(types)
    assert len(docs) >= 70 and any(not d.startswith("sgd-") for d in docs), f"{len(docs)} letters"


def test_dutch_unanswerable_set_size_and_mix():
    rows = read_rows(EVAL / "unanswerable_nl.jsonl")
    types = Counter(r["type"] for r in rows)
    assert len(rows) >= 32 and types["near-miss"] * 2 >= len(rows), dict(types)
    assert all(r.get("notes") for r in rows), "every unanswerable question says what the corpus has nearby"
