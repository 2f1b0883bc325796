"""The embedding work of a build cut into shards, each written as it is done, so a build that is
interrupted resumes with only the missing shards.

    INDEX/.shards-<corpus fingerprint>/plan.json        model, settings, letters a shard, fingerprint of the texts
    INDEX/.shards-<corpus fingerprint>/shard-00012.npz  the vectors of shard 12's texts, and the model's fields

The driver chunks the letters as the single-process build does (chunk_letter, passage_document,
sentence_texts) and cuts them into runs of letters; shard k is the texts of run k that no earlier run has,
so, like the single-process build, a text that occurs twice is embedded once. A shard file is written under
a temporary name and renamed when whole: one that exists is complete.
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
from index.build import BuildSettings, corpus_fingerprint, passage_document, sentence_texts, text_hash
from index.store import IndexError_

PLAN = "plan.json"


@dataclass(frozen=True)
class Chunked:
    """The letters chunked: passages and the texts the encoder sees, in the single-process build's order."""

    passages: list[Passage]
    documents: list[str]  # one per passage (passage_document)
    sentences: list[str]  # the passages' sentences long enough to embed (sentence_texts)
    owner: np.ndarray  # (passage number, sentence number) of each sentence
    shards: list[list[str]]  # the texts each shard embeds: those of its run of letters no earlier run has


def shard_folder(index_path: Path, letters: list[Letter]) -> Path:
    return Path(index_path) / f".shards-{corpus_fingerprint(letters)}"


def chunk_letters(letters: list[Letter], settings: BuildSettings, letters_per_shard: int) -> Chunked:
    """The single-process build's chunking and texts, and the shards of runs of `letters_per_shard` letters."""
    if letters_per_shard < 1:
        raise ValueError(f"letters_per_shard must be at least 1, not {letters_per_shard}")
    passages, documents, sentences, owner, shards, seen = [], [], [], [], [], set()
    for start in range(0, len(letters), letters_per_shard):
        fresh = []
        for letter in letters[start:start + letters_per_shard]:
            for p in chunk_letter(letter, settings.chunking):
                documents.append(passage_document(p, letter, settings.header))
                texts = [documents[-1]]
                for j, text in sentence_texts(p, settings.min_sentence_words) if settings.sentences else ():
                    owner.append((len(passages), j))
                    sentences.append(text)
                    texts.append(text)
                passages.append(p)
                fresh += [t for t in texts if t not in seen and not seen.add(t)]
        shards.append(fresh)
    return Chunked(passages, documents, sentences, np.array(owner, dtype=np.int32).reshape(-1, 2), shards)


def prepare_folder(folder: Path, chunked: Chunked, model: str, settings: BuildSettings,
                   letters_per_shard: int) -> set[int]:
    """Make `folder` hold shards of this plan (emptying it when it holds another one); the numbers of the
    shards already written."""
    texts = hashlib.sha256("\n".join(text_hash(t) for shard in chunked.shards for t in shard + ["|"]).encode())
    plan = {"model": model, "settings": settings.as_dict(), "letters_per_shard": letters_per_shard,
            "texts": texts.hexdigest()[:16]}
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
    rows, parts, models = {}, [], set()
    for number, texts in enumerate(chunked.shards):
        vectors, model = read_shard(folder, number, len(texts))
        offset = len(rows)  # texts are unique across shards: one row each
        rows.update({t: offset + i for i, t in enumerate(texts)})
        parts.append(vectors)
        models.add(json.dumps(model, sort_keys=True))
    if len(models) > 1:
        raise IndexError_(f"the shards in {folder} were embedded by different models ({', '.join(sorted(models))}); "
                          f"delete the folder and build again")
    every = np.concatenate(parts)
    take = lambda texts: every[[rows[t] for t in texts]].reshape(len(texts), every.shape[1])  # noqa: E731
    return take(chunked.documents), take(chunked.sentences), json.loads(models.pop())
