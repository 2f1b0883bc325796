"""An optional written answer from any OpenAI-compatible server (llama.cpp's llama-server, Ollama, vLLM,
a hosted one), every sentence of which kamerqa checks against the passage it cites before showing it.

The path: the question and the top passages, numbered [1]..[n] -> POST {url}/chat/completions
(`complete`) -> split the reply into sentences -> `check_sentence` each: it must cite a passage that was
given, its numbers, dates, names and quoted phrases must occur in the cited passage, and it must be close
to that passage (rapidfuzz, or the index's embedding model) -> the supported sentences are shown, the
others are listed with the reason they were dropped. When the server is absent, slow or malformed, the
answer is in the wrong language, or no sentence survives, `LLMAnswer.fallback` says why and the caller
shows the extractive answer. Nothing is sent anywhere unless the caller passes an `LLMConfig`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz import fuzz

from corpus.meta import MONTHS
from corpus.models import Hit
from qa import hints
from qa.answer import Answer, cite
from qa.llm_client import LLMConfig, LLMError, complete, prompt
from qa.search import best_sentence_row, passage_number, query_vector

MAX_PASSAGES = 5  # passages given to the model, numbered [1]..[5]
# A sentence is close to its cited passage when rapidfuzz's partial ratio (best-aligned substring, folded
# text) reaches FUZZ_MIN, or the cosine of the sentence (as a query) to the passage's best sentence
# reaches COSINE_MIN. COSINE_MIN sits above the abstention threshold (0.82, qa/answer.py) so that a
# sentence must be nearer its passage than a question that the passage merely answers. Chosen with
# eval/llm_checks.py on 26 hand-written paraphrases and translations (eval/llm_claims.jsonl, docs/LLM.md);
# not tuned on a real model's answers (none can run here).
FUZZ_MIN = 70
COSINE_MIN = 0.86
NAME_MATCH = 85  # partial ratio for a name (a capitalised word) to count as occurring in the passage
COMMON_WORD_ZIPF = 4.0  # a capitalised word this frequent in the question's language may come from the question
#                         ("Transport" may, "Brussels", "Smit-Kroes" may not; set on eval/llm_claims.jsonl)
CORPUS_NAMES = frozenset({"dutch", "netherlands", "nederland", "nederlandse", "nederlands", "holland"})  # every
#                         letter is Dutch: naming the country is never an invented name

@dataclass(frozen=True)
class SentenceCheck:
    text: str  # as generated, citation markers included
    citations: tuple[int, ...]
    checks: dict = field(default_factory=dict)  # check name -> passed
    problems: tuple[str, ...] = ()  # why it is unsupported
    closeness: dict = field(default_factory=dict)  # {"fuzz": 0-100, "cosine": -1..1}

    @property
    def supported(self) -> bool:
        return not self.problems

    def to_json(self) -> dict:
        return {"text": self.text, "citations": list(self.citations), "supported": self.supported,
                "checks": self.checks, "problems": list(self.problems),
                "closeness": {k: round(float(v), 3) for k, v in self.closeness.items()}}


@dataclass(frozen=True)
class LLMAnswer:
    model: str
    passages: tuple[Hit, ...]  # given to the model as [1]..[n]
    sentences: tuple[SentenceCheck, ...] = ()
    fallback: str = ""  # why the extractive answer is shown instead ("" when the written one is)
    reply: str = ""
    done: bool = True  # False for a snapshot while the reply is still streaming (qa/llm_stream.py)

    @property
    def shown(self) -> tuple[SentenceCheck, ...]:
        return () if self.fallback else tuple(s for s in self.sentences if s.supported)

    def to_json(self) -> dict:
        return {"model": self.model, "used": not self.fallback, "fallback": self.fallback,
                "sentences": [s.to_json() for s in self.sentences],
                "passages": [h.passage.id for h in self.passages]}


# ---- the checks ------------------------------------------------------------------------------------

_CITATION = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
_NUMBER = re.compile(r"\d+(?:[ .,]\d+)*")
_QUOTED = re.compile(r"[\"“„«]([^\"”“«»]{3,}?)[\"”»]")
_WORD = re.compile(r"[A-Za-zÀ-ÿ][\w'-]*")


def fold(text: str) -> str:
    """Lower case, no soft hyphens or line-end hyphenation, whitespace folded: for matching, not display."""
    text = re.sub(r"-\s*\n\s*", "", text.replace("\u00ad", ""))
    return re.sub(r"\s+", " ", text).strip().lower()


def split_sentences(reply: str) -> list[str]:
    """The reply's sentences, each with the citation markers that follow it."""
    text = re.sub(r"\s+", " ", reply).strip()
    parts = re.split(r"(?<=[.!?])\s+(?=[^\s\[])|(?<=\])\s+(?=[A-ZÀ-Ý\"“„'(])", text)
    return [p.strip() for p in parts if re.search(r"\w", p)]


def _digits(number: str) -> str:
    return re.sub(r"\D", "", number)


def _numbers_missing(claim: str, evidence: str) -> list[str]:
    """Numbers in the claim that the evidence does not contain (400 000 = 400.000; 2.5 = 2,5)."""
    have = {_digits(n) for pattern in (_NUMBER, r"\d+(?:[.,]\d+)*", r"\d+") for n in re.findall(pattern, evidence)}
    return [n for n in _NUMBER.findall(claim) if _digits(n) not in have]


WEEKDAYS = {day: n for n, days in enumerate((("maandag", "monday"), ("dinsdag", "tuesday"), ("woensdag", "wednesday"),
                                            ("donderdag", "thursday"), ("vrijdag", "friday"), ("zaterdag", "saturday"),
                                            ("zondag", "sunday"))) for day in days}


def _dates_missing(claim: str, evidence: str) -> list[str]:
    """Month and weekday names in the claim with no name of the same month or day in the evidence
    (juni = June, zondag = Sunday)."""
    words = re.findall(r"[A-Za-z]+", evidence.lower())
    missing = []
    for names in (MONTHS, WEEKDAYS):
        have = {names[w] for w in words if w in names}
        missing += [w for w in re.findall(r"[A-Za-z]+", claim) if w.lower() in names and names[w.lower()] not in have]
    return missing


def _names_missing(claim: str, evidence: str, question: str, language: str) -> list[str]:
    """Capitalised words (not the first) that the evidence does not contain (fuzzily: Brussels = Brussel).
    A frequent word of the language ("Transport", "Italy") may also come from the question; a rare word or
    an acronym ("Pietersma", "KNVB") must be in the evidence."""
    from wordfreq import zipf_frequency  # (only with an LLM: its import is ~0.1 s of every one-off ask)

    question = fold(question)
    missing = []
    for word in dict.fromkeys(_WORD.findall(claim)[1:]):
        low = word.lower()
        if not word[0].isupper() or low in MONTHS or low in WEEKDAYS or low in CORPUS_NAMES:
            continue
        if fuzz.partial_ratio(low, evidence) >= NAME_MATCH:
            continue
        frequent = not word.isupper() and zipf_frequency(low, language) >= COMMON_WORD_ZIPF
        if not (frequent and re.search(rf"\b{re.escape(low)}\b", question)):
            missing.append(word)
    return missing


def check_sentence(sentence: str, question: str, hits: list[Hit], similarity=None) -> SentenceCheck:
    """Is this generated sentence supported by the passages it cites? `hits` are the passages given,
    [1]..[n]; `similarity(sentence, hit)` is the embedding cosine (None: rapidfuzz only)."""
    cited = tuple(int(n) for group in _CITATION.findall(sentence) for n in re.findall(r"\d+", group))
    claim = _CITATION.sub(" ", sentence).strip()
    checks, problems = {}, []
    checks["cites"] = bool(cited)
    if not cited:
        problems.append("cites no passage")
    invalid = [n for n in cited if not 1 <= n <= len(hits)]
    checks["citations_given"] = not invalid
    if invalid:
        problems.append(f"cites {', '.join(f'[{n}]' for n in invalid)}, but only [1]..[{len(hits)}] were given")
    valid = [hits[n - 1] for n in dict.fromkeys(cited) if 1 <= n <= len(hits)]
    if not valid:
        return SentenceCheck(sentence, cited, checks, tuple(problems))
    evidence = fold(" ".join(h.passage.text for h in valid))
    language = hints.language(question)
    for name, missing, what in (("numbers", _numbers_missing(claim, evidence), "number"),
                                ("dates", _dates_missing(claim, evidence), "month or day"),
                                ("names", _names_missing(claim, evidence, question, language), "name"),
                                ("quotes", [q for q in _QUOTED.findall(claim) if fold(q) not in evidence], "quote")):
        checks[name] = not missing
        if missing:
            problems.append(f"{what} {', '.join(f'“{m}”' for m in missing)} not in the cited passage")
    closeness = {"fuzz": max(fuzz.partial_ratio(fold(claim), fold(h.passage.text)) for h in valid)}
    if similarity is not None:
        closeness["cosine"] = max(similarity(claim, h) for h in valid)
    checks["close"] = closeness["fuzz"] >= FUZZ_MIN or closeness.get("cosine", -1.0) >= COSINE_MIN
    if not checks["close"]:
        shown = ", ".join(f"{k} {v:.2f}" for k, v in closeness.items())
        problems.append(f"not close to the cited passage ({shown}; needs fuzz {FUZZ_MIN} or cosine {COSINE_MIN})")
    return SentenceCheck(sentence, cited, checks, tuple(problems), closeness)


def embedding_similarity(index):
    """similarity(sentence, hit): cosine of the sentence (as a query) to the hit's closest sentence vector
    (to the passage's own vector when it has none), with the index's embedding model."""
    def similarity(sentence: str, hit: Hit) -> float:
        q = query_vector(index, sentence)
        row = passage_number(index, hit.passage)
        best = best_sentence_row(index, row, q)
        return best[1] if best is not None else float(np.asarray(index.vectors.reconstruct(row)) @ q)

    return similarity


def check_reply(reply: str, question: str, hits: list[Hit], similarity=None, model: str = "") -> LLMAnswer:
    """Every sentence of the reply checked; `fallback` set when the answer as a whole cannot be shown."""
    sentences = tuple(check_sentence(s, question, hits, similarity) for s in split_sentences(reply))
    asked, answered = hints.language(question), hints.language(_CITATION.sub(" ", reply))
    fallback = ""
    if asked != answered:
        fallback = f"the LLM answered in {answered!r} but the question is in {asked!r}"
    elif not any(s.supported for s in sentences):
        fallback = "no generated sentence passed the checks"
    return LLMAnswer(model, tuple(hits), sentences, fallback, reply)


def llm_answer(config: LLMConfig, question: str, hits: list[Hit], index=None) -> LLMAnswer:
    """Ask the server to answer from the top passages and check every sentence (never raises LLMError:
    a failure is the answer's `fallback`)."""
    given = list(hits[:MAX_PASSAGES])
    if not given:
        return LLMAnswer(config.model, (), fallback="no passages to answer from; the LLM was not asked")
    try:
        reply = complete(config, prompt(question, given))
    except LLMError as e:
        return LLMAnswer(config.model, tuple(given), fallback=str(e))
    similarity = embedding_similarity(index) if index is not None else None
    return check_reply(reply, question, given, similarity, config.model)


def as_text(llm: LLMAnswer, answer: Answer) -> str:
    """The written answer with its citations and the sentences dropped (and why); or the extractive
    answer with the reason the written one is not shown."""
    if llm.fallback:
        return f"{answer.as_text()}\n(LLM answer not shown: {llm.fallback}; this is the extractive answer)"
    cited = sorted({n for s in llm.shown for n in s.citations})
    lines = [f"Q: {answer.question}"] + [s.text for s in llm.shown] + [""]
    lines += [f"[{n}] {cite(llm.passages[n - 1])}" for n in cited]
    dropped = [s for s in llm.sentences if not s.supported]
    if dropped:
        lines.append("Dropped as unsupported:")
        lines += [f"  - {s.text!r}: {'; '.join(s.problems)}" for s in dropped]
    lines.append(f"(written by the LLM{' ' + llm.model if llm.model else ''}; every sentence shown was checked "
                 f"against the passage it cites)")
    return "\n".join(lines)
