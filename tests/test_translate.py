"""English words in Dutch (qa.translate): reading FreeDict's dictd files, inflected forms, and the English
question words a Dutch text holds by translation or look-alike (qa.lookalike). No model, no network: the
dictionaries here are small dictd files written by the test."""
from __future__ import annotations

import gzip

import pytest

from index.lexical import analyse
from qa import lookalike, translate

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _code(n: int) -> str:
    digits = ""
    while True:
        digits = _B64[n % 64] + digits
        n //= 64
        if not n:
            return digits


def _write_dictd(folder, name, entries):
    """A dictd dictionary of (headword, definition text) as FreeDict writes it: a gzip'd body, an index of
    headword, base-64 offset and length."""
    body, lines = b"00-database-info\nabout\n\n", ["00databaseinfo\tA\tY"]
    for word, definition in entries:
        text = f"{word} /pron/\n{definition}\n\n".encode()
        lines.append(f"{word}\t{_code(len(body))}\t{_code(len(text))}")
        body += text
    (folder / f"{name}.dict.dz").write_bytes(gzip.compress(body))
    (folder / f"{name}.index").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture()
def dictionaries(tmp_path):
    _write_dictd(tmp_path, translate.ENGLISH_DUTCH, [("employer", "werkgever"), ("reason", "1. oorzaak, reden\n2. verstand"),
                                                      ("food", "")])
    _write_dictd(tmp_path, translate.DUTCH_ENGLISH, [("regering", "government, reign"), ("besluiten", "decide, resolve")])
    return tmp_path


def test_dictd_entries_are_read_with_their_one_word_translations(dictionaries):
    entries = dict(translate.read_dictd(dictionaries, translate.ENGLISH_DUTCH))
    assert entries == {"employer": ["werkgever"], "reason": ["oorzaak", "reden", "verstand"], "food": []}
    assert translate.read_dictd(dictionaries, "freedict-missing") == []


def test_both_directions_give_dutch_stems_for_an_english_word(dictionaries):
    table = translate.translations(dictionaries)
    assert table["government"] == {"regering"}
    assert translate.dutch_stems("employers", dictionaries) == frozenset(analyse("werkgever"))
    assert translate.dutch_stems("decided", dictionaries) == frozenset(analyse("besluiten"))
    assert translate.dutch_stems("weather", dictionaries) == frozenset()


def test_english_forms_undo_regular_inflection():
    assert "employer" in translate.english_forms("employers")
    assert "policy" in translate.english_forms("policies")
    assert {"decid", "decide"} <= set(translate.english_forms("decided"))
    assert translate.english_forms("bus") == ["bus"]  # too short to be a plural


def test_a_translated_word_counts_as_held_by_the_text(dictionaries):
    asked = ("employers", "government", "weather")
    text = "De regering wil de werkgevers eerder informeren."
    assert lookalike.lookalike_share(asked, text) == 0.0  # no look-alikes
    with_dictionary = lookalike.lookalike_share(asked, text, lambda w: translate.dutch_stems(w, dictionaries))
    assert with_dictionary == pytest.approx(2 / 3)


def test_without_the_dictionaries_no_word_has_a_translation(tmp_path):
    assert translate.translations(tmp_path) == {}
    assert translate.dutch_stems("employers", tmp_path) == frozenset()


def test_the_readme_commands_install_the_dictionaries():
    """scripts/test.sh (and the README's first command) install FreeDict's English-Dutch dictionaries: without
    them English quotes are chosen by look-alikes only, which the quality figures do not describe."""
    assert translate.translations(), (f"no {translate.ENGLISH_DUTCH} / {translate.DUTCH_ENGLISH} in {translate.DICTD}: "
                                      "apt-get install dict-freedict-eng-nld dict-freedict-nld-eng")


def test_bm25_adds_the_translations_of_an_english_question(fake_index):
    """An English question's own words score nothing in Dutch letters; their translations do."""
    from index.lexical import analyse as stems
    from qa import search

    lexical = fake_index.lexical
    assert not lexical.scores("weather forecast").any()
    with_dutch = lexical.scores("weather forecast", stems("migratie asiel"))
    assert with_dutch.any()
    migration = {p.id for p, s in zip(fake_index.passages, with_dutch) if s > 0}
    assert all("migratie" in p.text.lower() or "asiel" in p.text.lower() for p in fake_index.passages if p.id in migration)
    assert (lexical.scores("weather forecast", ["no-such-term"]) == 0).all()
    if translate.dutch_stems("asylum"):  # with the dictionaries installed (tests/test_translate.py checks they are)
        assert search.bm25_scores(fake_index, "What is asylum policy about?").any()


def test_the_apps_warm_up_reads_the_dictionaries_before_the_first_english_question():
    """`open_warm` (the app's start) searches an English question, so reading the dictionaries (~0.2 s) is not
    paid by the first user who asks in English (bench/load.py's first round: p95 ~585 -> ~315 ms)."""
    from qa import hints
    from qa.search import WARM_UP

    assert {"nl", "en"} <= {hints.language(q) for q in WARM_UP}
