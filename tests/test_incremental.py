"""A rebuild takes the passages of unchanged letters from the index it replaces (chunking only what
changed), gives the same index as a build from scratch, and takes nothing from an index chunked
otherwise; an exported model is compiled only when some text must be embedded."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from corpus.chunk import ChunkSettings
from corpus.readers import read_corpus
from index import build
from index.build import BuildSettings, build_index
from index.embed import fake_embedder
from index.layout import passage_row
from index.store import MANIFEST, load_index
from tests.test_crash import write_letters


@pytest.fixture
def counted_chunking(monkeypatch):
    """The ids of the letters build_index chunks."""
    chunked, chunk = [], build.chunk_letter
    monkeypatch.setattr(build, "chunk_letter", lambda letter, settings: (chunked.append(letter.id), chunk(letter, settings))[1])
    return chunked


def changed(letters, index: int):
    letter = letters[index]
    return letters[:index] + [replace(letter, text=letter.text + "\n\nEen nieuwe alinea over de begroting van dit jaar.")] + letters[index + 1:]


def rows(path: Path) -> list[dict]:
    return [passage_row(p) for p in load_index(path).passages]


@pytest.mark.parametrize("scale_from", [None, 1])  # 1: the layout at scale (index.layout), passages read from disk
def test_a_rebuild_chunks_only_the_changed_letter_and_equals_a_fresh_build(tmp_path, counted_chunking, scale_from):
    write_letters(tmp_path / "corpus", 12)
    letters = read_corpus([tmp_path / "corpus"]).letters
    build_index(letters, tmp_path / "index", fake_embedder(), cache_path=None, scale_from=scale_from)
    assert len(counted_chunking) == 12
    counted_chunking.clear()
    new = changed(letters, 5)
    build_index(new, tmp_path / "index", fake_embedder(), cache_path=None, scale_from=scale_from)
    assert counted_chunking == [new[5].id]
    build_index(new, tmp_path / "fresh", fake_embedder(), cache_path=None, scale_from=scale_from)
    assert rows(tmp_path / "index") == rows(tmp_path / "fresh")
    assert any(p.letter_id == new[5].id and "begroting van dit jaar" in p.text for p in load_index(tmp_path / "index").passages)


def test_nothing_is_taken_from_an_index_chunked_with_other_settings_or_code(tmp_path, counted_chunking):
    write_letters(tmp_path / "corpus", 6)
    letters = read_corpus([tmp_path / "corpus"]).letters
    build_index(letters, tmp_path / "index", fake_embedder(), cache_path=None)
    counted_chunking.clear()
    other = BuildSettings(chunking=ChunkSettings(target_words=120))
    build_index(letters, tmp_path / "index", fake_embedder(), other, cache_path=None)
    assert len(counted_chunking) == 6  # other settings: every letter chunked again
    counted_chunking.clear()
    manifest = json.loads((tmp_path / "index" / MANIFEST).read_text())
    (tmp_path / "index" / MANIFEST).write_text(json.dumps({**manifest, "chunker": "older-code"}))
    build_index(letters, tmp_path / "index", fake_embedder(), other, cache_path=None)
    assert len(counted_chunking) == 6  # another chunker version
    counted_chunking.clear()
    build_index(letters, tmp_path / "index", fake_embedder(), other, cache_path=None)
    assert counted_chunking == []  # the same settings and code: nothing chunked again


@pytest.mark.model
def test_a_lazy_encoder_compiles_on_first_use_and_again_after_release():
    from index import fast
    from index.embed import model_info

    info = model_info("multilingual-e5-small")
    encoder = fast.Encoder(Path(info.path), "openvino", None, lazy=True)
    assert encoder._session is None
    first = encoder.encode(["passage: De Minister schrijft de Kamer."])
    assert encoder._session is not None
    encoder.release()
    assert encoder._session is None
    assert (encoder.encode(["passage: De Minister schrijft de Kamer."]) @ first.T)[0, 0] > 0.9999


def _centroids(path: Path):
    import faiss

    index = load_index(path).vectors  # kept: the extracted parts are views into it
    ivf = faiss.extract_index_ivf(index)
    return ivf.nlist, ivf.quantizer.reconstruct_n(0, ivf.nlist), ivf.ntotal


def test_a_rebuild_keeps_the_trained_ivf_lists_of_the_same_model(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "ANN_THRESHOLD", 10)  # the test letters' passages go to IVF (sentences: a file)
    write_letters(tmp_path / "corpus", 12)
    letters = read_corpus([tmp_path / "corpus"]).letters
    build_index(letters, tmp_path / "index", fake_embedder(), cache_path=None)
    lists, old, count = _centroids(tmp_path / "index")
    new = changed(letters, 3)
    build_index(new, tmp_path / "index", fake_embedder(), cache_path=None)
    lists_after, kept, count_after = _centroids(tmp_path / "index")
    assert build.ivf_lists(count_after) == lists == lists_after and count_after >= count
    assert (kept == old).all()  # not trained again
    build_index(new, tmp_path / "fresh", fake_embedder(), cache_path=None)
    assert not (_centroids(tmp_path / "fresh")[1] == old).all()  # a fresh build trains on its own sample
    build_index(new, tmp_path / "index", fake_embedder(dim=32), cache_path=None)  # another model: trained again
    assert _centroids(tmp_path / "index")[1].shape != old.shape


@pytest.mark.model
def test_a_lazy_encoder_that_cannot_compile_says_so_in_one_line(monkeypatch):
    from index import fast
    from index.embed import ModelError, load_embedder

    def broken(*args, **kwargs):
        raise RuntimeError("Exception from src/inference/src/cpp/core.cpp: no CPU plugin")

    monkeypatch.setattr(fast, "OpenVINOSession", broken)
    embedder = load_embedder(backend="openvino", lazy=True)  # nothing compiled yet
    with pytest.raises(ModelError, match="cannot build the openvino model .*no CPU plugin.*KAMERQA_BACKEND=torch"):
        embedder.encode_passages(["De Minister schrijft de Kamer."])
