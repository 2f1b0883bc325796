"""Speed features that must not change answers: incremental indexing, approximate search, fast encoders.
Nothing here is timed; the timings are in docs/PERFORMANCE.md (kamerqa bench)."""
from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from index.embed import Embedder, fake_embedder
from qa.searcher import Searcher

DEV = Path(__file__).resolve().parents[2] / "shared" / "eval" / "dev_questions.jsonl"


def counting(embedder: Embedder) -> tuple[Embedder, list[str]]:
    """`embedder`, recording every text it encodes."""
    seen: list[str] = []

    def passages(texts):
        seen.extend(texts)
        return embedder.encode_passages(texts)

    return replace(embedder, encode_passages=passages), seen


def test_reindex_embeds_only_the_changed_letter(tmp_path, letters_dir):
    from corpus.readers import read_corpus
    from index.build import build_index

    embedder, seen = counting(fake_embedder())
    cache = tmp_path / "cache.sqlite"
    letters = read_corpus([letters_dir]).letters
    first = build_index(letters, tmp_path / "index", embedder, cache_path=cache)
    assert first.embedded == len(seen) > 0

    changed = replace(letters[0], text=letters[0].text + "\n\nDe minister zegt toe de Kamer voor de zomer te informeren.")
    seen.clear()
    again = build_index([changed, *letters[1:]], tmp_path / "index", embedder, cache_path=cache)
    assert again.passages == first.passages or again.passages == first.passages + 1
    assert 0 < again.embedded == len(seen) < first.embedded / 2
    others = {p for letter in letters[1:] for p in letter.text.split("\n\n") if len(p.split()) > 8}
    assert not any(t.strip() in others for t in seen)  # nothing of the unchanged letters was re-embedded


def test_approximate_index_finds_what_exact_finds(tmp_path, letters_dir, monkeypatch):
    from corpus.readers import read_corpus
    from index import build
    from qa.search import open_index, search

    letters = read_corpus([letters_dir]).letters
    build.build_index(letters, tmp_path / "exact", fake_embedder(), cache_path=None)
    monkeypatch.setattr(build, "ANN_THRESHOLD", 1)
    build.build_index(letters, tmp_path / "approx", fake_embedder(), cache_path=None)
    exact, approx = open_index(tmp_path / "exact", "fake"), open_index(tmp_path / "approx", "fake")
    assert exact.manifest["faiss"] == "flat" and approx.manifest["faiss"].startswith("ivf")
    for passage in exact.passages[:10]:
        question = passage.search_text[:200]
        for retriever in ("dense", "hybrid"):
            a = [h.passage.id for h in search(exact, question, k=3, retriever=retriever)]
            b = [h.passage.id for h in search(approx, question, k=3, retriever=retriever)]
            assert a[0] == b[0]


def _hit_mrr(index, questions) -> tuple[float, float]:
    from qa.search import search

    hit5, mrr = [], []
    for q in questions:
        gold = {a["doc_id"] for a in q["answers"]}
        ranks = [i for i, h in enumerate(search(index, q["question"], k=10)) if h.passage.letter_id in gold]
        hit5.append(bool(ranks) and ranks[0] < 5)
        mrr.append(1 / (ranks[0] + 1) if ranks else 0.0)
    return float(np.mean(hit5)), float(np.mean(mrr))


@pytest.mark.model
def test_approximate_index_answers_dev_questions_as_well_as_exact(real_index):
    """IVF-SQ8 (what large corpora get) over the real index's vectors: Hit@5 and MRR@10 within 0.01."""
    from index.build import choose_faiss_index
    from qa.search import open_index

    if not DEV.exists():
        pytest.skip(f"needs {DEV}")
    path = real_index.path
    exact = open_index(path, deep_check=False)
    questions = [json.loads(line) for line in DEV.read_text().splitlines() if line.strip()]
    ann = {attr: choose_faiss_index(getattr(exact, attr).reconstruct_n(0, getattr(exact, attr).ntotal), approximate=True)
           for attr in ("vectors", "sentence_vectors")}
    approx = Searcher(replace(exact.index, **ann), exact.embedder)
    assert not type(approx.vectors).__name__.startswith("IndexFlat")
    (h_exact, m_exact), (h_approx, m_approx) = _hit_mrr(exact, questions), _hit_mrr(approx, questions)
    assert h_approx >= h_exact - 0.01 and m_approx >= m_exact - 0.01


@pytest.mark.model
@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_fast_backends_give_the_torch_vectors(backend):
    pytest.importorskip("openvino" if backend == "openvino" else "onnxruntime")
    from index.embed import load_embedder

    torch_model = load_embedder(backend="torch")
    fast = load_embedder(backend=backend)
    texts = ["De minister van Verkeer en Waterstaat besluit tot een conventionele sluis in de Oesterdam.",
             "Kort.", "Een langere passage " * 40]
    assert fast.fingerprint == torch_model.fingerprint
    assert (fast.encode_passages(texts) * torch_model.encode_passages(texts)).sum(1).min() > 0.9999
    assert (fast.encode_queries(texts) * torch_model.encode_queries(texts)).sum(1).min() > 0.9999


@pytest.mark.model
def test_int8_backend_stays_close_to_fp32_under_its_own_fingerprint():
    """openvino-int8 (NNCF, calibrated on the shared corpus; built on first use, ~2 minutes)."""
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    from tests.conftest import shared_corpus

    shared_corpus()  # the calibration passages
    from index.embed import load_embedder

    fp32 = load_embedder(backend="torch")
    int8 = load_embedder(backend="openvino-int8")
    texts = ["De minister van Verkeer en Waterstaat besluit tot een conventionele sluis in de Oesterdam.",
             "Kort.", "Een langere passage over de begroting van het ministerie van Financiën. " * 15]
    assert int8.fingerprint == fp32.fingerprint + "-ov-int8"
    assert (int8.encode_passages(texts) * fp32.encode_passages(texts)).sum(1).min() >= 0.98
    assert (int8.encode_queries(texts) * fp32.encode_queries(texts)).sum(1).min() >= 0.98


def test_unknown_backend_names_the_choices(monkeypatch):
    from index.embed import ModelError, load_embedder

    monkeypatch.setenv("KAMERQA_BACKEND", "tensorrt")
    with pytest.raises(ModelError, match="openvino"):
        load_embedder("multilingual-e5-small")


def test_encoder_batches_are_bounded_by_tokens_and_keep_every_text_once():
    from index.fast import _token_batches

    lengths = [512] * 9 + [100] * 50 + [10] * 70  # longest first, as encode_onnx orders them
    order = np.arange(len(lengths))
    groups = _token_batches(lengths, order, 32, 2048)
    assert [len(g) for g in groups[:4]] == [4, 4, 4, 20]  # 4 x 512 (padded to the first) = 2048; 20 x 100
    assert all(len(g) * lengths[g[0]] <= 2048 or len(g) == 1 for g in groups)
    assert max(len(g) for g in groups) == 32  # short texts still 32 a batch
    assert sorted(np.concatenate(groups).tolist()) == order.tolist()


def test_long_texts_go_in_smaller_batches_under_the_attention_bound():
    from index.fast import _token_batches

    lengths = [512] * 3 + [256] * 5 + [100] * 40
    groups = _token_batches(lengths, np.arange(len(lengths)), 32, 2048, 2048 * 128)
    # 512^2 alone; 4 x 256^2 (the batch's width is its first, longest text); then 20 x 100 (the token bound)
    assert [len(g) for g in groups[:6]] == [1, 1, 1, 4, 4, 20]
    assert sorted(np.concatenate(groups).tolist()) == list(range(len(lengths)))


@pytest.mark.model
def test_padded_attention_bounded_batches_give_the_vectors_of_plain_batches():
    from index import fast
    from index.embed import model_info

    info = model_info("multilingual-e5-small")
    texts = [info.document_prompt + "De Minister schrijft de Kamer. " + "Het water in de dijken stijgt. " * k
             for k in (0, 1, 2, 5, 9, 17, 40, 70, 90, 120)]  # ~10 to 512 tokens
    plain = fast.Encoder(Path(info.path), "openvino", None, pad_to=1, attention_tokens=None).encode(texts)
    bounded = fast.Encoder(Path(info.path), "openvino", None).encode(texts)  # PAD_TO, ATTENTION_TOKENS
    assert (plain * bounded).sum(1).min() > 0.9999


def test_sentence_codes_scored_for_the_top_passages_find_what_exact_finds(tmp_path, letters_dir):
    """Sentence vectors kept as SQ8 codes (no IVF): search scores only the top passages' sentences."""
    import faiss

    from corpus.readers import read_corpus
    from index import build
    from qa.search import open_index, search

    build.build_index(read_corpus([letters_dir]).letters, tmp_path / "index", fake_embedder(), cache_path=None)
    exact = open_index(tmp_path / "index", "fake")
    vectors = exact.sentence_vectors.reconstruct_n(0, exact.sentence_vectors.ntotal)
    codes = faiss.IndexScalarQuantizer(vectors.shape[1], faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
    codes.train(vectors)
    codes.add(vectors)
    ivf = build.choose_faiss_index(exact.vectors.reconstruct_n(0, exact.vectors.ntotal), approximate=True)
    coded = Searcher(replace(exact.index, sentence_vectors=codes, vectors=ivf), exact.embedder)
    for passage in exact.passages[:10]:
        question = passage.search_text[:200]
        a = [h.passage.id for h in search(exact, question, k=3)]
        b = [h.passage.id for h in search(coded, question, k=3)]
        assert a[0] == b[0]


def test_sentence_ivf_is_probed_at_search_time_beyond_the_nprobe_it_was_saved_with(tmp_path, letters_dir):
    """An index saved with a small nprobe is searched with SENTENCE_NPROBE lists: with every list probed,
    the sentence scores are those of exact search."""
    import faiss

    from corpus.readers import read_corpus
    from index import build
    from qa import search as search_module

    build.build_index(read_corpus([letters_dir]).letters, tmp_path / "index", fake_embedder(), cache_path=None)
    exact = search_module.open_index(tmp_path / "index", "fake")
    vectors = exact.sentence_vectors.reconstruct_n(0, exact.sentence_vectors.ntotal)
    assert len(vectors) < search_module.CANDIDATES  # every sentence is a candidate once all lists are probed
    ivf = faiss.index_factory(vectors.shape[1], "IVF4,Flat", faiss.METRIC_INNER_PRODUCT)
    ivf.train(vectors)
    ivf.add(vectors)
    ivf.nprobe = 1  # what the index file says
    probed = Searcher(replace(exact.index, sentence_vectors=ivf), exact.embedder)
    question = exact.passages[-1].search_text[:200]
    want = search_module.sentence_scores(exact, question)
    assert np.allclose(search_module.sentence_scores(probed, question), want, atol=1e-5)
    q = probed.query_vector(question)  # the saved nprobe alone returns only the sentences of one list
    assert len(search_module.candidate_scores(ivf, q, len(vectors))[0]) < len(vectors)
    assert len(search_module.candidate_scores(ivf, q, len(vectors), nprobe=4)[0]) == len(vectors)


def test_approximate_passages_score_the_bm25_candidates_and_leave_the_rest_unscored(fake_index, monkeypatch):
    """From an approximate passage index: the dense candidates and the passages `also` get their cosines,
    every other passage -1 (BM25 and hints alone cannot lift it above a scored passage)."""
    from index import build
    from qa import search as search_module

    vectors = fake_index.vectors.reconstruct_n(0, fake_index.vectors.ntotal)
    ivf = build.choose_faiss_index(np.repeat(vectors, 40, axis=0)[:len(vectors) * 40], approximate=True)
    ivf.reset()
    ivf.add(vectors)  # trained on enough rows, holding the index's own passages
    approx = Searcher(replace(fake_index.index, vectors=ivf), fake_index.embedder)
    monkeypatch.setattr(search_module, "CANDIDATES", 1)
    question = fake_index.passages[0].search_text[:200]
    q = approx.query_vector(question)
    exact = vectors @ q
    alone = search_module.dense_scores(approx, question)
    assert (alone > -1).sum() == 1 and np.isclose(alone.max(), exact.max(), atol=0.02)
    also = np.array([int(np.argmin(exact))])
    both = search_module.dense_scores(approx, question, also=also)
    assert np.isclose(both[also[0]], exact[also[0]], atol=0.02) and (both > -1).sum() == 2


def test_bm25_posting_sums_are_bm25s_scores_and_a_float16_matrix_sums_the_same(fake_index):
    from index.lexical import posting_sums

    lexical = fake_index.lexical
    terms = lexical.query_terms("vergoeding leerlingenvervoer secundaire migratie")
    ids = [lexical.bm25.vocab_dict[t] for t in terms if t in lexical.bm25.vocab_dict]
    want = lexical.bm25.get_scores(terms).astype(np.float32)
    assert want.max() > 0 and np.array_equal(lexical.scores("vergoeding leerlingenvervoer secundaire migratie"), want)
    half = {**lexical.bm25.scores, "data": lexical.bm25.scores["data"].astype(np.float16)}
    assert np.allclose(posting_sums(half, ids), want, rtol=2e-3)


def test_sender_hints_boost_the_named_letters_by_number(fake_index):
    from qa import hints

    facts = fake_index.facts
    assert facts.letter_of.dtype == np.int32 and facts.year.dtype == np.int16
    letter = next(letter for letter in fake_index.letters.values() if "(" in letter.sender)
    surname = max(re.findall(r"[A-Za-zÀ-ÿ]{4,}", letter.sender.split("(")[1]), key=len)
    boost = hints.metadata_boost(fake_index, f"wat schreef {surname} hierover?")
    mine = np.array([p.letter_id == letter.id for p in fake_index.passages])
    assert (boost[mine] >= hints.SENDER_BOOST).all() and (boost[~mine] < hints.SENDER_BOOST).all()


def test_a_passage_found_by_its_sentence_gets_its_own_cosine_from_an_approximate_index(fake_index, monkeypatch):
    """IVF passages and IVF sentences (what build_index makes at scale): the passage of a candidate sentence is
    scored as exact search scores it, even when the passage index did not return it."""
    import faiss

    from index import build
    from qa import search as search_module

    vectors = fake_index.vectors.reconstruct_n(0, fake_index.vectors.ntotal)
    passages = build.choose_faiss_index(np.repeat(vectors, 40, axis=0), approximate=True)
    passages.reset()
    passages.add(vectors)
    sentence_vectors = fake_index.sentence_vectors.reconstruct_n(0, fake_index.sentence_vectors.ntotal)
    sentences = faiss.index_factory(sentence_vectors.shape[1], "IVF2,Flat", faiss.METRIC_INNER_PRODUCT)
    sentences.train(sentence_vectors)
    sentences.add(sentence_vectors)
    approx = Searcher(replace(fake_index.index, vectors=passages, sentence_vectors=sentences), fake_index.embedder)
    monkeypatch.setattr(search_module, "CANDIDATES", 1)  # one passage, one sentence
    question = "De Kamer wordt geïnformeerd"  # its nearest sentence is not in its nearest passage
    q = approx.query_vector(question)
    owner = int(fake_index.sentence_owner[int(np.argmax(sentence_vectors @ q)), 0])
    assert owner != int(np.argmax(vectors @ q))
    want = search_module.sentence_scores(fake_index, question)[owner]  # exact search
    assert np.isclose(search_module.sentence_scores(approx, question)[owner], want, atol=0.01)  # SQ8 codes
