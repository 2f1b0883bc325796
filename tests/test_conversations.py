"""eval/conversations.jsonl: at least 30 two- and three-turn conversations in Dutch and English, every
gold quote an exact 40-300 character substring of its letter in the default corpus."""
from __future__ import annotations

import json
from pathlib import Path

from qa.conversation_eval import load_conversations
from tests.conftest import shared_corpus

CONVERSATIONS = Path(__file__).resolve().parents[1] / "eval" / "conversations.jsonl"


def test_every_gold_quote_is_in_its_letter():
    from corpus.readers import read_corpus

    root = shared_corpus()
    letters = {m.id: m for m in read_corpus([root / "sgd" / "letters.jsonl", root / "modern"]).letters}
    conversations = load_conversations(CONVERSATIONS, letters)  # raises on a quote that is not there
    assert len(conversations) >= 30
    assert {c.lang for c in conversations} == {"nl", "en"}
    assert all(2 <= len(c.turns) <= 3 for c in conversations)
    assert all(turn.gold for c in conversations for turn in c.turns)
    ids = [json.loads(line)["id"] for line in CONVERSATIONS.read_text(encoding="utf-8").splitlines()]
    assert len(ids) == len(set(ids))
