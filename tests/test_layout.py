"""The layout at scale (index.layout): an index built with the threshold lowered holds its sentence vectors
in a float16 file and reads its passages from disk by number, and searches like the flat layout; an index
without the offsets file still opens; a damaged offsets or sentence file is a clear error."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from corpus.readers import read_corpus
from index.build import build_index
from index.embed import fake_embedder
from index.layout import LETTER_IDS, LETTER_OFFSETS, OFFSETS, PLACES, SENTENCES_F16, DiskVectors
from index.lazy import LazyLetters, LazyPassages
from index.store import MANIFEST, IndexError_, load_index
from qa.answer import compose_answer
from qa import hints
from qa.search import Filters, filter_mask, open_index, search
from tests.test_crash import write_letters

TOP1_SHARE = 0.95  # questions whose first hit must be the flat layout's (SQ8 passage codes, float16 sentences)
TOP5_OVERLAP = 0.9  # mean share of the flat layout's top 5 that the scale layout also returns


@pytest.fixture
def layouts(tmp_path, letters_dir):
    """(flat, scale): the test letters and 60 generated ones (~150 passages) indexed as today and with the
    layout at scale forced (threshold 1)."""
    write_letters(tmp_path / "generated", 60)
    letters = read_corpus([letters_dir, tmp_path / "generated"]).letters
    build_index(letters, tmp_path / "flat", fake_embedder(), cache_path=None)
    build_index(letters, tmp_path / "scale", fake_embedder(), cache_path=None, scale_from=1)
    return open_index(tmp_path / "flat", "fake"), open_index(tmp_path / "scale", "fake")


def _generation(path):
    return path / json.loads((path / MANIFEST).read_text())["generation"]


def test_the_scale_layout_is_written_and_loaded(layouts):
    flat, scale = layouts
    assert scale.manifest["sentence_vectors"] == "float16-file" and flat.manifest["sentence_vectors"] == "flat"
    assert scale.manifest["faiss"].startswith("ivf") and flat.manifest["faiss"] == "flat"
    assert isinstance(scale.passages, LazyPassages) and isinstance(flat.passages, list)
    assert isinstance(scale.letters, LazyLetters) and isinstance(flat.letters, dict)
    assert isinstance(scale.sentence_vectors, DiskVectors)
    assert np.load(_generation(scale.path) / "lexical" / "data.csc.index.npy").dtype == np.float16
    sentences = flat.sentence_vectors.reconstruct_n(0, flat.sentence_vectors.ntotal)
    assert np.abs(scale.sentence_matrix[np.arange(len(sentences))] - sentences).max() < 1e-3  # float16 rounding


def test_lazy_passages_and_letters_equal_the_eager_ones(layouts):
    flat, scale = layouts
    assert list(scale.letters) == list(flat.letters) and list(scale.letters.values()) == list(flat.letters.values())
    assert all(scale.letters[i] == flat.letters[i] for i in reversed(list(flat.letters)))
    assert "no-such-letter" not in scale.letters and len(scale.letters) == len(flat.letters)
    headers = [replace(letter, text="") for letter in flat.letters.values()]
    assert list(scale.letters.headers().values()) == headers  # from letter_meta.jsonl
    scale.letters.meta = None
    assert list(scale.letters.headers().values()) == headers  # an index without it: from letters.jsonl
    assert len(scale.passages) == len(flat.passages) and list(scale.passages) == flat.passages
    for i in list(range(len(flat.passages)))[::-1]:  # by number, backwards (not the file's order)
        assert scale.passages[i] == flat.passages[i]
        assert scale.passage_numbers[flat.passages[i].id] == i
        assert scale.passages_by_id[flat.passages[i].id] == flat.passages[i]
    assert scale.passages[-1] == flat.passages[-1] and scale.passages[1:3] == flat.passages[1:3]
    with pytest.raises(KeyError):
        scale.passage_numbers[flat.passages[0].letter_id + "#999999"]
    assert (scale.facts.letter_of == flat.facts.letter_of).all() and (scale.facts.year == flat.facts.year).all()


def test_the_scale_layout_finds_what_the_flat_one_finds(layouts):
    flat, scale = layouts
    questions = [p.search_text[:200] for p in flat.passages[::5]] + ["Wat schrijft de minister over de begroting?"]
    same_top, overlap = [], []
    for question in questions:
        a = [h.passage.id for h in search(flat, question, k=5)]
        b = [h.passage.id for h in search(scale, question, k=5)]
        same_top.append(a[0] == b[0])
        overlap.append(len(set(a) & set(b)) / len(a))
    assert np.mean(same_top) >= TOP1_SHARE and np.mean(overlap) >= TOP5_OVERLAP, (same_top, overlap)
    for question in questions[:3]:  # the answer reads passages by number (abstention, quotes): the same answer
        a, b = (compose_answer(question, search(i, question), i).to_json() for i in (flat, scale))
        assert (a["abstained"], a["text"], a["quotes"]) == (b["abstained"], b["text"], b["quotes"])


def _letters_passing(letters, f: Filters) -> set[str]:
    """The filters' meaning, letter by letter (as qa.search.filter_mask was written before it used columns)."""
    def ok(letter) -> bool:
        squeeze = lambda text: "".join(text.split())  # noqa: E731
        return (letter.id not in f.exclude_letters and (not f.letters or letter.id in f.letters)
                and (not f.date_from or bool(letter.date) and letter.date >= hints.date_floor(f.date_from))
                and (not f.date_to or bool(letter.date) and letter.date <= hints.date_ceiling(f.date_to))
                and f.sender.lower() in letter.sender.lower() and (not f.dossier or squeeze(f.dossier) == squeeze(letter.dossier)))
    return {letter.id for letter in letters.values() if ok(letter)}


def test_filters_keep_the_letters_they_name_in_both_layouts(layouts):
    flat, scale = layouts
    some, sizes = flat.letters[flat.passages[0].letter_id], set()
    for filters in (Filters(letters=(some.id,)), Filters(exclude_letters=(some.id, "no-such-letter")),
                    Filters(date_from=some.date[:4]), Filters(date_to=some.date), Filters(date_from="2100"),
                    Filters(sender=some.sender[3:9].upper()), Filters(dossier=some.dossier or "1 2"),
                    Filters(date_from="2000", date_to="2020", exclude_letters=(some.id,))):
        expected = _letters_passing(flat.letters, filters)
        for index in (flat, scale):
            mask = filter_mask(index, filters)
            assert {p.letter_id for p, keep in zip(flat.passages, mask) if keep} == expected, filters
        sizes.add(len(expected))
    assert {0, 1, len(flat.letters) - 1} <= sizes and len(sizes) >= 4  # the filters do keep and drop letters
    for filters in (Filters(letters=(some.id,)), Filters(exclude_letters=(some.id,)), Filters(date_from="2100")):
        a = {h.passage.id for h in search(flat, "begroting", k=1000, filters=filters)}
        assert a == {h.passage.id for h in search(scale, "begroting", k=1000, filters=filters)}
        assert {i.split("#")[0] == some.id for i in a} <= {filters.letters == (some.id,)}


def _drop_offsets(path):
    """The index as saved before the layout at scale: no offsets or places files in it or its manifest."""
    manifest = json.loads((path / MANIFEST).read_text())
    for name in (OFFSETS, PLACES, LETTER_OFFSETS, LETTER_IDS):
        (_generation(path) / name).unlink()
        del manifest["files"][name]
    (path / MANIFEST).write_text(json.dumps(manifest))
    return manifest


def test_an_index_without_offsets_still_opens(layouts):
    flat, scale = layouts
    _drop_offsets(scale.path)  # scale layout: the offsets are found by one pass over passages.jsonl
    again = load_index(scale.path)
    assert isinstance(again.passages, LazyPassages) and list(again.passages) == flat.passages
    assert (again.passages.offsets == scale.passages.offsets).all() and dict(again.letters) == flat.letters
    manifest = _drop_offsets(flat.path)  # an old small index (no scale_from in its manifest): passages as a list
    manifest.pop("scale_from"), manifest.pop("sentence_vectors")
    (flat.path / MANIFEST).write_text(json.dumps(manifest))
    assert load_index(flat.path).passages == flat.passages


@pytest.mark.parametrize("name, damage", [
    (OFFSETS, lambda a: a[::-1].copy()),  # the same size, other values
    (PLACES, lambda a: a[:-1]),  # a row short
    (LETTER_OFFSETS, lambda a: a + 1),
])
def test_a_damaged_offsets_file_names_the_file_and_the_fix(layouts, name, damage):
    _, scale = layouts
    file = _generation(scale.path) / name
    np.save(file, damage(np.load(file)))
    manifest = json.loads((scale.path / MANIFEST).read_text())
    manifest["files"][name]["bytes"] = file.stat().st_size  # past the size check: only the contents can tell
    (scale.path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(IndexError_, match=rf"{name}.*kamerqa index --index"):
        load_index(scale.path, deep_check=False)


def test_a_damaged_sentence_file_names_the_file_and_the_fix(layouts):
    _, scale = layouts
    file = _generation(scale.path) / SENTENCES_F16
    data = bytearray(file.read_bytes())
    data[:16] = b"not a numpy file"
    file.write_bytes(bytes(data))
    with pytest.raises(IndexError_, match=rf"{SENTENCES_F16}.*(corrupted|damaged).*kamerqa index --index"):
        load_index(scale.path)
    with pytest.raises(IndexError_, match=rf"{SENTENCES_F16}.*damaged.*kamerqa index --index"):
        load_index(scale.path, deep_check=False)
    file.write_bytes(bytes(data[:len(data) // 2]))
    with pytest.raises(IndexError_, match=rf"{SENTENCES_F16}.*truncated.*kamerqa index --index"):
        load_index(scale.path, deep_check=False)


def test_the_compact_vocabulary_is_the_dict_it_was_made_from():
    from index.vocabulary import Vocabulary

    columns = {"": 7, "dijk": 0, "dijken": 3, "financien": 1, "één": 2, "z": 4, "ab": 5, "a": 6}
    vocabulary = Vocabulary(columns)
    assert dict(vocabulary) == columns and len(vocabulary) == len(columns)
    assert all(vocabulary[t] == c and t in vocabulary for t, c in columns.items())
    for missing in ("di", "dijkje", "zz", "0", "één twee", 3):
        assert missing not in vocabulary and vocabulary.get(missing) is None
    terms = vocabulary.terms()
    assert terms == sorted(t for t in columns if t) and terms[0] == "a" and terms[-1] == "één" and len(terms) == 7


def test_the_app_shows_a_whole_letter_from_the_scale_layout(layouts):
    import app

    flat, scale = layouts
    question = "Wat schrijft de minister over de begroting?"
    _, turns, _ = app.ask(scale, question, [], [], "", "", "", "")
    choice = turns[-1]["choices"][0][1]
    assert app.show_letter(scale, choice) == app.show_letter(flat, choice)
    letter_id, start, _, _ = choice.split("|")
    with pytest.raises(app.gr.Error, match="not in this index"):
        app.show_letter(scale, f"{letter_id}|{int(start) + 1}||")


def test_kamerqa_index_scale_from_writes_the_layout_and_ask_reads_it(tmp_path, letters_dir, capsys, monkeypatch):
    from qa.cli import main

    monkeypatch.setenv("KAMERQA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("KAMERQA_SCALE_FROM", "1")  # the flag's default reads it
    assert main(["index", "--corpus", str(letters_dir), "--index", str(tmp_path / "ix"), "--model", "fake", "--quiet"]) == 0
    manifest = json.loads((tmp_path / "ix" / MANIFEST).read_text())
    assert manifest["scale_from"] == 1 and manifest["sentence_vectors"] == "float16-file"
    capsys.readouterr()
    assert main(["ask", "secundaire migratie", "--json", "-k", "2", "--index", str(tmp_path / "ix")]) == 0
    assert json.loads(capsys.readouterr().out)["hits"][0]["letter_id"] == "brief-migratie"


def test_lazy_passages_read_from_many_threads_equal_the_eager_ones(layouts):
    from concurrent.futures import ThreadPoolExecutor

    flat, scale = layouts
    scale.passages.rows.keep = 3  # a small cache: passages are evicted while other threads read them
    numbers = list(range(len(flat.passages))) * 5
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(scale.passages.__getitem__, numbers)) == [flat.passages[i] for i in numbers]
    assert len(scale.passages.rows.cache) <= 3
