"""An extractive answer: the sentences of the best passages that answer the question, each followed by
its citation marker. No sentence appears that is not in a cited letter; when nothing answers well
enough the answer says so and lists the closest passages as possibly relevant."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from corpus.models import Hit
from qa import hints
from qa.render import cite, tidy  # noqa: F401 (cite: re-exported for callers)
from qa.search import best_sentence_row, passage_number, query_vector

# kamerqa answers when one of the top hits has a sentence whose cosine to the question (the hit's
# confidence) reaches this, per question language (an English question is matched across languages and
# scores lower). Chosen in docs/RETRIEVAL.md from `eval/abstain.py` on the default corpus: it abstains
# on about half the questions the corpus cannot answer (eval/unanswerable.jsonl) and on none of the
# development questions. Tuned constants, for multilingual-e5-small.
ABSTAIN_BELOW = {"nl": 0.82, "en": 0.81}
MAX_CITED = 3
CITE_WITHIN = 0.015  # cite a further hit only when its confidence is this close to the best one
EXTRA_MARGIN = 0.01  # ... and this far above the abstention threshold


@dataclass(frozen=True)
class Citation:
    number: int
    hit: Hit
    sentence: tuple[int, int]  # raw span of the answering sentence in the letter

    @property
    def paragraph(self) -> int:
        """The paragraph of the answering sentence (a passage may join short paragraphs)."""
        p = self.hit.passage
        if self.sentence in p.sentences and p.sentence_paragraphs:
            return p.sentence_paragraphs[p.sentences.index(self.sentence)]
        return p.paragraph

    def sentence_text(self) -> str:
        return tidy(self.hit.letter.text[self.sentence[0]:self.sentence[1]])


@dataclass(frozen=True)
class Answer:
    question: str
    answered: bool
    citations: tuple[Citation, ...] = ()
    related: tuple[Hit, ...] = ()  # possibly relevant when not answered
    language: str = "nl"
    note: str = field(default="")

    def sentences(self) -> list[str]:
        return [f"{c.sentence_text()} [{c.number}]" for c in self.citations]

    def as_text(self) -> str:
        lines = [f"Q: {self.question}"]
        if self.answered:
            lines += self.sentences()
            lines.append("")
            lines += [f"[{c.number}] {cite(c.hit, c.paragraph)}" for c in self.citations]
        else:
            lines.append(no_answer_message(self.language))
            lines += [f"  - {cite(h)}: {tidy(h.passage.text)[:200]}" for h in self.related]
        return "\n".join(lines)


def no_answer_message(language: str) -> str:
    if language == "en":
        return "I found no passage that answers this well enough. Possibly relevant:"
    return "Ik vond geen passage die deze vraag goed genoeg beantwoordt. Mogelijk relevant:"


def best_sentence(hit: Hit, question: str, index=None) -> tuple[int, int]:
    """Raw span of the hit's sentence that best answers the question: by sentence vectors when the
    index has them, else by shared words."""
    spans = hit.passage.sentences or ((hit.passage.start, hit.passage.end),)
    if index is not None and index.sentence_vectors is not None:
        q = query_vector(index, hints.content_question(question))
        best = best_sentence_row(index, passage_number(index, hit.passage), q)
        if best is not None:
            return spans[int(index.sentence_owner[best[0], 1])]
    words = set(re.findall(r"\w{4,}", question.lower()))
    overlap = [len(words & set(re.findall(r"\w{4,}", hit.letter.text[s:e].lower()))) for s, e in spans]
    return spans[int(np.argmax(overlap))]


def compose_answer(question: str, hits: list[Hit], index=None, abstain_below: float | None = None) -> Answer:
    """The answer to `question` from its hits (best first): the best sentence of each of the top hits
    that answer well enough, the best-answering first; or, when none does, an abstention."""
    language = hints.language(question)
    threshold = ABSTAIN_BELOW[language] if abstain_below is None else abstain_below
    top_hits = hits[:MAX_CITED]
    if not top_hits or max(h.confidence for h in top_hits) < threshold:
        return Answer(question, False, related=tuple(hits[:3]), language=language)
    # the best-answering hit, then only hits that answer clearly and about as well: a weak extra
    # citation costs more trust than it adds
    ranked = sorted(top_hits, key=lambda h: -h.confidence)
    floor = max(threshold + EXTRA_MARGIN, ranked[0].confidence - CITE_WITHIN)
    chosen = ranked[:1] + [h for h in ranked[1:] if h.confidence >= floor]
    citations = tuple(Citation(n, h, best_sentence(h, question, index)) for n, h in enumerate(chosen, start=1))
    return Answer(question, True, citations, language=language)
