"""Building, saving, loading and searching an index (fake embedder: no model needed)."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from corpus.readers import read_corpus
from index.build import build_index
from index.store import load_index
from index.embed import fake_embedder
from index.store import FORMAT_VERSION, MANIFEST, IndexError_
from qa.answer import compose_answer
from qa.search import Filters, QuestionError, open_index, search


def test_manifest_records_model_settings_and_corpus(fake_index):
    m = fake_index.manifest
    assert m["model"] == "fake" and m["dimension"] == 64 and m["format_version"] == FORMAT_VERSION
    assert m["settings"]["target_words"] > 0 and len(m["corpus_fingerprint"]) == 16
    assert m["letters"] == 3 and m["passages"] == len(fake_index.passages)
    assert set(m["files"]) >= {"letters.jsonl", "passages.jsonl", "passages.faiss"}


def test_search_finds_the_passage_and_cites_its_letter(fake_index):
    hits = search(fake_index, "secundaire migratie asielstelsel", k=3)
    top = hits[0]
    assert top.letter.id == "brief-migratie"
    assert "secundaire migratie" in top.passage.text
    assert top.letter.text[top.passage.start:top.passage.end] == top.passage.text
    row = top.to_json()
    assert {"letter_id", "paragraph", "start", "end", "text", "score", "title", "date", "sender", "url"} <= set(row)
    assert row["date"] == "2019-03-12" and row["title"] == "Inzet voor de Europese asielbijeenkomst"


def test_every_retriever_answers(fake_index):
    for name in ("dense", "sentence", "bm25", "hybrid"):
        assert search(fake_index, "vergoeding leerlingenvervoer", k=2, retriever=name)[0].letter.id == "brief-onderwijs"
    with pytest.raises(QuestionError, match="choose one of"):
        search(fake_index, "x", retriever="nope")


def test_filters_restrict_letters(fake_index):
    assert {h.letter.id for h in search(fake_index, "kosten", k=10, filters=Filters(date_to="1985"))} == {"brief-dijken"}
    assert {h.letter.id for h in search(fake_index, "kosten", k=10, filters=Filters(sender="onderwijs"))} == {
        "brief-onderwijs"}
    assert {h.letter.id for h in search(fake_index, "kosten", k=10, filters=Filters(dossier="21800"))} == {
        "brief-onderwijs"}
    assert search(fake_index, "kosten", filters=Filters(date_from="2030")) == []


@pytest.mark.parametrize("question", ["", "   ", "?!...", "x" * 2001])
def test_bad_questions_get_a_clear_error(fake_index, question):
    with pytest.raises(QuestionError):
        search(fake_index, question)


def test_answer_quotes_only_cited_letters(fake_index):
    question = "Wat wil Nederland met secundaire migratie?"
    answer = compose_answer(question, search(fake_index, question, k=5), fake_index, abstain_below=-1)
    assert answer.answered
    for citation in answer.citations:
        assert citation.sentence_text() in " ".join(citation.hit.letter.text.split())
    assert answer.sentences()[0].endswith("[1]")


def test_answer_abstains_in_the_questions_language(fake_index):
    hits = search(fake_index, "what about the weather on Mars?", k=3)
    answer = compose_answer("what about the weather on Mars?", hits, fake_index, abstain_below=99)
    assert not answer.answered and "no passage" in answer.as_text()
    assert "geen passage" in compose_answer("Hoe is het weer?", hits, abstain_below=99).as_text()


def test_wrong_model_is_a_clear_error(tmp_path, letters_dir):
    build_index(read_corpus([letters_dir]).letters, tmp_path / "ix", fake_embedder(64))
    with pytest.raises(IndexError_, match="built with model"):
        open_index(tmp_path / "ix", "fake-32")


def test_wrong_format_and_missing_index_are_clear_errors(tmp_path, letters_dir):
    with pytest.raises(IndexError_, match="kamerqa index"):
        load_index(tmp_path / "nothing-here")
    build_index(read_corpus([letters_dir]).letters, tmp_path / "ix", fake_embedder())
    manifest = json.loads((tmp_path / "ix" / MANIFEST).read_text())
    (tmp_path / "ix" / MANIFEST).write_text(json.dumps({**manifest, "format_version": 0}))
    with pytest.raises(IndexError_, match="rebuild"):
        load_index(tmp_path / "ix")


def test_rebuild_replaces_the_generation_and_keeps_one(tmp_path, letters_dir):
    letters = read_corpus([letters_dir]).letters
    build_index(letters, tmp_path / "ix", fake_embedder())
    build_index(letters[:2], tmp_path / "ix", fake_embedder())
    assert len(list((tmp_path / "ix").glob("gen-*"))) == 1
    assert len(load_index(tmp_path / "ix").letters) == 2


def test_failed_build_leaves_the_previous_index(tmp_path, letters_dir):
    letters = read_corpus([letters_dir]).letters
    build_index(letters, tmp_path / "ix", fake_embedder())
    broken = replace(fake_embedder(), encode_passages=lambda texts: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError):
        build_index(letters[:1], tmp_path / "ix", broken)
    assert len(load_index(tmp_path / "ix").letters) == 3


def test_vectors_are_normalised(fake_index):
    matrix = fake_index.vectors.reconstruct_n(0, fake_index.vectors.ntotal)
    assert np.allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)


def test_one_searcher_answers_from_many_threads_as_from_one(fake_index):
    """Eight threads asking at once get exactly the hits one thread gets (caches built concurrently)."""
    from concurrent.futures import ThreadPoolExecutor

    from qa.searcher import Searcher

    fresh = Searcher(fake_index.index, fake_index.embedder)  # no cache built yet
    questions = ["dijken Noord-Holland", "asielaanvragen", "kosten van de versterking", "lerarentekort"] * 10
    expected = [[(h.passage.id, h.score) for h in search(fake_index, q, k=3)] for q in questions]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda q: [(h.passage.id, h.score) for h in search(fresh, q, k=3)], questions))
    assert got == expected


def test_a_document_no_minister_sent_ranks_below_a_letter_by_the_penalty(tmp_path, letters_dir):
    """kamerqa answers from ministers' letters: a Kamer report on the same subject (no sender) loses
    `hints.UNSENT_PENALTY` against the score it has without the question's hints; the letter loses nothing."""
    from corpus.readers import read_corpus
    from index.build import build_index
    from index.embed import fake_embedder
    from qa import hints
    from qa.search import open_index

    (letters_dir / "verslag-dijken.txt").write_text(
        "Tweede Kamer der Staten-Generaal\nZitting 1983-1984\n18 001\nVersterking van de dijken in Noord-Holland\n"
        "Nr. 8\nVERSLAG VAN DE VASTE COMMISSIE VOOR VERKEER EN WATERSTAAT\nDe commissie besprak de versterking van "
        "de dijken langs het IJsselmeer in Noord-Holland. Zij vroeg wanneer de dijken gereed zijn en wat de kosten "
        "van de versterking van de dijken zijn.\n", encoding="utf-8")
    build_index(read_corpus([letters_dir]).letters, tmp_path / "index", fake_embedder())
    index = open_index(tmp_path / "index", "fake")
    assert index.letters["brief-dijken"].sender and not index.letters["verslag-dijken"].sender
    question = "versterking van de dijken in Noord-Holland"
    hinted = {h.passage.id: h.score for h in search(index, question, k=10)}
    plain = {h.passage.id: h.score for h in search(index, question, k=10, retriever="hybrid-plain")}
    for pid, score in hinted.items():
        sent = index.letters[index.passages_by_id[pid].letter_id].sender
        assert plain[pid] - score == pytest.approx(0.0 if sent else hints.UNSENT_PENALTY, abs=1e-6)
        assert sent or plain[pid] - score > 0.005
    assert any(pid.startswith("verslag-dijken") for pid in hinted)


def test_a_collection_of_one_kind_gets_no_penalty():
    """All documents from ministers, or none (a user's own letters whose sender is not read): the penalty
    would shift every score alike and only make the abstention more cautious, so nothing changes."""
    from types import SimpleNamespace

    import numpy as np

    from qa import hints

    for unsent in ([False, False], [True, True], [True, False]):
        facts = hints.LetterFacts(np.zeros(4, np.int16), np.zeros(4, np.int8), np.array([0, 0, 1, 1], np.int32),
                                  {}, {}, {"a": 0, "b": 1}, np.array(unsent))
        boost = hints.metadata_boost(SimpleNamespace(facts=facts, passages=[None] * 4), "Wat staat erin?")
        mixed = any(unsent) and not all(unsent)
        assert np.allclose(boost, [-hints.UNSENT_PENALTY] * 2 + [0, 0] if mixed else 0.0)
    year = np.array([1984, 1990, 1984, 1990], np.int16)  # a question naming a year keeps the penalty
    facts = hints.LetterFacts(year, np.zeros(4, np.int8), np.array([0, 0, 1, 1], np.int32), {}, {},
                              {"a": 0, "b": 1}, np.array([True, False]))
    boost = hints.metadata_boost(SimpleNamespace(facts=facts, passages=[None] * 4), "Wat gebeurde er in 1984?")
    assert np.allclose(boost, [hints.YEAR_BOOST - hints.UNSENT_PENALTY, -hints.UNSENT_PENALTY, hints.YEAR_BOOST, 0])
