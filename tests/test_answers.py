"""The answer: which block is quoted (qa.quote), when kamerqa abstains (qa.abstain), how the answer is
measured (qa.answer_eval) and shown (`ask --json`), and clean senders (corpus.meta). Fake embedder only."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from corpus.meta import clean_sender, find_sender, from_minister, tidy_sender
from qa import abstain, furniture, lookalike, quote
from qa.answer import compose_answer, tidy
from qa.answer_eval import answer_row, quote_matches, score_answers
from qa.cli import main
from qa.gold import GoldSpan
from qa.questions import Question
from qa.search import Filters, search

MIGRATION = "Wat wil Nederland op het gebied van secundaire migratie?"


# ---- senders --------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, clean", [
    ("Minister van Volkshuisvesting en Ruimtelijke Ordening, Las: 'de Regering Neemt Ook Thans ...' met And",
     "Minister van Volkshuisvesting en Ruimtelijke Ordening"),
    ("Minister van Financiën Betreffende het Aangaan van Leningen in het Kader van de E.c.a. Hulp (P. LIEFTINCK)",
     "Minister van Financiën (P. Lieftinck)"),
    ("Staatssecretaris van Economi-Sche Zaken Over de Controle op Door", "Staatssecretaris van Economische Zaken"),
    ("Minister van Justitie (' Ter inzage gelegd op de bibliotheek)", "Minister van Justitie"),
    ("Staatssecretaris van Justitie en Veiligheid (Mark Harbers)", "Staatssecretaris van Justitie en Veiligheid (Mark Harbers)"),
    ("Minister van Binnenlandse Zaken. (Aan de Tweede Kamer der Staten-Generaal)", "Minister van Binnenlandse Zaken"),
    ("Minister-President, Ministervan Algemene Zaken, van 16 November 1974,13 100", "Minister-President, Minister van Algemene Zaken"),
    ("minister van Justitie en Veiligheid; staatssecretaris van Justitie en Veiligheid", "Minister van Justitie en Veiligheid"),
])
def test_a_sender_is_an_office_and_a_name_without_ocr_noise(raw, clean):
    assert clean_sender(raw) == clean


def test_a_long_sender_without_an_office_is_dropped_a_short_one_kept():
    assert tidy_sender("Gemeente Delft") == "Gemeente Delft"
    assert tidy_sender("Is Hierorrv Trent Duidelijk Dit Lid Zei de Opvatting van de Bewindsman Te Delen") == ""


@pytest.mark.parametrize("letterhead, sender", [  # OCR'd letterheads of the default corpus (sgd-0000023064, ...)
    ("BRIEF VAIM DE MINISTER VAN DEFENSIE\nAan de Voorzitter", "Minister van Defensie"),
    ("BRIEF VAN OE MINISTER VAN ONDERWIJS EN WETEN-SCHAPPEN\nAan de Voorzitter", "Minister van Onderwijs en Wetenschappen"),
    ("BRIEF VAN DE MIMSTER VAN VERKEER EN WATERSTAAT\nAan de Voorzitter", "Minister van Verkeer en Waterstaat"),
    ("BRIEF VAIM DE MINISTERS VAN JUSTITIE EN VAN BINNEN-LANDSE ZAKEN\nAan", "Ministers van Justitie en van Binnenlandse Zaken"),
    ("BRIEF VAN DE ALGEMENE REKENKAMER\nAan de Voorzitter", ""),
])
def test_a_letterhead_is_read_through_ocr_misreadings(letterhead, sender):
    assert tidy_sender(find_sender(letterhead)) == sender


@pytest.mark.parametrize("sender, minister", [
    ("Minister van Defensie", True), ("Staatssecretaris voor Justitie en Veiligheid (Mark Harbers)", True),
    ("De minister van Buitenlandse Zaken, S.A. Blok", True), ("Ministerie van Justitie en Veiligheid", True),
    ("Algemene Rekenkamer", False), ("Tweede Kamer der Staten-Generaal", False), ("I. (Inge) van Dijk, P.A. Grinwis", False),
    ("", False),
])
def test_a_letter_from_a_minister_is_told_from_the_kamers_papers(sender, minister):
    assert from_minister(sender) is minister


# ---- the question's kind and the sentence's furniture ----------------------------------------------

def test_question_kinds():
    assert quote.question_kinds("Waarom wil de minister de sluis bouwen?") == ("why",)
    assert quote.question_kinds("How many employers would receive information?") == ("number",)
    assert "when" in quote.question_kinds("Wanneer begint de evaluatie?")
    assert "who" in quote.question_kinds("Namens wie schrijft de minister?")
    assert "decision" in quote.question_kinds("Wat heeft de minister besloten over de Oesterdam?")


@pytest.mark.parametrize("text, kind, marked", [
    ("Zo is het de bedoeling ongeveer 400 000 werkgevers informatie toe te zenden.", "number", True),
    ("Ter voldoening aan motie nr. 19 informeer ik u in juni 1986.", "number", False),  # a reference, a date
    ("Dat houdt een verhoging in met vijf jaar.", "number", True),
    ("De sluis wordt gebouwd omdat de scheepvaart erom vraagt.", "why", True),
    ("De sluis wordt in 1986 gebouwd.", "why", False),
    ("Ik heb besloten de sluis te bouwen.", "decision", True),
])
def test_kind_markers(text, kind, marked):
    assert bool(quote.KIND_MARKERS[kind].search(text)) is marked


@pytest.mark.parametrize("text", [
    "Kamerstuk 29 515, nr. 12.", "Tweede Kamer, vergaderjaar 1985-1986, 19 200", "Postbus 20011 2500 EA Den Haag",
    "De Minister van Verkeer en Waterstaat,", "Hoogachtend,", "Inleiding ........... 3",
    "Samenstelling: Jansen (CDA), De Vries (VVD), Pietersen (PvdA)", "Zie https://www.rijksoverheid.nl",
    "De leden van de ChristenUnie-fractie hebben kennisgenomen van het wetsvoorstel.",
    "Deze leden vragen de regering hoe het college wordt samengesteld.",
    "Aan de Voorzitter van de Tweede Kamer der Staten-Generaal", "'s-Gravenhage, 3 mei 1991",
    "(Ingezonden 29 november 1990) 1 Bent u bereid met de KNVB op korte termijn te overleggen?",
    "Hoe staat de Minister ten opzichte van dit initiatief?\u201d",
    "Vragen gesteld door de leden der Kamer, met de daarop door de regering gegeven antwoorden 306 Vragen van het lid "
    "Lilipaly (P.v.d.A.) over voetbalvandalisme.", "AANVULLENDE LIJST VAN VVRAGEN Vastgesteld 27 juni 1985",
    "Allen, die deze zullen zien of horen lezen, saluut! doen te weten: Alzo Wij in overweging genomen hebben.",
    "Wij Beatrix, bij de gratie Gods, Koningin der Nederlanden, Prinses van Oranje-Nassau, enz. enz. enz.",
    "De Voorzitter: Ik deel aan de Kamer mede, dat zijn ingekomen berichten van verhindering.",
    "Alcohol en verkeersveiligheid 2.2. Geneesmiddelen en verkeersveiligheid 2.3. Drugs en verkeer",
    "10 Tegemoetkoming aan ambtenaren in de kosten van over- 75,00",
    "Een der leden meende bij deze gelegenheid te moeten opkomen tegen den aandrang op den Minister.",
    "VOORLOOPIG VERSLAG VAN DE COMMISSIE VAN RAPPORTEURS over het ontwerp van wet.",
])
def test_furniture_is_never_quoted(text):
    assert furniture.is_furniture(text)


def test_an_answer_sentence_is_not_furniture():
    assert not furniture.is_furniture("Nederland wil secundaire migratie binnen de EU tegengaan.")
    assert not furniture.is_furniture("Het adviescollege bestaat uit drie leden, die de regering benoemt.")
    assert not furniture.is_furniture("Ik heb de leden van de Kamer hierover eerder ingelicht.")
    assert not furniture.is_furniture("In antwoord op de vragen van de leden van de VVD-fractie merk ik op dat het kan.")
    assert not furniture.is_furniture("Het bedrag is f 3 000 000 en wordt in 1988 betaald.")


def test_a_sentence_that_is_the_letters_title_is_not_an_answer():
    assert furniture.is_title("Heroverweging steun bedrijfsleven", "Heroverweging steun bedrijfsleven; brief van de minister")
    assert not furniture.is_title("Het kabinet steunt het bedrijfsleven.", "Heroverweging steun bedrijfsleven")


def test_coverage_is_idf_weighted():
    weights = {"sluis": 2.0, "oesterdam": 6.0}  # stems, as analyse() gives them
    assert quote.coverage(weights, "De sluis in de Oesterdam.") == 1.0
    assert quote.coverage(weights, "Een nieuwe sluis.") == pytest.approx(2 / 8)
    assert quote.coverage({}, "wat dan ook") == 0.0


# ---- the quoted block and the answer's JSON ----------------------------------------------------------

def test_the_quote_is_one_to_three_consecutive_sentences_of_one_hit(fake_index):
    hits = search(fake_index, MIGRATION, k=5)
    block = quote.choose_quote(fake_index, MIGRATION, hits)
    assert block is not None and 1 <= len(block.sentences) <= 3
    assert list(block.sentences) == list(range(block.sentences[0], block.sentences[-1] + 1))
    passage = hits[block.rank].passage
    assert passage.start <= block.span[0] < block.span[1] <= passage.end


def test_a_block_never_spans_what_chunking_left_out_between_sentences():
    text = ("Het kabinet wil de opvang verbeteren. De Minister van Justitie, A. Jansen\n214193F ISSN0921 7363 "
            "Daarom komen er meer plaatsen. Dat kost geld.")
    spans = [(0, 37), (96, 126), (127, 141)]  # the signature and the ISSN line between are no sentence
    assert text[spans[1][0]:spans[1][1]] == "Daarom komen er meer plaatsen."
    hit = SimpleNamespace(letter=SimpleNamespace(text=text))
    found = [quote.Sentence(0, n, span, np.array([1.0] + [0.0] * 11)) for n, span in enumerate(spans)]
    block = quote.best_block(found, [hit], np.ones(12))
    assert block.sentences == (1, 2) and "ISSN" not in text[block.span[0]:block.span[1]]


@pytest.mark.parametrize("text, kept", [
    ("Aan de Voorzitters van de Eerste Kamer en van de Tweede Kamer der Staten-Generaal 's-Gravenhage, 17 februari "
     "1989 Ter voldoening aan de Grondwet leg ik u het verdrag over.", "Ter voldoening aan de Grondwet leg ik u het verdrag over."),
    ("Ter griffie van de Eerste en van de Tweede Kamer ontvangen op 28 augustus 1992 De wens kan worden kenbaar gemaakt.",
     "De wens kan worden kenbaar gemaakt."),
    ("1. Inleiding\nHet kabinet wil de regeldruk voor ondernemers verminderen.", "Het kabinet wil de regeldruk voor ondernemers verminderen."),
    ("2. De minister heeft besloten dat de\nsluis wordt gebouwd.", None),  # a numbered sentence, not a heading
    ("In 1986 is besloten de sluis te bouwen.", None),
    ("ANTWOORD van den heer Lambooy, Minister van Defensie. (Ingezonden 18 Juli 1929.) Er bestaat bezwaar tegen.",
     "Er bestaat bezwaar tegen."),
    ("MEMORIE VAN TOELICHTING In het najaar van 1946 zijn tussen de regeringen overeenkomsten gesloten.",
     "In het najaar van 1946 zijn tussen de regeringen overeenkomsten gesloten."),
    ("Antwoord van minister Smit-Kroes (Verkeer en Waterstaat), mede namens de minister van VROM. (Ontvangen 10 augustus "
     "1988). 1 De schoonmaak van de Hollandsche IJssel betreft de sanering.", "De schoonmaak van de Hollandsche IJssel betreft de sanering."),
])
def test_a_quote_starts_after_the_letterhead_or_heading_glued_to_its_sentence(text, kept):
    start, end = furniture.after_letterhead(text, (0, len(text)))
    assert text[start:end] == (kept or text)


def test_answer_json_quotes_exactly_what_is_shown(fake_index):
    hits = search(fake_index, MIGRATION, k=5)
    answer = compose_answer(MIGRATION, hits, fake_index, abstain_below=-1.0)
    shown = answer.to_json()
    assert set(shown) == {"text", "abstained", "reason", "quotes"} and shown["abstained"] is False
    q = shown["quotes"][0]
    letter = hits[q["hit"] - 1].letter
    assert q["letter_id"] == letter.id and q["text"] == tidy(letter.text[q["start"]:q["end"]])
    assert q["text"] in shown["text"] and shown["text"].endswith("[1]")


def test_an_abstention_says_so_and_quotes_nothing(fake_index):
    hits = search(fake_index, "what about the weather on Mars?", k=3)
    shown = compose_answer("what about the weather on Mars?", hits, fake_index, abstain_below=99).to_json()
    assert shown["abstained"] is True and shown["quotes"] == [] and "no passage" in shown["text"]


def test_the_abstention_decision_reads_its_features():
    features = np.zeros(len(abstain.ABSTAIN_FEATURES))
    features[0] = 1.0
    weights = np.zeros_like(features)
    weights[0] = 1.0
    assert abstain.decide(features, weights, above=0.5).answerable
    assert not abstain.decide(features, weights, above=1.5).answerable
    assert "content words" in abstain.decide(features, weights, above=0.5).reason


def test_cli_ask_json_has_the_answer(fake_index, capsys):
    assert main(["ask", "--index", str(fake_index.path), "--json", MIGRATION]) == 0
    row = json.loads(capsys.readouterr().out)
    assert {"hits", "answered", "answer"} <= set(row) and row["answer"]["abstained"] is (not row["answered"])


def test_excluded_letters_are_never_found(fake_index):
    first = search(fake_index, MIGRATION, k=3)[0].letter.id
    hits = search(fake_index, MIGRATION, k=10, filters=Filters(exclude_letters=(first,)))
    assert hits and first not in {h.letter.id for h in hits}


# ---- measuring the answer ---------------------------------------------------------------------------

def test_quote_matches_needs_40_characters_or_half_the_shorter_span():
    gold = (GoldSpan("a", 100, 300),)
    assert quote_matches("a", 250, 400, gold)  # 50 characters shared
    assert not quote_matches("a", 270, 400, gold)  # 30 shared, shorter span 130: needs 40
    assert quote_matches("a", 280, 310, gold)  # 20 shared of a 30-character quote: half is 15
    assert not quote_matches("b", 100, 300, gold)  # another letter
    assert quote_matches("a", 0, 5, (GoldSpan("a"),))  # letter-level gold


def _Quote(letter_id, start, end, text):
    return {"letter_id": letter_id, "start": start, "end": end, "text": text}


class _Answer:
    def __init__(self, answered, quotes=()):
        self.answered, self.quotes = answered, quotes


def test_answer_metrics_by_hand():
    questions = (Question("q1", "een?"), Question("q2", "twee?"), Question("q3", "drie?"))
    gold = {"q1": (GoldSpan("a", 0, 100),), "q2": (GoldSpan("b", 0, 100),), "q3": (GoldSpan("c", 0, 100),)}
    answers = {"een?": _Answer(True, (_Quote("a", 10, 90, "een twee drie vier"),)),  # right, 4 words
               "twee?": _Answer(True, (_Quote("b", 500, 600, "vijf zes"),)),  # wrong place, 2 words
               "drie?": _Answer(False)}  # abstained on an answerable question: a miss
    left_out = {"een?": True, "twee?": False, "drie?": False}  # answered although its letter is gone
    compose = lambda question, hits: answers[question] if hits != "left-out" else _Answer(left_out[question])  # noqa: E731
    search_fn = lambda question, k, exclude: "left-out" if exclude else "as-asked"  # noqa: E731
    unanswerable_answers = {"vuurwerk?": _Answer(False), "airbnb?": _Answer(True)}
    compose_all = lambda q, hits: unanswerable_answers[q] if q in unanswerable_answers else compose(q, hits)  # noqa: E731
    run = {q.id: "as-asked" for q in questions}
    result = score_answers(questions, gold, run, compose_all, search_fn, ["vuurwerk?", "airbnb?"])
    assert result["answer@1"] == pytest.approx(1 / 3)
    assert result["quoted_words_p50"] == 3.0  # median of 4 and 2
    assert result["abstained_wrongly"] == pytest.approx(1 / 3)
    assert result["abstained_left_out"] == pytest.approx(2 / 3)
    assert result["abstained_unanswerable"] == 0.5
    assert answer_row(_Answer(False), gold["q1"]) == {"answered": False, "answer@1": 0.0, "quoted_words": 0}


def test_look_alike_words_cross_languages():
    # content words of 5+ letters: "secondary", "migration" ("want" is too short) -> only "migration" ~ "migratie"
    assert abstain.cognates("what does NL want on secondary migration?", "Nederland wil migratie beperken") == 0.5
    # "secondary" -> "secondair" ~ "secundair(e)" (88.9 on the word's beginning), "migration" -> "migratie"
    assert abstain.cognates("what does NL want on secondary migration?", "het voorkomen van secundaire migratie") == 1.0
    assert abstain.cognates("wat?", "iets") == 0.0


@pytest.mark.parametrize("english, dutch, alike", [
    ("capacity", "capaciteit", True), ("subsidy", "subsidies", True), ("military", "militaire", True),
    ("pension", "pensioen", True), ("organisation", "organisatie", True), ("agriculture", "landbouw", False),
    ("police", "polis", False), ("transport", "vervoer", False)])
def test_look_alikes_by_spelling_correspondences(english, dutch, alike):
    assert lookalike.looks_alike(english, lookalike.text_words(dutch)) is alike


def test_english_content_words_leave_out_question_words():
    assert lookalike.content_words("What does the government want regarding pension rights?") == (
        "government", "pension", "rights")


def test_a_near_tie_in_score_counts_as_a_tie():
    hits = [type("H", (), {"score": s}) for s in (0.890, 0.8895, 0.86, 0.85, 0.84, 0.70)]
    # spread: best - 5th = 0.05; the second is 0.0005 below the best: 0.99, the 5th and below: 0
    assert quote.score_nearness(hits) == pytest.approx([1.0, 0.99, 0.4, 0.2, 0.0, 0.0])
    assert quote.score_nearness(hits[:1]) == [1.0]
    # with 3 hits the fall to the last (0.03) is scaled to 5 hits: 0.03 * 4 / 2 = 0.06
    assert quote.score_drop(hits[:3]) == pytest.approx(0.06)
    assert quote.score_drop(hits) == pytest.approx(0.05)


def test_a_number_the_question_names_must_be_in_the_passage():
    assert abstain._number_misses("Waarom 400 000 werkgevers aanschrijven?", "ongeveer 400 000 werkgevers") == 0.0
    assert abstain._number_misses("Waarom artikel 12?", "artikel 13 van de wet") == 1.0
    assert abstain._number_misses("Wat gebeurde er in 1985?", "niets") == 0.0  # a year is not a number here


def test_a_year_fits_the_letter_or_the_year_after():
    class _Letter:
        date = "1986-03-01"

    class _Passage:
        text = "De sluis is in 1983 besproken."

    hit = type("H", (), {"letter": _Letter, "passage": _Passage})
    assert abstain._years("Wat besloot de minister in 1985?", hit) == (1.0, 0.0)  # the letter answers the year before
    assert abstain._years("Wat gebeurde er in 1983?", hit) == (1.0, 0.0)  # named in the passage
    assert abstain._years("Wat gebeurde er in 1990?", hit) == (0.0, 1.0)
    assert abstain._years("Wat gebeurde er?", hit) == (0.0, 0.0)
