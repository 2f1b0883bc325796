"""The real model on the default corpus (marked: slower; CI runs them)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index.embed import load_embedder
from qa.cli import main
from qa.search import search
from tests.conftest import SHARED

pytestmark = pytest.mark.model


def test_offline_model_embeds_dutch_and_english_alike():
    embedder = load_embedder()
    assert embedder.name == "multilingual-e5-small" and embedder.dim == 384
    q = embedder.encode_queries(["Wat wil Nederland op het gebied van secundaire migratie?",
                                 "what does NL want on secondary migration?"])
    p = embedder.encode_passages(["Nederland hecht groot belang dat het GEAS bijdraagt aan het voorkomen van "
                                  "secundaire migratie.", "De sluis in de Oesterdam wordt gebouwd."])
    assert np.allclose(np.linalg.norm(q, axis=1), 1, atol=1e-4)
    scores = q @ p.T
    assert (scores[:, 0] > scores[:, 1] + 0.05).all()


MIGRATION_QUESTIONS = ["Wat wil Nederland op het gebied van secundaire migratie?",
                       "what does NL want on secondary migration?"]
GEAS_SENTENCE = "GEAS bijdraagt aan het voorkomen van secundaire migratie"  # paragraph 5 of the seed letter


@pytest.mark.parametrize("question", MIGRATION_QUESTIONS)
def test_secondary_migration_passage_in_top_3(real_index, question):
    hits = search(real_index, question, k=3)
    seed = [h for h in hits if h.letter.id == "seed-2298637" and "secundaire migratie" in h.passage.text]
    assert seed, [(h.letter.id, h.passage.text[:80]) for h in hits]
    letter = seed[0].letter
    assert letter.date == "2018-06-21" and letter.kenmerk == "2298637"
    assert "Harbers" in letter.sender and "Staatssecretaris" in letter.sender
    assert letter.title.startswith("Ingelaste Europese migratiebijeenkomst")


@pytest.mark.slow
def test_openvino_is_imported_without_sending_its_usage_telemetry():
    """`import openvino` sends a Google Analytics event unless told not to; the encoder's import must not."""
    probe = ("import openvino_telemetry as tm\n"
             "sent = []\n"
             "tm.Telemetry.send_event = lambda self, *a, **k: sent.append((a, self.consent))\n"
             "from index.export import openvino\n"
             "openvino().Core()\n"
             "import os\n"
             "print(sent, os.environ.get('CI'))\n")
    pytest.importorskip("openvino_telemetry")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True,
                         cwd=Path(__file__).parents[1]).stdout
    assert "'general_import'" in out  # the event was made ...
    assert out.strip().endswith("False)] None")  # ... without consent, and CI is not left set


@pytest.mark.parametrize("k", ["3", "5", "10"])  # `kamerqa ask -k 3`, its default, the app's
@pytest.mark.parametrize("question", MIGRATION_QUESTIONS)
def test_secondary_migration_quotes_the_geas_sentence(real_index, question, k, capsys):
    """Issue 10: `kamerqa ask QUESTION --json` answers both questions (Dutch and English: the English one
    has no word of the letter but look-alikes) with the seed letter's GEAS sentence as its first quote, not
    the neighbouring passage that ranks a hair higher."""
    capsys.readouterr()
    assert main(["ask", question, "--json", "-k", k, "--index", str(real_index.path)]) == 0
    answer = json.loads(capsys.readouterr().out)["answer"]
    assert not answer["abstained"], answer["reason"]
    first = answer["quotes"][0]
    assert first["letter_id"] == "seed-2298637" and first["paragraph"] == 5, first
    assert GEAS_SENTENCE in " ".join(first["text"].split()), first["text"]


def test_own_pieces_tokenise_questions_and_passages_as_the_whole_tokenizer(real_index):
    """index/pieces.py against the whole XLM-R tokenizer.json: every dev question and passage (odd texts
    are in tests/test_pieces.py)."""
    from tokenizers import Tokenizer

    from index.embed import e5_small_path
    from index.pieces import open_table

    folder = e5_small_path()
    table, whole = open_table(folder), Tokenizer.from_file(str(folder / "tokenizer.json"))
    whole.no_padding()
    whole.enable_truncation(512)
    root = Path(__file__).resolve().parents[1]
    questions = [json.loads(line)["question"] for path in (SHARED / "eval" / "dev_questions.jsonl",
                                                           root / "eval" / "unanswerable.jsonl")
                 for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = [f"query: {q}" for q in questions] + [f"passage: {p.search_text}" for p in real_index.passages]
    for start in range(0, len(texts), 8):
        batch = texts[start:start + 8]
        assert table.ids(batch, 512) == [e.ids for e in whole.encode_batch(batch)], batch
