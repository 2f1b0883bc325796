"""Questions asked in turns: a follow-up ("En wat vindt Italië daarvan?", "die brief", "and in 1990?")
is resolved against the previous turn before it is searched.

`resolve(question, previous)` decides whether the question stands alone or refers back, and returns the
query and filters to search with (`Resolved`); `ask(index, question, history)` resolves, searches and
composes the answer and returns the `Turn` that the next question is resolved against. What was searched
is always shown (`Resolved.describe()`), so a wrong resolution is visible to the user.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Callable, Sequence

from corpus.models import Hit
from qa import hints
from qa.answer import Answer, compose_answer
from qa.search import DEFAULT_RETRIEVER, Filters, check_question, search

# Words that carry no topic: question words, pronouns, articles, auxiliaries (Dutch and English).
FUNCTION_WORDS = frozenset("""
de het een en of van wat welke welk wie waarom hoe wanneer waar is zijn was waren wordt worden werd
op in voor met door naar over bij kan kunnen wil willen zal zullen moet moeten heeft hebben had
er dat die dit deze ook nog al niet geen wel dan toen als om te tot uit aan zo hoeveel hoelang
ik je jij u we wij ze zij hij hem haar hun men mijn uw ons onze daar hier
the a an and or of what which who whom whose why how when where is are was were be been being
do does did done has have had will would shall should can could may might must to in on at for with
by from about into as than then so not no it its they them their he she him her his this that these
those there here also still much many again
""".split())
# Each says the question points back at the previous turn.
_LETTER_REF = re.compile(  # the letter itself: restrict to the previous answer's letter(s)
    r"\b(?:die|deze|dezelfde|diezelfde|dat|dit)\s+(?:brief|kamerbrief|stuk|document)\b"
    r"|\b(?:that|this|the same)\s+(?:letter|document)\b"
    r"|\b(?:when|who|why)\s+(?:was|did|is)\s+it\s+(?:sent|written|signed|dated)\b"
    r"|\bwho\s+signed\s+it\b|\bin\s+it\b|\bdaarin\b|\bhierin\b", re.IGNORECASE)
_WEAK_LETTER_REF = re.compile(  # "de brief", "the letter": the previous one only in a short question
    r"\b(?:de|het|the)\s+(?:brief|kamerbrief|letter)\b", re.IGNORECASE)
_ANAPHORA = re.compile(  # the topic: carry it over
    r"\b(?:daar|hier|er)(?:over|van|mee|in|bij|voor|door|op|aan|tegen|na|uit|toe)\b"
    r"|\b(?:hij|hem|he|him|she|hetzelfde)\b|\bthe same\b", re.IGNORECASE)
_WEAK_ANAPHORA = re.compile(  # pronouns that often mean something else: only in short questions
    r"\b(?:zij|ze|haar|dat|dit|die|deze|daar|it|its|they|them|their|her|this|that|those|these)\b", re.IGNORECASE)
WEAK_BELOW = 5  # a weak pronoun refers back only in a question with fewer topic words (set by hand)
_CONTINUATION = re.compile(  # "En ...?", "And ...?", "What about ...?", "Hoe zit het met ...?"
    r"^\s*(?:en|and|maar|but|ook|also|what about|how about|hoe zit het met|en hoe zit het met|en wat)\b",
    re.IGNORECASE)
_YEAR_ONLY = re.compile(r"^\W*(?:(?:and|en|what about|how about|ook|also)\s+)?(?:(?:in|rond|around|of|van)\s+)?"
                        r"(1[89]\d\d|20\d\d)\W*$", re.IGNORECASE)
_YEAR = re.compile(r"\b(?:1[89]\d\d|20\d\d)\b")
MIN_CONTENT_WORDS = 3  # fewer topic words than this and the question cannot stand alone (set by hand)
PREFER_MARGIN = 0.02  # a follow-up keeps to the previous letters unless elsewhere answers this much better
#                       (confidence is a cosine; about twice CITE_WITHIN in qa/answer.py; set by hand)


@dataclass(frozen=True)
class Resolved:
    question: str  # as asked
    query: str  # as searched
    filters: Filters
    topic: str  # the topic words the next follow-up carries over
    follow_up: str = ""  # why it was read as a follow-up ("" for a new question)
    prefer: tuple[str, ...] = ()  # letters to keep to when they answer about as well

    def describe(self) -> str:
        scope = self.filters.describe()
        return f"searched: {self.query}" + (f" ({scope})" if scope else "") + (
            f" [follow-up: {self.follow_up}]" if self.follow_up else "")

    def to_json(self) -> dict:
        return {"query": self.query, "follow_up": self.follow_up, "topic": self.topic,
                "filters": self.filters.describe(), "letters": list(self.filters.letters or self.prefer)}


@dataclass(frozen=True)
class Turn:
    resolved: Resolved
    hits: tuple[Hit, ...]
    answer: Answer

    @property
    def letters(self) -> tuple[str, ...]:
        """The letters the answer cites (the best hit's when it abstained): what "that letter" means next."""
        if self.answer.answered:
            return tuple(dict.fromkeys(c.hit.letter.id for c in self.answer.citations))
        return (self.hits[0].letter.id,) if self.hits else ()

    def letter_facts(self) -> str:
        """For a question about "that letter" (when was it sent, who signed it): each letter's date and
        sender, from its metadata; "" for other questions."""
        letters = {h.letter.id: h.letter for h in self.hits if h.letter.id in self.resolved.filters.letters}
        return "; ".join(f"letter {m.id}: dated {m.date or 'unknown'}" + (f", from {m.sender}" if m.sender else "")
                         for m in letters.values())


def topic_words(question: str) -> str:
    """The words of a question that say what it is about: no dates, offices or function words."""
    words = re.findall(r"[\w'-]+", hints.content_question(question))
    return " ".join(w for w in words if w.lower() not in FUNCTION_WORDS and not w.isdigit() and len(w) > 1)


LETTER, YEAR, TOPIC = "letter", "year", "topic"  # what a follow-up carries over (`follow_up_kind`)
_SHOWN = {LETTER: "refers to the letter", YEAR: "names a year only", TOPIC: "refers back"}


def follow_up_kind(question: str) -> tuple[str, str]:
    """(what the question carries over from the previous turn: LETTER, YEAR or TOPIC, why in words);
    ("", "") when it stands alone."""
    for kind, pattern in ((LETTER, _LETTER_REF), (YEAR, _YEAR_ONLY), (TOPIC, _ANAPHORA)):
        m = pattern.search(question)
        if m:
            return kind, f"{_SHOWN[kind]} “{m.group(0).strip()}”"
    m = _CONTINUATION.search(question)
    if m:
        return TOPIC, f"continues “{m.group(0).strip()}”"
    words = len(topic_words(question).split())
    for kind, pattern in ((LETTER, _WEAK_LETTER_REF), (TOPIC, _WEAK_ANAPHORA)):
        m = pattern.search(question)
        if m and words < WEAK_BELOW:
            return kind, f"{_SHOWN[kind]} “{m.group(0)}”"
    if words < MIN_CONTENT_WORDS:
        return TOPIC, "too short to stand alone"
    return "", ""


def why_follow_up(question: str) -> str:
    """Why `question` refers back to the previous turn; "" when it stands alone."""
    return follow_up_kind(question)[1]


def resolve(question: str, previous: Turn | None, filters: Filters = Filters()) -> Resolved:
    """The query and filters to search `question` with, given the previous turn (None: a first question).
    `filters` are the user's own; a follow-up keeps the previous turn's filters where the user set none."""
    question = check_question(question)
    kind, reason = follow_up_kind(question) if previous is not None else ("", "")
    if not kind:
        return Resolved(question, question, filters, topic_words(question))
    before = previous.resolved
    carried = filters if filters != Filters() else replace(before.filters, letters=())
    topic = before.topic
    if kind == YEAR:  # the previous question again, in that year
        year = _YEAR_ONLY.match(question).group(1)
        query = _YEAR.sub(year, before.query) if _YEAR.search(before.query) else f"{before.query} {year}"
        return Resolved(question, query, replace(carried, date_from=year, date_to=year), topic, reason)
    own = topic_words(question)
    query = f"{question} {' '.join(w for w in topic.split() if w not in own.split())}".strip()
    if kind == LETTER:
        return Resolved(question, query, replace(carried, letters=previous.letters), topic, reason)
    return Resolved(question, query, carried, topic + (f" {own}" if own and own not in topic else ""), reason,
                    prefer=previous.letters)


def _search(index, resolved: Resolved, k: int, retriever: str) -> list[Hit]:
    """Hits for the resolved question; a follow-up keeps to the previous letters when they answer about
    as well as the best passage elsewhere."""
    hits = search(index, resolved.query, k=k, retriever=retriever, filters=resolved.filters)
    if not resolved.prefer or not hits:
        return hits
    kept = search(index, resolved.query, k=k, retriever=retriever,
                  filters=replace(resolved.filters, letters=resolved.prefer))
    if kept and max(h.confidence for h in kept[:3]) >= max(h.confidence for h in hits[:3]) - PREFER_MARGIN:
        return kept + [h for h in hits if h.letter.id not in resolved.prefer][: max(0, k - len(kept))]
    return hits


def ask(index, question: str, history: Sequence[Turn] = (), filters: Filters = Filters(), k: int = 10,
        retriever: str = DEFAULT_RETRIEVER, compose: Callable[..., Answer] = compose_answer) -> Turn:
    """Answer `question` as the next turn of a conversation (`history`, oldest first). The resolved query
    (the question with the topic carried over) finds the passages; the question's own words pick the sentence
    each passage answers with, so a follow-up is not answered with the sentence that answered the topic."""
    resolved = resolve(question, history[-1] if history else None, filters)
    hits = _search(index, resolved, k, retriever)
    return Turn(resolved, tuple(hits), compose(resolved.question, hits, index))


def replay(index, questions: Sequence[str], filters: Filters = Filters(), k: int = 10,
           retriever: str = DEFAULT_RETRIEVER) -> list[Turn]:
    """The turns of a conversation asked question by question (for `ask --history`)."""
    history: list[Turn] = []
    for question in questions:
        history.append(ask(index, question, history, filters, k, retriever))
    return history
