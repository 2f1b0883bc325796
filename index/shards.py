"""The embedding work of a build cut into shards, each written as it is done, so a build that is
interrupted resumes with only the missing shards.

    INDEX/.shards-<corpus fingerprint>/plan.json        model, settings, fingerprint of the shards' texts
    INDEX/.shards-<corpus fingerprint>/shard-00012.npz  the vectors of shard 12's texts, and the model's fields

The driver chunks the letters as the single-process build does (chunk_letter, passage_document,
sentence_texts); a shard is one call of the encoder that build_index would make (each text once, sorted by
length, 256 a call), so the encoder forms the same batches and gives the same vectors, whichever process
runs it. A shard file is written under a temporary name and renamed when whole: one that exists is complete.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpus.chunk import chunk_letter
from corpus.models import Letter, Passage
from index.build import EMBED_BATCH, BuildSettings, corpus_fingerprint, text_hash
from index.documents import corpus_sentences, passage_document
from index.store import IndexError_

PLAN = "plan.json"


@dataclass(frozen=True)
class Chunked:
    """The letters chunked: passages and the texts the encoder sees, in the single-process build's order."""

    passages: list[Passage]
    documents: list[str]  # one per passage (passage_document)
    sentences: list[str]  # the passages' sentences long enough to embed (corpus_sentences)
    owner: np.ndarray  # (passage number, sentence number) of each sentence
    shards: list[list[str]]  # the texts of each shard: the calls of the encoder build_index makes
    document_shards: int  # the first shards are documents, the rest sentences


def shard_folder(index_path: Path, letters: list[Letter]) -> Path:
    return Path(index_path) / f".shards-{corpus_fingerprint(letters)}"


def encoder_calls(texts: list[str], size: int) -> list[list[str]]:
    """What build.embed_with_cache (without a cache) hands the encoder: each text once, sorted by length,
    `size` at a time. The same calls give the same batches inside the encoder, so the same vectors."""
    todo = sorted(dict.fromkeys(texts), key=len)
    return [todo[i:i + size] for i in range(0, len(todo), size)]


def chunk_letters(letters: list[Letter], settings: BuildSettings, texts_per_shard: int = EMBED_BATCH) -> Chunked:
    """The single-process build's chunking and texts, cut into shards as it cuts them into encoder calls."""
    if texts_per_shard < 1:
        raise ValueError(f"texts_per_shard must be at least 1, not {texts_per_shard}")
    pairs = [(p, letter) for letter in letters for p in chunk_letter(letter, settings.chunking)]
    documents = [passage_document(p, letter, settings.header) for p, letter in pairs]
    sentences, owner = corpus_sentences([p for p, _ in pairs] if settings.sentences else [],
                                        settings.min_sentence_words)
    calls = encoder_calls(documents, texts_per_shard)
    return Chunked([p for p, _ in pairs], documents, sentences, owner,
                   calls + encoder_calls(sentences, texts_per_shard), len(calls))


def prepare_folder(folder: Path, chunked: Chunked, model: str, settings: BuildSettings) -> set[int]:
    """Make `folder` hold shards of this plan (emptying it when it holds another one); the numbers of the
    shards already written."""
    texts = hashlib.sha256("\n".join(text_hash(t) for shard in chunked.shards for t in shard + ["|"]).encode())
    plan = {"model": model, "settings": settings.as_dict(), "texts": texts.hexdigest()[:16]}
    file = folder / PLAN
    if folder.exists() and (not file.exists() or json.loads(file.read_text()) != plan):
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(plan, indent=2))
    for stale in folder.glob(".tmp-*"):  # a shard being written when the last build stopped
        stale.unlink(missing_ok=True)
    return {int(p.stem.removeprefix("shard-")) for p in folder.glob("shard-*.npz")}


def write_shard(folder: Path, number: int, vectors: np.ndarray, model: dict) -> None:
    """Write shard `number` whole under a temporary name, then rename it into place."""
    tmp = folder / f".tmp-{number:05d}-{uuid.uuid4().hex[:6]}.npz"
    with open(tmp, "wb") as f:
        np.savez(f, vectors=vectors.astype(np.float32), model=np.array(json.dumps(model)))
    os.replace(tmp, folder / f"shard-{number:05d}.npz")


def read_shard(folder: Path, number: int, texts: int) -> tuple[np.ndarray, dict]:
    """Shard `number`'s vectors (`texts` rows) and the model's fields."""
    path = folder / f"shard-{number:05d}.npz"
    try:
        with np.load(path) as data:
            vectors, model = data["vectors"], json.loads(str(data["model"]))
        if len(vectors) != texts:
            raise ValueError(f"{len(vectors)} vectors for {texts} texts")
        return vectors, model
    except (OSError, ValueError, KeyError) as e:
        raise IndexError_(f"shard {path} cannot be read ({type(e).__name__}: {str(e)[:120]}); delete it and "
                          f"run the build again (only that shard is embedded again)") from None


def join_shards(folder: Path, chunked: Chunked) -> tuple[np.ndarray, np.ndarray, dict]:
    """The vectors of all documents and of all sentences, from the shards' vectors; the model's fields."""
    read = [read_shard(folder, k, len(texts)) for k, texts in enumerate(chunked.shards)]
    models = {json.dumps(model, sort_keys=True) for _, model in read}
    if len(models) > 1:
        raise IndexError_(f"the shards in {folder} were embedded by different models ({', '.join(sorted(models))}); "
                          f"delete the folder and build again")
    dim = read[0][0].shape[1]

    def vectors_of(texts: list[str], shards: range) -> np.ndarray:
        row = {t: (k, i) for k in shards for i, t in enumerate(chunked.shards[k])}
        out = np.zeros((len(texts), dim), dtype=np.float32)
        for r, text in enumerate(texts):
            k, i = row[text]
            out[r] = read[k][0][i]
        return out

    split = chunked.document_shards
    return (vectors_of(chunked.documents, range(split)),
            vectors_of(chunked.sentences, range(split, len(chunked.shards))), json.loads(models.pop()))
