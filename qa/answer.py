"""An extractive answer: the sentences of the best passages that answer the question, each followed by
its citation marker. No sentence appears that is not in a cited letter; when nothing answers well
enough the answer says so and lists the closest passages as possibly relevant."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from corpus.models import Hit
from qa import abstain, hints
from qa.quote import best_block, candidates, further_quote
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
    sentence: tuple[int, int]  # raw span of the quoted block (1-3 sentences) in the letter
    rank: int = 0  # 0-based rank of the hit among the search results

    @property
    def paragraph(self) -> int:
        """The paragraph of the answering sentence (a passage may join short paragraphs)."""
        p = self.hit.passage
        if self.sentence in p.sentences and p.sentence_paragraphs:
            return p.sentence_paragraphs[p.sentences.index(self.sentence)]
        return p.paragraph

    def sentence_text(self) -> str:
        return tidy(self.hit.letter.text[self.sentence[0]:self.sentence[1]])

    def to_json(self) -> dict:
        """One quote of `kamerqa ask --json`'s answer: raw span, the text as shown, 1-based hit rank."""
        return {"letter_id": self.hit.letter.id, "paragraph": self.paragraph, "start": self.sentence[0],
                "end": self.sentence[1], "text": self.sentence_text(), "hit": self.rank + 1}


@dataclass(frozen=True)
class Answer:
    question: str
    answered: bool
    citations: tuple[Citation, ...] = ()
    related: tuple[Hit, ...] = ()  # possibly relevant when not answered
    language: str = "nl"
    note: str = field(default="")
    reason: str = ""  # the evidence the decision to answer or abstain rests on

    @property
    def quotes(self) -> tuple[dict, ...]:
        return tuple(c.to_json() for c in self.citations) if self.answered else ()

    def sentences(self) -> list[str]:
        return [f"{c.sentence_text()} [{c.number}]" for c in self.citations]

    def text(self) -> str:
        """The answer as a reader sees it: the quoted blocks with their markers, or the abstention."""
        return " ".join(self.sentences()) if self.answered else no_answer_message(self.language)

    def to_json(self) -> dict:
        """The `answer` object of `kamerqa ask --json`."""
        return {"text": self.text(), "abstained": not self.answered, "reason": self.reason,
                "quotes": list(self.quotes)}

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
    """The answer to `question` from its hits (best first): the block of sentences that answers it
    (`qa.quote`), when the evidence says the letters answer it (`qa.abstain`); else an abstention that
    lists the closest passages. `abstain_below` replaces that decision by a cosine threshold (tests);
    without an index with sentence vectors the old per-hit choice is used."""
    language = hints.language(question)
    if not hits:
        return Answer(question, False, language=language, reason="no passage was found")
    if index is None or index.sentence_vectors is None:
        return _compose_by_confidence(question, hits, index, abstain_below)
    found = candidates(index, question, hits)
    quote = best_block(found, hits)
    if quote is None:
        return Answer(question, False, related=tuple(hits[:3]), language=language,
                      reason="the top passages have no sentence that can be quoted")
    decision = abstain.decide(abstain.evidence(index, question, hits, quote))
    answerable = decision.answerable if abstain_below is None else hits[quote.rank].confidence >= abstain_below
    if not answerable:
        return Answer(question, False, related=tuple(hits[:3]), language=language, reason=decision.reason)
    citations = [Citation(1, hits[quote.rank], quote.span, quote.rank)]
    if (further := further_quote(found, hits, quote)) is not None:
        citations.append(Citation(2, hits[further.rank], further.span, further.rank))
    return Answer(question, True, tuple(citations), language=language, reason=decision.reason)


def _compose_by_confidence(question: str, hits: list[Hit], index, abstain_below: float | None) -> Answer:
    """The first version: the best sentence of each top hit whose confidence reaches the threshold."""
    language = hints.language(question)
    threshold = ABSTAIN_BELOW[language] if abstain_below is None else abstain_below
    top_hits = hits[:MAX_CITED]
    if not top_hits or max(h.confidence for h in top_hits) < threshold:
        return Answer(question, False, related=tuple(hits[:3]), language=language,
                      reason=f"no top passage reaches cosine {threshold}")
    # the best-answering hit, then only hits that answer clearly and about as well: a weak extra
    # citation costs more trust than it adds
    ranked = sorted(top_hits, key=lambda h: -h.confidence)
    floor = max(threshold + EXTRA_MARGIN, ranked[0].confidence - CITE_WITHIN)
    chosen = ranked[:1] + [h for h in ranked[1:] if h.confidence >= floor]
    citations = tuple(Citation(n, h, best_sentence(h, question, index), hits.index(h))
                      for n, h in enumerate(chosen, start=1))
    return Answer(question, True, citations, language=language, reason=f"best cosine {ranked[0].confidence:.3f}")
