"""Follow-up questions resolved against the previous turn, `kamerqa chat`, `ask --history`, and answer@1."""
from __future__ import annotations

import io
import json
from functools import partial

import pytest

from qa import cli
from qa.answer import compose_answer
from qa.conversation import ask, resolve, why_follow_up
from qa.conversation_eval import Gold, answer_at_1, load_conversations, spans_overlap
from qa.search import Filters
from tests.conftest import answer_always

MIGRATION = "Wat wil Nederland op het gebied van secundaire migratie?"
compose = partial(compose_answer, abstain_below=-1.0)  # the fake embedder scores below the real threshold


@pytest.mark.parametrize("question, kind", [
    ("En wat vindt Italië daarvan?", "refers back"),
    ("Wanneer is die brief verstuurd?", "refers to the letter"),
    ("When was that letter sent?", "refers to the letter"),
    ("and in 1990?", "names a year only"),
    ("1985", "names a year only"),
    ("Harbers?", "too short"),
    ("Waarom?", "too short"),
    ("How much did it cost?", "refers back"),
    ("En de dijken?", "continues"),
    ("Wanneer is de brief verstuurd?", "refers to the letter"),
])
def test_follow_ups_are_recognised(question, kind):
    assert why_follow_up(question).startswith(kind)


@pytest.mark.parametrize("question", [
    MIGRATION, "What did the Minister of Verkeer en Waterstaat decide in June 1983 about the lock in the Oesterdam?",
    "Hoeveel werkgevers wilde de overheid rond 1980 aanschrijven met voorlichting over de Wet gelijke behandeling?",
    "Welke minister stuurde de brief over de sluis in de Oesterdam en over de kosten?"])
def test_questions_that_stand_alone_are_new(question):
    assert why_follow_up(question) == ""


def test_a_first_question_is_never_a_follow_up(fake_index):
    assert resolve("Waarom?", None).follow_up == ""
    turn = ask(fake_index, "Waarom?", compose=compose)
    assert turn.resolved.query == "Waarom?"


def test_that_letter_restricts_to_the_previous_answers_letter(fake_index):
    first = ask(fake_index, MIGRATION, compose=compose)
    assert first.letters == ("brief-migratie",)
    second = ask(fake_index, "Wie heeft die brief ondertekend?", [first], compose=compose)
    assert second.resolved.filters.letters == ("brief-migratie",)
    assert {h.letter.id for h in second.hits} == {"brief-migratie"}
    assert "in letter brief-migratie" in second.resolved.describe()
    assert second.letter_facts() == ("letter brief-migratie: dated 2019-03-12, from Staatssecretaris van Justitie "
                                     "en Veiligheid (Anna de Vries)")
    assert first.letter_facts() == ""


def test_a_short_follow_up_carries_the_topic_and_prefers_the_letter(fake_index):
    first = ask(fake_index, MIGRATION, compose=compose)
    second = ask(fake_index, "En Frontex?", [first], compose=compose)
    assert second.resolved.follow_up.startswith("continues")
    assert "secundaire migratie" in second.resolved.query and second.resolved.query.startswith("En Frontex?")
    assert second.hits[0].letter.id == "brief-migratie"
    assert second.resolved.describe().startswith("searched: En Frontex? ")


def test_a_year_alone_sets_the_date_filter_and_keeps_the_topic(fake_index):
    first = ask(fake_index, "Wanneer zijn de dijken in Noord-Holland versterkt?", compose=compose)
    second = ask(fake_index, "en in 2019?", [first], compose=compose)
    assert (second.resolved.filters.date_from, second.resolved.filters.date_to) == ("2019", "2019")
    assert "dijken" in second.resolved.query
    assert {h.letter.id for h in second.hits} == {"brief-migratie"}  # the only letter of 2019


def test_a_new_question_drops_the_previous_letter_and_filters(fake_index):
    first = ask(fake_index, MIGRATION, filters=Filters(date_from="2019"), compose=compose)
    second = ask(fake_index, "Hoe hoog wordt de vergoeding voor gemeenten voor het onderwijs?", [first], compose=compose)
    assert second.resolved.follow_up == "" and second.resolved.filters == Filters()


def test_chat_reads_questions_from_stdin_and_shows_what_it_searched(fake_index, monkeypatch, capsys):
    answer_always(monkeypatch, True)
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{MIGRATION}\n\nWie heeft die brief ondertekend?\n"))
    assert cli.main(["chat", "--index", str(fake_index.path), "--model", "fake"]) == 0
    out = capsys.readouterr().out
    assert out.count("searched: ") == 2 and "[follow-up: refers to the letter “die brief”]" in out
    assert "(in letter brief-migratie)" in out


def test_ask_with_history_answers_as_a_follow_up(fake_index, tmp_path, capsys):
    history = tmp_path / "history.jsonl"
    history.write_text(json.dumps({"question": MIGRATION}) + "\n", encoding="utf-8")
    assert cli.main(["ask", "Wie heeft die brief ondertekend?", "--history", str(history), "--index",
                     str(fake_index.path), "--model", "fake", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["searched"]["letters"] == [out["hits"][0]["letter_id"]] and out["searched"]["follow_up"]
    assert out["searched"]["letter_facts"].startswith(f"letter {out['hits'][0]['letter_id']}: dated ")
    assert cli.main(["ask", "x", "--history", str(tmp_path / "none.jsonl"), "--index", str(fake_index.path),
                     "--model", "fake"]) == 2


def test_spans_overlap_by_hand():
    assert spans_overlap((0, 100), (60, 200))  # 40 characters overlap
    assert not spans_overlap((0, 100), (61, 200))  # 39 < min(40, 50)
    assert spans_overlap((0, 30), (15, 300))  # 15 = half the shorter (30)
    assert not spans_overlap((0, 30), (16, 300))


def test_answer_at_1_reads_the_first_citation_and_abstention_misses(fake_index):
    turn = ask(fake_index, MIGRATION, compose=compose)
    first = turn.answer.citations[0]
    assert answer_at_1(turn.answer, (Gold(first.hit.letter.id, *first.sentence),))
    assert not answer_at_1(turn.answer, (Gold("other-letter", *first.sentence),))
    abstained = compose_answer(MIGRATION, list(turn.hits), fake_index, abstain_below=99.0)
    assert not answer_at_1(abstained, (Gold(first.hit.letter.id, *first.sentence),))


def test_conversation_files_name_the_bad_line(fake_index, tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"id": "c1", "turns": [{"question": "q", "answers": [
        {"doc_id": "brief-migratie", "quote": "dit citaat staat niet in de brief, ook al is het lang genoeg"}]}]}) + "\n")
    with pytest.raises(ValueError, match=r"c.jsonl:1: quote .* is not in the raw text of brief-migratie"):
        load_conversations(path, fake_index.letters)


def test_the_app_resolves_a_follow_up_against_the_last_turn(fake_index, monkeypatch):
    import app

    monkeypatch.setattr(app, "compose_answer", compose)
    history, turns, _ = app.ask(fake_index, MIGRATION, [], [])
    history, turns, sources = app.ask(fake_index, "Wie heeft die brief ondertekend?", history, turns)
    assert "Follow-up, refers to the letter “die brief”: searched for" in history[-1]["content"]
    assert "in letter brief-migratie" in history[-1]["content"]
    assert {c[1].split("|")[0] for c in turns[-1]["choices"]} == {"brief-migratie"}


def test_eval_conversations_reports_answer_at_1_per_turn(fake_index, tmp_path, capsys, monkeypatch):
    answer_always(monkeypatch, True)
    turns = [(MIGRATION, "Nederland wil dat het gemeenschappelijk Europees asielstelsel bijdraagt aan het voorkomen"),
             ("Waar moeten asielzoekers volgens die brief hun procedure doorlopen?",
              "Asielzoekers moeten hun procedure doorlopen in het land van aankomst."),
             ("En wat wil het kabinet met Noord-Afrika?", "De kosten bedragen naar schatting 120 miljoen gulden.")]
    letters = ["brief-migratie", "brief-migratie", "brief-dijken"]  # the last gold is in another letter: a miss
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"id": "c1", "lang": "nl", "turns": [
        {"question": q, "answers": [{"doc_id": d, "quote": quote}]} for (q, quote), d in zip(turns, letters)]}) + "\n")
    assert cli.main(["eval", "--conversations", str(path), "--index", str(fake_index.path), "--json", "-"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [row["answer@1"] for row in result["turns"]] == [1.0, 1.0, 0.0]
    assert result["first"] == {"answer@1": 1.0, "n": 1, "abstained": 0}
    assert result["follow_up"] == {"answer@1": 0.5, "n": 2, "abstained": 0}
    assert result["turns"][1]["follow_up"].startswith("refers to the letter")
