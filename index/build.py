"""Build an index from letters (embed passages and sentences, BM25) and load it back."""
from __future__ import annotations

import hashlib
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from corpus.chunk import ChunkSettings, chunk_letter
from corpus.models import Letter, Passage
from index.documents import corpus_sentences, passage_document
from index.embed import Embedder, cache_dir, load_embedder
from index.incremental import chunker_fingerprint, previous_ivf, previous_passages
from index.layout import SCALE_FROM, write_sentence_file
from index.lexical import Lexical
from index.store import IndexError_, save_index


@dataclass(frozen=True)
class BuildSettings:
    chunking: ChunkSettings = ChunkSettings()
    header: bool = True  # embed "title (year)" before the passage text
    sentences: bool = True  # embed sentences too, for sentence-level scoring
    min_sentence_words: int = 4

    def as_dict(self) -> dict:
        return {**self.chunking.as_dict(), "header": self.header, "sentences": self.sentences,
                "min_sentence_words": self.min_sentence_words}


@dataclass
class BuildReport:
    letters: int = 0
    passages: int = 0
    sentences: int = 0
    embedded: int = 0  # texts actually run through the model (the rest came from the cache)
    seconds: float = 0.0
    skipped: list = field(default_factory=list)


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def corpus_fingerprint(letters: list[Letter]) -> str:
    h = hashlib.sha256()
    for letter in sorted(letters, key=lambda x: x.id):
        h.update(letter.id.encode() + b"\0" + text_hash(letter.text).encode() + b"\n")
    return h.hexdigest()[:16]


class EmbeddingCache:
    """Vectors by (model fingerprint, text hash) in a SQLite file, so unchanged text is never re-embedded."""

    def __init__(self, path: Path | None, fingerprint: str):
        self.fingerprint = fingerprint
        self.db = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(path), timeout=30)
            self.db.execute("CREATE TABLE IF NOT EXISTS v (model TEXT, hash TEXT, vec BLOB, PRIMARY KEY (model, hash))")

    def get(self, hashes: list[str]) -> dict[str, np.ndarray]:
        if self.db is None:
            return {}
        found = {}
        for i in range(0, len(hashes), 500):
            part = hashes[i:i + 500]
            rows = self.db.execute(
                f"SELECT hash, vec FROM v WHERE model=? AND hash IN ({','.join('?' * len(part))})",
                [self.fingerprint, *part])
            found.update((h, np.frombuffer(b, dtype=np.float32)) for h, b in rows)
        return found

    def put(self, items: dict[str, np.ndarray]) -> None:
        if self.db is not None and items:
            self.db.executemany("INSERT OR REPLACE INTO v VALUES (?, ?, ?)",
                                [(self.fingerprint, h, v.astype(np.float32).tobytes()) for h, v in items.items()])
            self.db.commit()


EMBED_BATCH = 256  # texts a call of the encoder gets (it sorts and batches them further: index/fast.py)


def embed_with_cache(texts: list[str], embedder: Embedder, cache: EmbeddingCache, batch: int = EMBED_BATCH,
                     progress: str | None = None, out: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Vectors for `texts`; only texts missing from the cache go through the model. Returns (vectors, n
    embedded). The vectors go row by row into `out` (e.g. an np.memmap on disk; else a new array), so
    besides it only one batch of texts' vectors is in memory."""
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32) if out is None else out
    rows_of: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        rows_of.setdefault(text_hash(text), []).append(i)
    unique, todo = list(rows_of), []
    for i in range(0, len(unique), CACHE_READ):
        found = cache.get(unique[i:i + CACHE_READ])
        for h in unique[i:i + CACHE_READ]:
            if h in found:
                out[rows_of[h]] = found[h]
            else:
                todo.append(h)
    todo.sort(key=lambda h: len(texts[rows_of[h][0]]))  # length-sorted batches: little padding
    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc=progress, unit="text")
    for i in range(0, len(todo), batch):
        part = todo[i:i + batch]
        vectors = embedder.encode_passages([texts[rows_of[h][0]] for h in part])
        cache.put(dict(zip(part, vectors)))  # committed: a killed build resumes after this batch
        for h, v in zip(part, vectors):
            out[rows_of[h]] = v
        if bar:
            bar.update(len(part))
    if bar:
        bar.close()
    return out, len(todo)


CACHE_READ = 5000  # vectors read from the embedding cache at a time (~8 MB)
ADD_CHUNK = 100_000  # vectors added to a faiss index at a time (~150 MB of float32)


def ivf_lists(n: int) -> int:
    """The number of IVF lists for `n` vectors."""
    return int(min(max(4 * np.sqrt(n), 16), 8192, n // 40 or 1))


def choose_faiss_index(vectors: np.ndarray, approximate: bool | None = None, trained=None):
    """Exact inner-product search below `ANN_THRESHOLD` vectors; above it IVF with 8-bit scalar codes
    (~400 bytes a vector, recall@10 >= 0.95 at 1M; measured against HNSW and IVF-PQ in docs/PERFORMANCE.md),
    trained on a sample unless `trained` (an empty trained IVF index with `ivf_lists(n)` lists) is given."""
    import faiss

    n, dim = vectors.shape
    if not (n >= ANN_THRESHOLD if approximate is None else approximate):
        index = faiss.IndexFlatIP(dim)
    elif trained is not None and trained.d == dim:
        index = trained
    else:
        nlist = ivf_lists(n)
        index = faiss.index_factory(dim, f"IVF{nlist},SQ8", faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(0).choice(n, min(n, 40 * nlist), replace=False)
        index.train(vectors[np.sort(sample)])
        faiss.extract_index_ivf(index).nprobe = ANN_NPROBE
    for start in range(0, n, ADD_CHUNK):  # from a memmap, only this chunk is read into memory
        index.add(np.ascontiguousarray(vectors[start:start + ADD_CHUNK], dtype=np.float32))
    return index


def faiss_kind(index) -> str:
    """What the manifest records: "flat", or e.g. "ivf4000-sq8-nprobe128"."""
    import faiss

    if type(index).__name__.startswith("IndexFlat"):
        return "flat"
    ivf = faiss.extract_index_ivf(index)
    return f"ivf{ivf.nlist}-sq8-nprobe{ivf.nprobe}"


ANN_NPROBE = 128
ANN_THRESHOLD = SCALE_FROM  # passage vectors: IVF-SQ8 from here (sentence vectors: a float16 file, index.layout)


BM25_DTYPE = "float16"  # BM25's per-term passage scores as saved: 425 instead of 566 bytes a passage at 1M, as fast
# (index.lexical.posting_sums), one top-10 hit in 2,450 moved (bench/scale_million.py; docs/PERFORMANCE.md)
SCRATCH = ".scratch-"  # vectors of a build in progress, inside the index folder; removed when it ends


def _scratch_folder(path: Path) -> tempfile.TemporaryDirectory:
    """A new scratch folder in `path`, after removing those a killed build left."""
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob(SCRATCH + "*"):
        shutil.rmtree(stale, ignore_errors=True)
    return tempfile.TemporaryDirectory(prefix=SCRATCH, dir=path)


def _disk_array(folder: str, name: str, rows: int, dim: int) -> np.ndarray:
    """A float32 (rows, dim) array backed by a file in `folder`: the OS pages it out as it fills."""
    if rows == 0:
        return np.zeros((0, dim), dtype=np.float32)
    return np.lib.format.open_memmap(str(Path(folder) / f"{name}.npy"), mode="w+", dtype=np.float32, shape=(rows, dim))


def _bar(items, desc: str, unit: str, show: bool):
    """`items`, with a progress bar (count, rate, time left) when `show`."""
    if not show:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit=unit)


def build_index(letters: list[Letter], path: Path, embedder: Embedder | None = None,
                settings: BuildSettings = BuildSettings(), progress: bool = False,
                cache_path: Path | None | str = "default", scale_from: int | None = None) -> BuildReport:
    """Chunk, embed and index `letters` into the folder `path` (replacing what is there, atomically); vector
    sets of `scale_from` (default ANN_THRESHOLD) or more are stored in the layout at scale (index.layout)."""
    started = time.perf_counter()
    embedder = embedder or load_embedder()
    if cache_path == "default":
        cache_path = None if embedder.name == "fake" else cache_dir() / "embeddings.sqlite"
    cache = EmbeddingCache(cache_path, embedder.fingerprint)
    report = BuildReport(letters=len(letters))
    by_id = {letter.id: letter for letter in letters}
    reused = previous_passages(Path(path), letters, settings.chunking)  # unchanged letters: not chunked again
    passages = [p for letter in _bar(letters, "chunking", "letter", progress)
                for p in (reused[letter.id] if letter.id in reused else chunk_letter(letter, settings.chunking))]
    del reused
    if not passages:
        raise IndexError_("the letters gave no passages (are they empty?); nothing was written")
    scratch = _scratch_folder(Path(path))  # vectors go to disk batch by batch, not into memory
    documents = [passage_document(p, by_id[p.letter_id], settings.header) for p in passages]
    vectors, embedded = embed_with_cache(documents, embedder, cache, progress="passages" if progress else None,
                                         out=_disk_array(scratch.name, "passages", len(documents), embedder.dim))
    del documents
    sentence_vectors, owner = None, np.zeros((0, 2), dtype=np.int32)
    if settings.sentences:
        sentences, owner = corpus_sentences(passages, settings.min_sentence_words)
        sentence_vectors, n = embed_with_cache(sentences, embedder, cache, progress="sentences" if progress else None,
                                               out=_disk_array(scratch.name, "sentences", len(sentences), embedder.dim))
        embedded += n
        del sentences
    embedder.release()  # the model's memory is not needed for BM25 and faiss
    assemble_index(path, letters, passages, vectors, sentence_vectors, owner, model_fields(embedder), settings, progress,
                   scale_from)
    del vectors, sentence_vectors
    scratch.cleanup()
    report.passages, report.sentences, report.embedded = len(passages), len(owner), embedded
    report.seconds = time.perf_counter() - started
    return report


def model_fields(embedder: Embedder) -> dict:
    """The manifest's fields that name the model an index was built with."""
    return {"model": embedder.name, "model_fingerprint": embedder.fingerprint, "dimension": embedder.dim,
            "precision": embedder.precision}


def assemble_index(path: Path, letters: list[Letter], passages: list[Passage], vectors: np.ndarray,
                   sentence_vectors: np.ndarray | None, owner: np.ndarray, model: dict,
                   settings: BuildSettings, progress: bool = False, scale_from: int | None = None) -> None:
    """Write embedded `passages` (and their sentences, `owner` row = (passage, sentence number)) as the
    index folder `path`: FAISS, BM25 and the manifest, replacing what is there atomically. From `scale_from`
    vectors, passage vectors go to IVF-SQ8 and sentence vectors to a float16 file (index.layout)."""
    import faiss

    by_id = {letter.id: letter for letter in letters}
    lexical = Lexical.build([f"{by_id[p.letter_id].title} {p.search_text}" for p in _bar(passages, "bm25", "passage", progress)])

    scale_from = ANN_THRESHOLD if scale_from is None else scale_from
    approximate = len(vectors) >= scale_from
    trained = previous_ivf(path, "passages.faiss", model["model_fingerprint"], ivf_lists(len(vectors))) \
        if approximate else None  # the old index's IVF lists, when a rebuild keeps their number
    passage_index = choose_faiss_index(vectors, approximate, trained)
    sentences_on_disk = sentence_vectors is not None and len(sentence_vectors) >= scale_from

    def write_arrays(folder: Path) -> None:
        faiss.write_index(passage_index, str(folder / "passages.faiss"))
        if sentences_on_disk:
            write_sentence_file(folder, sentence_vectors)
        elif sentence_vectors is not None:
            faiss.write_index(choose_faiss_index(sentence_vectors, approximate=False), str(folder / "sentences.faiss"))
        if sentence_vectors is not None:
            np.save(folder / "sentence_owner.npy", owner)
        (folder / "lexical").mkdir()
        lexical.save(folder / "lexical", BM25_DTYPE)

    manifest = {**model, "settings": settings.as_dict(), "corpus_fingerprint": corpus_fingerprint(letters),
                "faiss": faiss_kind(passage_index), "chunker": chunker_fingerprint(), "scale_from": scale_from,
                "sentence_vectors": "float16-file" if sentences_on_disk else "flat" if sentence_vectors is not None else "none"}
    save_index(path, manifest, letters, passages, write_arrays)
