"""Reading, cleaning and chunking letters."""
from __future__ import annotations

import json
import re

import pytest

from corpus.chunk import ChunkSettings, chunk_letter, content_paragraphs, split_sentences
from corpus.clean import clean_letter, should_join
from corpus.meta import extract, iso_date
from corpus.models import Letter
from corpus.readers import read_corpus
from tests.conftest import shared_corpus


def test_dates_in_dutch_forms():
    assert iso_date("Den Haag, 21 juni 2018") == "2018-06-21"
    assert iso_date("'s-Gravenhage, 6 December 1938") == "1938-12-06"
    assert extract("Datum 21 juni 2018\nOnderwerp Iets")["date"] == "2018-06-21"


def test_metadata_of_a_printed_kamerstuk(letters_dir):
    letter = Letter("x", (letters_dir / "brief-dijken.txt").read_text())
    found = extract(letter.text)
    assert found["dossier"] == "18 001" and found["stuk"] == "7"
    assert found["title"] == "Versterking van de dijken in Noord-Holland"
    assert found["sender"] == "Minister van Verkeer en Waterstaat (J. Jansen)"
    assert found["date"] == "1984-05-14"


def test_metadata_of_a_letterhead_letter(letters_dir):
    found = extract((letters_dir / "brief-migratie.md").read_text())
    assert found["kenmerk"] == "1234567"
    assert found["title"] == "Inzet voor de Europese asielbijeenkomst"
    assert found["sender"] == "Staatssecretaris van Justitie en Veiligheid (Anna de Vries)"


@pytest.mark.parametrize("left,right,joined", [
    ("economi", "sche", True), ("kle", "ding", True), ("Neder", "landse", True),
    ("Noord", "Holland", False), ("EU", "Turkije", False), ("zee", "egel", False),
    ("compagnies", "en", False), ("1983", "1984", False),
])
def test_hyphen_joining(left, right, joined):
    assert should_join(left, right) is joined


def test_cleaning_joins_split_words_and_keeps_compounds():
    raw = "De economi-\nsche en economi-sche gevolgen voor Noord-Holland\nen de EU-Turkije verklaring."
    (para,) = clean_letter(raw)
    assert para.text == "De economische en economische gevolgen voor Noord-Holland en de EU-Turkije verklaring."
    assert raw[slice(*para.raw_span(0, len(para.text)))] == raw


def test_wrapped_lines_reflow_into_paragraphs_and_furniture_goes():
    raw = ("Dit is een regel die doorloopt op de\nvolgende regel zonder witregel ertussen, zoals\n"
           "pdftotext dat doet bij een brief.\n\nkst-29515-496\nISSN 0921 - 7371\n's-Gravenhage 2025\n"
           "Tweede Kamer, vergaderjaar 2024–2025, 29 515, nr. 496\n\n"
           "Een tweede alinea die ook over\ntwee regels loopt en dan stopt.\n"
           "Nog een regel, even lang als de andere\nregels van de brief, met meer tekst.\n" * 2)
    texts = [p.text for p in clean_letter(raw)]
    assert texts[0].startswith("Dit is een regel die doorloopt op de volgende regel")
    assert not any("ISSN" in t or "kst-" in t or "vergaderjaar" in t for t in texts)


def test_soft_hyphens_and_markdown_are_dropped_from_search_text():
    raw = "**Onderwerp** de be\u00adleids*notitie* over [GEAS](http://x.nl)<sup>1</sup> komt."
    (para,) = clean_letter(raw)
    assert para.text == "Onderwerp de beleidsnotitie over GEAS komt."


def test_sentences_respect_abbreviations_and_initials():
    text = "Zie art. 5 en blz. 3 van het rapport. Mr. J. de Vries stemde in. Het kost 2,5 mln. per jaar."
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == [
        "Zie art. 5 en blz. 3 van het rapport.", "Mr. J. de Vries stemde in.", "Het kost 2,5 mln. per jaar."]


def test_passages_keep_raw_spans_and_skip_letterhead_and_signature(letters_dir):
    letter = read_corpus([letters_dir / "brief-migratie.md"]).letters[0]
    passages = chunk_letter(letter)
    assert passages and all(letter.text[p.start:p.end] == p.text for p in passages)
    joined = " ".join(p.search_text for p in passages)
    assert "Postbus" not in joined and "Anna de Vries" not in joined
    assert "secundaire migratie" in joined
    assert passages[0].paragraph == 1


def test_passage_size_follows_settings():
    sentence = "Dit is een zin van precies tien woorden lang hier. "
    letter = Letter("x", sentence * 60)
    passages = chunk_letter(letter, ChunkSettings(target_words=40, max_words=60, min_words=5))
    assert len(passages) > 10
    assert all(len(p.search_text.split()) <= 40 for p in passages)


def test_reader_skips_bad_files_and_reads_the_rest(tmp_path, letters_dir):
    (letters_dir / "leeg.txt").write_text("")
    (letters_dir / "plaatje.png").write_bytes(b"\x89PNG")
    (letters_dir / "kapot.jsonl").write_text('{"id": "a", "text": "Goede brief."}\nniet json\n')
    result = read_corpus([letters_dir])
    ids = {letter.id for letter in result.letters}
    assert {"brief-dijken", "brief-migratie", "brief-onderwijs", "a"} <= ids
    reasons = " ".join(f"{s} {r}" for s, r in result.skipped)
    assert "leeg.txt" in reasons and "plaatje.png" in reasons and "kapot.jsonl:2" in reasons


def test_reader_reads_html_and_json_letters(tmp_path):
    (tmp_path / "a.html").write_text("<html><head><title>t</title></head><body><p>Eerste alinea.</p>"
                                     "<script>x()</script><p>Tweede &amp; laatste.</p></body></html>")
    (tmp_path / "b.json").write_text(json.dumps({"id": "kst-1-2", "text": "Tekst van de brief.", "title": "T"}))
    letters = {x.id: x for x in read_corpus([tmp_path]).letters}
    assert letters["a"].text == "Eerste alinea.\n\nTweede & laatste."
    assert letters["kst-1-2"].title == "T"


@pytest.fixture(scope="module")
def default_corpus_letters():
    root = shared_corpus()
    return read_corpus([root / "sgd" / "letters.jsonl", root / "modern"]).letters


def test_whole_default_corpus_spans_and_coverage(default_corpus_letters):
    """Every passage is its raw text; together the passages hold every sentence of each letter's body."""
    assert len(default_corpus_letters) == 419
    for letter in default_corpus_letters:
        passages = chunk_letter(letter)
        for p in passages:
            assert letter.text[p.start:p.end] == p.text, letter.id
            assert all(p.start <= s < e <= p.end for s, e in p.sentences), letter.id
        body = content_paragraphs(clean_letter(letter.text))
        covered = " ".join(p.search_text for p in passages)
        for para in body:
            for s, e in split_sentences(para.text):
                assert para.text[s:e] in covered, (letter.id, para.text[s:e][:80])


def test_default_corpus_cleaning_of_a_known_letter(default_corpus_letters):
    letters = {x.id: x for x in default_corpus_letters}
    text = " ".join(p.search_text for p in chunk_letter(letters["sgd-0000142774"]))
    assert "economische analyse" in text and "economi-sche" not in text
    assert "economi-sche" in letters["sgd-0000142774"].text  # the raw text is untouched
    compounds = " ".join(p.search_text for x in default_corpus_letters for p in chunk_letter(x))
    assert "Smit-Kroes" in compounds and re.search(r"\bNoord-(Holland|Brabant)\b", compounds)


def test_default_corpus_seed_letter_metadata(default_corpus_letters):
    seed = {x.id: x for x in default_corpus_letters}["seed-2298637"]
    assert seed.date == "2018-06-21" and seed.kenmerk == "2298637"
    assert "Harbers" in seed.sender and "Staatssecretaris" in seed.sender
    assert seed.title.startswith("Ingelaste Europese migratiebijeenkomst")


def test_corpus_names_expand_to_the_shared_files_and_paths_stay(tmp_path):
    from corpus.readers import CorpusError, corpus_paths, named_corpus

    assert corpus_paths([tmp_path]) == [tmp_path]
    with pytest.raises(CorpusError, match="default, large"):
        named_corpus("huge")
    with pytest.raises(CorpusError, match="corpus name"):
        read_corpus(corpus_paths(["huge"]))
    shared_corpus()  # skips without ../shared/corpus
    large = corpus_paths(["large"])
    assert large[:2] == named_corpus("default") and large[-1].name == "kamerstukken.jsonl"
    assert all(p.exists() for p in large)
