"""The texts the encoder embeds for a passage and for its sentences (shared by the build and the
int8 calibration, so both see exactly what an index holds)."""
from __future__ import annotations

import numpy as np

from corpus.models import Letter, Passage


def passage_document(passage: Passage, letter: Letter, header: bool) -> str:
    """The text embedded for a passage: an optional header line with the letter's subject and year."""
    if not header or not (letter.title or letter.date):
        return passage.search_text
    year = f" ({letter.date[:4]})" if letter.date else ""
    return f"{letter.title[:150]}{year}\n{passage.search_text}"


def sentence_texts(passage: Passage, min_words: int) -> list[tuple[int, str]]:
    """(number, cleaned text) of the passage's sentences that have at least `min_words` words."""
    texts = ((j, passage.search_text[s:e]) for j, (s, e) in enumerate(passage.clean_sentences))
    return [(j, t) for j, t in texts if len(t.split()) >= min_words]


def corpus_sentences(passages: list[Passage], min_words: int) -> tuple[list[str], np.ndarray]:
    """The sentence texts of `passages` to embed, in order, and their owners: row k is (passage index,
    sentence number) of text k."""
    rows = [(i, j, t) for i, p in enumerate(passages) for j, t in sentence_texts(p, min_words)]
    return [t for _, _, t in rows], np.array([(i, j) for i, j, _ in rows], dtype=np.int32).reshape(-1, 2)
