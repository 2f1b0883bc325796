"""Embedded shards of a build: a fixed run of letters each, written one folder at a time, so a build that
is interrupted resumes with only the missing shards.

    INDEX/.shards-<corpus fingerprint>/plan.json          model, settings, letters a shard, letter order
    INDEX/.shards-<corpus fingerprint>/shard-00012/       passages.jsonl (store.passage_row), model.json,
        passage_vectors.npy, sentence_vectors.npy, sentence_owner.npy (passage number in the shard, sentence)

A shard folder is written under a temporary name and renamed when whole: one that exists is complete.
Shards are the same work a single-process build does (chunk_letter, passage_document, sentence_texts),
cut by letters, so their passages concatenated in shard order are the single-process build's passages.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from corpus.chunk import chunk_letter
from corpus.models import Letter, Passage
from index.build import BuildSettings, corpus_fingerprint, passage_document, sentence_texts
from index.store import IndexError_, passage_row, read_passages, write_jsonl

PLAN = "plan.json"


@dataclass(frozen=True)
class ShardWork:
    """One shard chunked and ready to embed: its passages and the texts the encoder sees."""

    number: int
    passages: list[Passage]
    documents: list[str]  # one per passage (passage_document)
    sentences: list[str]  # the passages' sentences long enough to embed (sentence_texts)
    owner: np.ndarray  # (passage number in the shard, sentence number) of each sentence


@dataclass(frozen=True)
class Shard:
    """One shard as written: passages with their vectors, and the model that made them."""

    passages: list[Passage]
    passage_vectors: np.ndarray
    sentence_vectors: np.ndarray
    owner: np.ndarray
    model: dict  # build.model_fields of the encoder


def shard_folder(index_path: Path, letters: list[Letter]) -> Path:
    return Path(index_path) / f".shards-{corpus_fingerprint(letters)}"


def plan_shards(letters: list[Letter], letters_per_shard: int) -> list[list[Letter]]:
    """The letters cut into runs of `letters_per_shard`, in the order given (the order of the index)."""
    if letters_per_shard < 1:
        raise ValueError(f"letters_per_shard must be at least 1, not {letters_per_shard}")
    return [letters[i:i + letters_per_shard] for i in range(0, len(letters), letters_per_shard)]


def prepare_folder(folder: Path, letters: list[Letter], model: str, settings: BuildSettings,
                   letters_per_shard: int) -> set[int]:
    """Make `folder` hold shards of this plan (emptying it when it holds another one); the numbers of the
    shards already written."""
    order = hashlib.sha256("\n".join(letter.id for letter in letters).encode()).hexdigest()[:16]
    plan = {"model": model, "settings": settings.as_dict(), "letters_per_shard": letters_per_shard,
            "letter_order": order}
    file = folder / PLAN
    if folder.exists() and (not file.exists() or json.loads(file.read_text()) != plan):
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(plan, indent=2))
    for stale in folder.glob(".tmp-*"):  # a shard being written when the last build stopped
        shutil.rmtree(stale, ignore_errors=True)
    return {int(p.name.removeprefix("shard-")) for p in folder.glob("shard-*")}


def chunk_shard(number: int, letters: list[Letter], settings: BuildSettings) -> ShardWork:
    """The single-process build's chunking and texts for these letters."""
    pairs = [(p, letter) for letter in letters for p in chunk_letter(letter, settings.chunking)]
    sentences = [(i, j, t) for i, (p, _) in enumerate(pairs) if settings.sentences
                 for j, t in sentence_texts(p, settings.min_sentence_words)]
    owner = np.array([(i, j) for i, j, _ in sentences], dtype=np.int32).reshape(-1, 2)
    documents = [passage_document(p, letter, settings.header) for p, letter in pairs]
    return ShardWork(number, [p for p, _ in pairs], documents, [t for _, _, t in sentences], owner)


def write_shard(folder: Path, work: ShardWork, passage_vectors: np.ndarray, sentence_vectors: np.ndarray,
                model: dict) -> None:
    """Write shard `work.number` whole under a temporary name, then rename it into place."""
    tmp = folder / f".tmp-{work.number:05d}-{uuid.uuid4().hex[:6]}"
    tmp.mkdir()
    write_jsonl(tmp / "passages.jsonl", (passage_row(p) for p in work.passages))
    np.save(tmp / "passage_vectors.npy", passage_vectors.astype(np.float32))
    np.save(tmp / "sentence_vectors.npy", sentence_vectors.astype(np.float32))
    np.save(tmp / "sentence_owner.npy", work.owner)
    (tmp / "model.json").write_text(json.dumps(model))
    os.replace(tmp, folder / f"shard-{work.number:05d}")


def read_shard(folder: Path, number: int, letters: dict[str, Letter]) -> Shard:
    path = folder / f"shard-{number:05d}"
    try:
        return Shard(read_passages(path, letters), np.load(path / "passage_vectors.npy"),
                     np.load(path / "sentence_vectors.npy"), np.load(path / "sentence_owner.npy"),
                     json.loads((path / "model.json").read_text()))
    except (OSError, ValueError, KeyError) as e:
        raise IndexError_(f"shard {path} cannot be read ({type(e).__name__}: {str(e)[:120]}); delete it and "
                          f"run the build again (only that shard is embedded again)") from None


def join_shards(folder: Path, count: int, letters: list[Letter]) -> Shard:
    """Shards 0..count-1 as one: passages in shard order, sentence owners renumbered to the whole."""
    by_id = {letter.id: letter for letter in letters}
    shards = [read_shard(folder, k, by_id) for k in range(count)]
    models = {json.dumps(s.model, sort_keys=True) for s in shards}
    if len(models) > 1:
        raise IndexError_(f"the shards in {folder} were embedded by different models ({', '.join(sorted(models))}); "
                          f"delete the folder and build again")
    offsets = np.cumsum([0] + [len(s.passages) for s in shards[:-1]])
    owner = np.concatenate([s.owner + [offset, 0] for s, offset in zip(shards, offsets)]).astype(np.int32)
    return Shard([p for s in shards for p in s.passages], np.concatenate([s.passage_vectors for s in shards]),
                 np.concatenate([s.sentence_vectors for s in shards]), owner.reshape(-1, 2), shards[0].model)


def letters_to_json(letters: list[Letter]) -> str:
    return json.dumps([asdict(letter) for letter in letters], ensure_ascii=False)


def letters_from_json(text: str) -> list[Letter]:
    return [Letter(**row) for row in json.loads(text)]
