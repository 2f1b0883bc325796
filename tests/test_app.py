"""The browser app's handlers and the feedback store, with the fake embedder and no browser."""
from __future__ import annotations

import json
import sqlite3
from functools import partial
from types import SimpleNamespace

import gradio as gr
import pytest

import app
from qa import cli, feedback
from qa.access import is_loopback, login_for
from qa.answer import compose_answer
from qa.search import open_index

MIGRATION = "Wat wil Nederland op het gebied van secundaire migratie?"


@pytest.fixture(autouse=True)
def always_answer(monkeypatch):
    """The fake embedder's scores sit below the real model's abstention threshold: answer regardless."""
    monkeypatch.setattr(app, "compose_answer", partial(compose_answer, abstain_below=-1.0))


def ask(index, question, history=None, turns=None, **filters):
    return app.ask(index, question, history or [], turns or [], filters.get("date_from", ""),
                   filters.get("date_to", ""), filters.get("sender", ""), filters.get("dossier", ""))


def test_answer_cites_and_marks_the_sentence(fake_index):
    history, turns, sources = ask(fake_index, MIGRATION)
    assert [m["role"] for m in history] == ["user", "assistant"]
    assert "brief-migratie" in history[-1]["content"] and "[1]" in history[-1]["content"]
    assert "<mark>" in sources and "2019-03-12" in sources
    assert turns[-1]["message_index"] == 1 and turns[-1]["passage_ids"]


def test_no_good_answer_lists_possibly_relevant_passages(fake_index, monkeypatch):
    monkeypatch.setattr(app, "compose_answer", partial(compose_answer, abstain_below=99.0))
    history, turns, sources = ask(fake_index, "What about secondary migration?")
    assert history[-1]["content"].startswith("I found no passage that answers this well enough")
    assert "Possibly relevant" in sources and "<mark>" not in sources


def test_filters_show_in_the_answer_and_one_that_excludes_all_says_so(fake_index):
    history, turns, _ = ask(fake_index, MIGRATION, date_from="2019", date_to="2019")
    assert "Searched letters dated 2019 to 2019" in history[-1]["content"]
    history, turns, sources = ask(fake_index, MIGRATION, history, turns, date_from="1900", date_to="1901")
    assert "No letter matches the filters" in history[-1]["content"] and sources == ""
    assert len(history) == 4


@pytest.mark.parametrize("question, message", [("", "empty"), ("?!...", "punctuation"), ("a" * 2001, "2000")])
def test_bad_questions_raise_a_friendly_error(fake_index, question, message):
    with pytest.raises(gr.Error, match=message):
        ask(fake_index, question)


def test_a_bad_date_filter_says_how_to_write_it(fake_index):
    with pytest.raises(gr.Error, match="yyyy-mm-dd"):
        ask(fake_index, MIGRATION, date_from="vorig jaar")


def test_letter_text_is_escaped(tmp_path, letters_dir):
    from corpus.readers import read_corpus
    from index.build import build_index
    from index.embed import fake_embedder

    (letters_dir / "brief-script.txt").write_text(
        "Onderwerp Fietspaden\n\nDe minister bouwt fietspaden <script>alert(1)</script> langs alle dijken.\n",
        encoding="utf-8")
    build_index(read_corpus([letters_dir]).letters, tmp_path / "idx", fake_embedder())
    index = open_index(tmp_path / "idx", "fake")
    history, turns, sources = ask(index, "fietspaden <script>alert(1)</script> langs dijken")
    letter = app.show_letter(index, next(v for _, v in turns[-1]["choices"] if v.startswith("brief-script")))
    for shown in (sources, letter, history[-1]["content"]):
        assert "<script>" not in shown
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in letter
    assert "&lt;script&gt;" in sources


def test_show_letter_highlights_the_cited_paragraph(fake_index):
    _, turns, _ = ask(fake_index, MIGRATION)
    view = app.show_letter(fake_index, turns[-1]["choices"][0][1])
    assert 'id="kq-cited"' in view and "<mark>" in view
    cited = view.split('id="kq-cited"', 1)[1]
    assert "secundaire migratie" in cited.split("</span>", 1)[0]
    with pytest.raises(gr.Error):
        app.show_letter(fake_index, None)


def test_export_is_markdown_with_full_citations(fake_index):
    history, turns, _ = ask(fake_index, MIGRATION)
    _, turns, _ = ask(fake_index, "Hoe hoog moeten de dijken zijn?", history, turns)
    text = open(app.export_conversation(turns), encoding="utf-8").read()
    assert text.startswith("# kamerqa conversation")
    assert f"## {MIGRATION}" in text and "letter brief-migratie, paragraph" in text and "2019-03-12" in text
    assert app.export_conversation([]) is None


def test_feedback_is_stored_for_the_liked_answer(fake_index, tmp_path, monkeypatch):
    db = tmp_path / "feedback.sqlite"
    monkeypatch.setenv("KAMERQA_FEEDBACK_DB", str(db))
    history, turns, _ = ask(fake_index, MIGRATION)
    app.give_feedback(turns, SimpleNamespace(index=1, liked=False))
    app.give_feedback(turns, SimpleNamespace(index=7, liked=True))  # no such answer: ignored
    rows = sqlite3.connect(db).execute("SELECT rating, question, passage_ids FROM feedback").fetchall()
    assert rows == [("down", MIGRATION, json.dumps(turns[0]["passage_ids"]))]


def test_feedback_export_csv_and_json(tmp_path, capsys):
    db = tmp_path / "f.sqlite"
    feedback.record_feedback("up", "Vraag?", "Antwoord [1]", ["a#0", "b#10"], "dated 2019 to …", path=db)
    assert cli.main(["feedback", "export", "--format", "json", "--db", str(db)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["rating"] == "up" and rows[0]["passage_ids"] == ["a#0", "b#10"]
    out = tmp_path / "f.csv"
    assert cli.main(["feedback", "export", "--format", "csv", "--db", str(db), "--out", str(out)]) == 0
    assert out.read_text().splitlines()[1].endswith("a#0 b#10,dated 2019 to …")
    assert cli.main(["feedback", "export", "--db", str(tmp_path / "none.sqlite")]) == 2
    with pytest.raises(ValueError, match="rating"):
        feedback.record_feedback("meh", "q", "a", [], path=db)


def test_demo_builds_with_the_ask_endpoint(fake_index):
    demo = app.build_demo(fake_index)
    api = demo.get_api_info()
    assert "/ask" in api["named_endpoints"]
    assert list(api["named_endpoints"]) == ["/ask"]
    assert {fn.concurrency_limit for fn in demo.fns.values() if fn.queue} == {app.CONCURRENT_QUESTIONS}  # all queued


def test_only_loopback_counts_as_local():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")


def test_open_address_without_login_is_refused_before_loading(monkeypatch, tmp_path, capsys):
    """0.0.0.0 with no login set: `kamerqa serve` says how to set one and exits 2 without touching the
    index (which does not even exist here); with --no-login it goes on to load (and fails on the index)."""
    from qa.cli import main

    monkeypatch.delenv("KAMERQA_USERNAME", raising=False)
    monkeypatch.delenv("KAMERQA_PASSWORD", raising=False)
    missing = str(tmp_path / "no-index")
    assert main(["serve", "--index", missing, "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "KAMERQA_USERNAME" in err and "--no-login" in err and err.count("\n") == 1
    assert main(["serve", "--index", missing, "--host", "0.0.0.0", "--no-login"]) == 2
    assert "no index at" in capsys.readouterr().err


def test_login_from_the_environment_on_an_open_address(monkeypatch):
    monkeypatch.setenv("KAMERQA_USERNAME", "redactie")
    monkeypatch.setenv("KAMERQA_PASSWORD", "geheim")
    assert login_for("0.0.0.0", no_login=False) == ("redactie", "geheim")
    assert login_for("127.0.0.1", no_login=False) is None
