"""`kamerqa eval --conversations FILE`: answer@1 of written conversations, first turns against follow-ups.

A conversation is one JSON line: {"id", "lang", "turns": [{"question", "answers": [{"doc_id", "quote"}]}]},
each quote an exact substring (40-300 characters) of its letter's raw text (eval/conversations.jsonl).
Every turn is asked as the next turn of its conversation (`qa.conversation.ask`). A turn's answer is right
at 1 (`answer_at_1`) when the first sentence it quotes overlaps a gold quote of the same letter by at
least min(40 characters, half the shorter span); an abstention is a miss.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from qa.answer import Answer
from qa.conversation import ask

MIN_QUOTE, MAX_QUOTE = 40, 300
OVERLAP_CHARS = 40  # as in the issue: min(40 characters, half the shorter span)


@dataclass(frozen=True)
class Gold:
    doc_id: str
    start: int
    end: int


@dataclass(frozen=True)
class ConversationTurn:
    question: str
    gold: tuple[Gold, ...]


@dataclass(frozen=True)
class Conversation:
    id: str
    lang: str
    turns: tuple[ConversationTurn, ...]


def spans_overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Do two raw spans of one letter overlap by at least min(40 characters, half the shorter)?"""
    overlap = min(a[1], b[1]) - max(a[0], b[0])
    return overlap > 0 and overlap >= min(OVERLAP_CHARS, 0.5 * min(a[1] - a[0], b[1] - b[0]))


def answer_at_1(answer: Answer, gold: tuple[Gold, ...]) -> bool:
    """Does the answer's first quoted sentence overlap a gold quote of its letter? (Abstention: no.)"""
    if not answer.answered or not answer.citations:
        return False
    first = answer.citations[0]
    return any(g.doc_id == first.hit.letter.id and spans_overlap(first.sentence, (g.start, g.end)) for g in gold)


def load_conversations(path: Path | str, letters: dict) -> list[Conversation]:
    """The conversations of a JSON-lines file, every quote located in its letter; raises ValueError naming
    the line and the quote that is not an exact 40-300 character substring of its letter."""
    conversations = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            turns = []
            for turn in obj["turns"]:
                gold = tuple(_locate(a["doc_id"], a["quote"], letters) for a in turn["answers"])
                turns.append(ConversationTurn(str(turn["question"]), gold))
            conversations.append(Conversation(str(obj["id"]), obj.get("lang", ""), tuple(turns)))
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}:{number}: {e}; each line needs 'id' and 'turns' of 'question' and "
                             f"'answers' [{{'doc_id', 'quote'}}]") from None
    return conversations


def _locate(doc_id: str, quote: str, letters: dict) -> Gold:
    if doc_id not in letters:
        raise ValueError(f"letter {doc_id!r} is not in the index")
    if not MIN_QUOTE <= len(quote) <= MAX_QUOTE:
        raise ValueError(f"quote of {doc_id} has {len(quote)} characters; give {MIN_QUOTE}-{MAX_QUOTE}")
    start = letters[doc_id].text.find(quote)
    if start < 0:
        raise ValueError(f"quote {quote[:50]!r}... is not in the raw text of {doc_id}")
    return Gold(doc_id, start, start + len(quote))


def evaluate_conversations(index, conversations: list[Conversation], standalone: bool = False, **ask_options) -> dict:
    """answer@1 of every turn, and its means for first turns and follow-up turns (and by language).
    `standalone`: every turn asked on its own, as before follow-ups were resolved (the baseline)."""
    rows = []
    for conversation in conversations:
        history = []
        for number, turn in enumerate(conversation.turns, start=1):
            asked = ask(index, turn.question, [] if standalone else history, **ask_options)
            history.append(asked)
            rows.append({"id": conversation.id, "turn": number, "lang": conversation.lang,
                         "question": turn.question, "searched": asked.resolved.query,
                         "follow_up": asked.resolved.follow_up, "answered": asked.answer.answered,
                         "answer@1": float(answer_at_1(asked.answer, turn.gold))})
    result = {"first": _mean([r for r in rows if r["turn"] == 1]),
              "follow_up": _mean([r for r in rows if r["turn"] > 1])}
    for lang in sorted({r["lang"] for r in rows}):
        result[f"first_{lang}"] = _mean([r for r in rows if r["turn"] == 1 and r["lang"] == lang])
        result[f"follow_up_{lang}"] = _mean([r for r in rows if r["turn"] > 1 and r["lang"] == lang])
    result["turns"] = rows
    return result


def _mean(rows: list[dict]) -> dict:
    return {"answer@1": round(sum(r["answer@1"] for r in rows) / len(rows), 3) if rows else 0.0, "n": len(rows),
            "abstained": sum(not r["answered"] for r in rows)}


def format_table(result: dict) -> str:
    lines = [f"{'turns':<14}{'answer@1':>9}{'n':>5}{'abstained':>10}"]
    for name, row in result.items():
        if name != "turns":
            lines.append(f"{name:<14}{row['answer@1']:>9.3f}{row['n']:>5}{row['abstained']:>10}")
    gap = result["first"]["answer@1"] - result["follow_up"]["answer@1"]
    lines.append(f"first - follow-up: {gap:+.3f}")
    return "\n".join(lines)
