"""Property-based tests of the cleaner and the chunker: for any text, nothing raises, raw spans map back
exactly, and the passages cover the letter's body.

"Body content" is defined as the chunker defines it: the paragraphs `clean_letter(text)` returns, from
`body_start(paragraphs)` on, without the ones `is_signature` recognises. Every word (run of non-space
characters) of those cleaned paragraphs must lie, as a raw span, inside one sentence span of a passage.
"""
from __future__ import annotations

import os
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpus.chunk import ChunkSettings, body_start, chunk_letter, is_signature
from corpus.clean import SOFT_HYPHEN, clean_letter
from corpus.models import Letter

SETTINGS = settings(max_examples=int(os.environ.get("KAMERQA_EXAMPLES", "150")), deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces that exercise the cleaner's rules: hyphenation across lines, soft hyphens, compounds,
# Markdown, HTML, page furniture, letter openers and signatures, abbreviations, list items.
TOKENS = [
    "de", "het", "dijken", "economi-", "sche", "economi-sche", "Noord-Holland", "EU-Turkije", "zee-egel",
    "ver" + SOFT_HYPHEN + "ster" + SOFT_HYPHEN + "king", SOFT_HYPHEN, "-", "–", "—", "•", "**vet**", "*schuin*",
    "# Kop", "## ", "> ", "[link](http://x.nl/a)", "<sup>1</sup>", "<script>alert(1)</script>", "<p>", "</p>",
    "&amp;", "ISSN 0921-7371", "kst-32545-143", "Tweede Kamer, vergaderjaar 2023–2024", "12", "- 3 -", "iv",
    "***", "Geachte Voorzitter,", "Datum 14 mei 1984", "Onderwerp: dijken", "Aan de Voorzitter",
    "De Minister van Verkeer en Waterstaat, J. Jansen", "nr. 5", "o.a.", "bijv.", "Mr.", "J.", "1.", "a)",
    "Hierbij bericht ik u dat de dijken gereed zijn.", "Wat kost het?", "Ja!", "zie blz. 4;", ":", ";",
    "(", ")", "\"", "«", "»", "’", "1984", "€ 120 mln.", "ĳ", "ß", "İ", "ﬁ", "\u200b", "\ufeff", "\x00", "\x0c",
    "\u2028", "\x85", "🙂", "语",
]
SEPARATORS = [" ", " ", " ", "\n", "\n\n", "\r\n", "\t", "  \n", ". ", ", ", "-\n", SOFT_HYPHEN + "\n", "\n- ",
              "\n1. ", ""]

structured = st.lists(st.tuples(st.sampled_from(TOKENS), st.sampled_from(SEPARATORS)), max_size=120).map(
    lambda parts: "".join(t + s for t, s in parts))
random_text = st.text(
    alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from("-\n \u00ad.*#_<>[]()")), max_size=400)
long_sentence = st.integers(min_value=150, max_value=450).map(
    lambda n: " ".join(("woord," if i % 37 == 36 else "woord") for i in range(n)) + ".")
any_text = st.one_of(structured, random_text, long_sentence,
                     st.tuples(structured, random_text, structured).map("".join))
small = ChunkSettings(target_words=12, max_words=20, min_words=4)


def words_with_raw_spans(para) -> list[tuple[int, int]]:
    return [para.raw_span(m.start(), m.end()) for m in re.finditer(r"\S+", para.text)]


@SETTINGS
@given(any_text)
def test_cleaned_characters_map_back_to_raw(text):
    for para in clean_letter(text):
        assert len(para.text) == len(para.offsets)
        assert list(para.offsets) == sorted(set(para.offsets)), "offsets must strictly increase"
        for ch, off in zip(para.text, para.offsets):
            assert 0 <= off < len(text)
            assert ch == text[off] or (ch == " " and text[off].isspace()), (ch, text[off])
        assert para.text == para.text.strip() and "  " not in para.text


@SETTINGS
@given(any_text, st.sampled_from([ChunkSettings(), small]))
def test_passages_map_back_and_cover_the_body(text, chunking):
    letter = Letter("brief", text)
    passages = chunk_letter(letter, chunking)
    previous_end = 0
    for p in passages:
        assert p.letter_id == "brief"
        assert 0 <= p.start < p.end <= len(text)
        assert letter.text[p.start:p.end] == p.text
        assert p.start >= previous_end, "passages out of order or overlapping"
        previous_end = p.end
        assert len(p.sentences) == len(p.clean_sentences) >= 1
        for (s, e), (cs, ce) in zip(p.sentences, p.clean_sentences):
            assert p.start <= s < e <= p.end, "sentence outside its passage"
            assert 0 <= cs < ce <= len(p.search_text)
        assert p.search_text.strip()

    paragraphs = clean_letter(text)
    body = [para for para in paragraphs[body_start(paragraphs):] if not is_signature(para)]
    sentence_spans = [span for p in passages for span in p.sentences]
    for para in body:
        for s, e in words_with_raw_spans(para):
            assert any(a <= s and e <= b for a, b in sentence_spans), f"word {text[s:e]!r} not in any passage"
    assert bool(passages) == bool(body)


@SETTINGS
@given(any_text)
def test_paragraph_numbers_count_up(text):
    numbers = [p.paragraph for p in chunk_letter(Letter("brief", text), small)]
    assert numbers == sorted(numbers) and all(n >= 1 for n in numbers)
