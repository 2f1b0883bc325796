"""`kamerqa eval` on the answer, not only the passages: is the first quoted block a gold quote, how many
words are quoted, and does kamerqa abstain where the letters do not say it?

  answer@1             the first quoted block overlaps a gold quote of the same letter by at least
                       min(40 characters, half the shorter span); an abstention is a miss
  quoted_words_p50     median words quoted (answered questions)
  abstained_wrongly    share of the answerable questions abstained on
  abstained_left_out   share abstained on the "answer left out" variants: each question searched with
                       its gold letter(s) removed from the candidates
  abstained_unanswerable  share abstained on the questions of `--unanswerable FILE`
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Callable

from corpus.models import Hit
from qa.gold import GoldSpan
from qa.questions import Question

MIN_QUOTE_OVERLAP_CHARS = 40  # the issue's definition of a right quote: min(40 chars, half the shorter span)

# search(question, k, exclude_letters) -> hits; compose(question, hits) -> an answer with .answered and
# .quotes (dicts with letter_id, start, end, text: `qa.answer.Answer`)
ExcludingSearch = Callable[[str, int, tuple[str, ...]], list[Hit]]


def quote_matches(letter_id: str, start: int, end: int, spans: tuple[GoldSpan, ...]) -> bool:
    """Does the quoted block [start, end) of `letter_id` overlap a gold quote of that letter enough?"""
    for span in spans:
        if span.doc_id != letter_id:
            continue
        if span.start is None:
            return True
        overlap = min(end, span.end) - max(start, span.start)
        if overlap > 0 and overlap >= min(MIN_QUOTE_OVERLAP_CHARS, 0.5 * min(end - start, span.end - span.start)):
            return True
    return False


def answer_row(answer, spans: tuple[GoldSpan, ...]) -> dict:
    """answer@1 and the words quoted for one composed answer."""
    quotes = answer.quotes if answer.answered else ()
    first = quotes[0] if quotes else None
    hit = bool(first and quote_matches(first["letter_id"], first["start"], first["end"], spans))
    return {"answered": bool(answer.answered), "answer@1": float(hit),
            "quoted_words": len(first["text"].split()) if first else 0}


def read_unanswerable(path: str | Path) -> list[str]:
    """The questions of a JSON-lines file of unanswerable questions ({"id", "question", "lang"})."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"unanswerable question set {path} does not exist; pass a .jsonl file with "
                                f"one {{\"question\": ...}} a line")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [str(row["question"]) for row in rows if isinstance(row, dict) and row.get("question")]


def score_answers(questions: tuple[Question, ...], gold: dict, run: dict[str, list[Hit]], compose,
                  search: ExcludingSearch | None = None, unanswerable: list[str] = (), k: int = 10) -> dict:
    """The answer metrics of one retriever (keys added to its `eval --json` entry)."""
    rows = {q.id: answer_row(compose(q.question, run[q.id][:k]), gold[q.id]) for q in questions}
    words = [r["quoted_words"] for r in rows.values() if r["answered"]]
    n = max(len(rows), 1)
    result = {"answer@1": sum(r["answer@1"] for r in rows.values()) / n,
              "quoted_words_p50": float(statistics.median(words)) if words else 0.0,
              "abstained_wrongly": sum(not r["answered"] for r in rows.values()) / n}
    if search is not None:
        left_out = [compose(q.question, search(q.question, k, tuple(sorted({s.doc_id for s in gold[q.id]}))))
                    for q in questions]
        result["abstained_left_out"] = sum(not a.answered for a in left_out) / max(len(left_out), 1)
        if unanswerable:
            answers = [compose(text, search(text, k, ())) for text in unanswerable]
            result["abstained_unanswerable"] = sum(not a.answered for a in answers) / len(answers)
            result["n_unanswerable"] = len(answers)
    return result | {"answer_rows": rows}
