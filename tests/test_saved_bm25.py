"""index/lexical.py reads a saved BM25 index without bm25s and scores it as bm25s does."""
from __future__ import annotations

from pathlib import Path

import bm25s
import numpy as np

from index.lexical import Lexical, SavedBM25, analyse

LETTERS = Path(__file__).parent / "letters"
QUESTIONS = ["Wie onderhoudt de dijken?", "dijken kosten dijken", "migratie asiel GEAS", "onderwijs leraren tekort",
             "Wat wil Nederland op het gebied van secundaire migratie?", "dijkversterking", "xyzzy"]


def _paragraphs() -> list[str]:
    texts = [p.read_text(encoding="utf-8") for p in sorted(LETTERS.rglob("*")) if p.is_file()]
    return [block for text in texts for block in text.split("\n\n") if block.strip()]


def _saved(folder: Path, method: str = "lucene") -> Path:
    bm25 = bm25s.BM25(k1=1.2, b=0.75, method=method)
    bm25.index([analyse(t) for t in _paragraphs()], show_progress=False)
    bm25.save(str(folder), show_progress=False)
    return folder


def test_saved_scores_are_bm25s_scores(tmp_path):
    folder = _saved(tmp_path / "lexical")
    ours, theirs = Lexical.load(folder), bm25s.BM25.load(str(folder), show_progress=False, verbosity=0)
    assert isinstance(ours.bm25, SavedBM25)
    assert ours.vocab == tuple(sorted(t for t in theirs.vocab_dict if t))
    assert ours.document_frequency() == Lexical(theirs, ours.vocab).document_frequency()
    scored = 0
    for question in QUESTIONS:
        terms = ours.query_terms(question)
        if terms:
            mine, reference = ours.bm25.get_scores(terms), theirs.get_scores(terms)
            assert mine.dtype == reference.dtype and np.array_equal(mine, reference)
            scored += bool(mine.any())
        assert np.array_equal(ours.scores(question), Lexical(theirs, ours.vocab).scores(question))
    assert scored >= 4


def test_a_variant_with_absent_term_scores_is_read_by_bm25s(tmp_path):
    folder = _saved(tmp_path / "lexical", method="bm25l")
    ours = Lexical.load(folder)
    assert isinstance(ours.bm25, bm25s.BM25)
    assert ours.scores("dijken kosten").any()
