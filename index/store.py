"""An index is one folder a person can inspect:

    INDEX/manifest.json        format version, model and fingerprint, dimension, chunking settings,
                               corpus fingerprint, creation time, the files of the current generation
    INDEX/gen-<id>/letters.jsonl, letter_offsets.npy, letter_ids.json, passages.jsonl, passage_offsets.npy,
                   passage_places.npy, passages.faiss,
                   sentences.faiss (or, from index.layout.SCALE_FROM vectors, sentences.f16.npy),
                   sentence_owner.npy, lexical/ (bm25s)

Saving writes a new generation folder completely, then replaces manifest.json atomically, then removes
older generations: a crash at any moment leaves either the old or the new index whole and loadable.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpus.models import Letter, Passage
from index.embed import INT8_SUFFIX, Embedder
from index.layout import (LETTER_IDS, LETTER_META, LETTER_OFFSETS, OFFSETS, PLACES, SCALE_FROM, SENTENCES_F16, DiskVectors,
                          check_letter_table, check_table, passage_from_row, scan_lines, scan_passages, write_letters,
                          write_passages)
from index.lazy import LazyLetters, LazyPassages
from index.lexical import Lexical

FORMAT_VERSION = 4
MANIFEST = "manifest.json"


class IndexError_(RuntimeError):
    """An index that is missing, damaged or made for another model; the message says what to run."""


def default_index_dir() -> Path:
    if os.environ.get("KAMERQA_INDEX"):
        return Path(os.environ["KAMERQA_INDEX"])
    from platformdirs import user_data_dir

    return Path(user_data_dir("kamerqa")) / "index"


@dataclass(frozen=True)
class Index:
    """An index folder as loaded: what a search reads, never changed after loading."""

    path: Path
    manifest: dict
    letters: dict[str, Letter]  # or, at scale, index.lazy.LazyLetters (read from disk by id)
    passages: list[Passage]  # or, at scale, index.lazy.LazyPassages (read from disk by number)
    vectors: object  # faiss index over passage vectors
    sentence_vectors: object | None = None  # faiss index over sentence vectors, or index.layout.DiskVectors
    sentence_owner: np.ndarray | None = None  # (passage number, sentence number) of each sentence vector
    lexical: Lexical | None = None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_index(path: Path, manifest: dict, letters: list[Letter], passages: list[Passage],
               write_arrays) -> Path:
    """Write a new generation with `write_arrays(folder)` adding the vector and lexical files, then
    switch the manifest to it. Returns the generation folder."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    generation = f"gen-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    folder = path / generation
    folder.mkdir()
    write_letters(folder, letters)
    write_passages(folder, passages, [letter.id for letter in letters])
    write_arrays(folder)
    files = {}
    for file in sorted(folder.rglob("*")):
        if file.is_file():
            rel = str(file.relative_to(folder))
            files[rel] = {"bytes": file.stat().st_size,
                          "sha256": _sha256(file) if file.stat().st_size < 256 * 2**20 else None}
    _fsync_tree(folder)
    manifest = {**manifest, "format_version": FORMAT_VERSION, "generation": generation, "files": files,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "letters": len(letters), "passages": len(passages)}
    tmp = path / f".{MANIFEST}.{uuid.uuid4().hex[:6]}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path / MANIFEST)
    _fsync_tree_dir(path)
    for old in path.glob("gen-*"):
        if old.name != generation:
            shutil.rmtree(old, ignore_errors=True)
    for stale in path.glob(f".{MANIFEST}.*.tmp"):
        stale.unlink(missing_ok=True)
    return folder


def _fsync_tree_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_manifest(path: Path) -> dict:
    path = Path(path)
    file = path / MANIFEST
    if not file.exists():
        raise IndexError_(f"no index at {path}; build one with: kamerqa index --index {path}")
    try:
        manifest = json.loads(file.read_text())
    except ValueError:
        raise IndexError_(f"the index manifest {file} is damaged; rebuild with: kamerqa index --index {path}") from None
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexError_(f"the index at {path} has format {manifest.get('format_version')}, this kamerqa reads "
                          f"{FORMAT_VERSION}; rebuild it with: kamerqa index --index {path}")
    return manifest


def verify_files(path: Path, manifest: dict, deep: bool = True) -> Path:
    """The generation folder, after checking every file is there with its size (and hash when `deep`)."""
    folder = Path(path) / manifest["generation"]
    fix = f"rebuild it with: kamerqa index --index {path}"
    for rel, info in manifest["files"].items():
        file = folder / rel
        if not file.exists():
            raise IndexError_(f"index file {file} is missing; {fix}")
        if file.stat().st_size != info["bytes"]:
            raise IndexError_(f"index file {file} is truncated or changed ({file.stat().st_size} bytes, "
                              f"expected {info['bytes']}); {fix}")
        if deep and info.get("sha256") and _sha256(file) != info["sha256"]:
            raise IndexError_(f"index file {file} is corrupted (checksum differs); {fix}")
    return folder


def read_letters(folder: Path) -> dict[str, Letter]:
    with open(folder / "letters.jsonl", encoding="utf-8") as f:
        return {letter.id: letter for letter in (Letter(**json.loads(line)) for line in f)}


def read_passages(folder: Path, letters: dict[str, Letter]) -> list[Passage]:
    with open(folder / "passages.jsonl", encoding="utf-8") as f:
        return [passage_from_row(json.loads(line), letters) for line in f]


def lazy_letters(folder: Path, fix: str) -> LazyLetters:
    """The letters read from disk by id; an index saved without their offsets is scanned once for them."""
    if (folder / LETTER_OFFSETS).exists():
        offsets, ids = np.load(folder / LETTER_OFFSETS), json.loads((folder / LETTER_IDS).read_text(encoding="utf-8"))
    else:
        offsets, ids = scan_lines(folder / "letters.jsonl", lambda row: row["id"])
    check_letter_table(folder, offsets, ids, fix)
    meta = folder / LETTER_META
    return LazyLetters(folder / "letters.jsonl", offsets, ids, meta if meta.exists() else None)


def lazy_passages(folder: Path, letters: dict[str, Letter], fix: str) -> LazyPassages:
    """The passages read from disk by number; an index saved without offsets is scanned once for them."""
    if (folder / OFFSETS).exists():
        offsets, places = np.load(folder / OFFSETS), np.load(folder / PLACES)
    else:
        offsets, places = scan_passages(folder / "passages.jsonl", list(letters))
    check_table(folder, offsets, places, fix)
    return LazyPassages(folder / "passages.jsonl", offsets, places, letters)


def is_scale(manifest: dict) -> bool:
    """True for an index built in the layout at scale: passages read from disk by number at load."""
    return manifest.get("passages", 0) >= manifest.get("scale_from", SCALE_FROM)


def load_index(path: Path, embedder: Embedder | None = None, deep_check: bool = True,
               manifest: dict | None = None) -> Index:
    """Load the index at `path` (whose manifest, when given, was just read); with `embedder`, check it is
    the model the index was built with."""
    import faiss

    path = Path(path)
    manifest = manifest or read_manifest(path)
    if embedder is not None:
        check_model(manifest, embedder, path)
    folder = verify_files(path, manifest, deep=deep_check)
    fix = f"rebuild it with: kamerqa index --index {path}"
    try:
        scale = is_scale(manifest)
        letters = lazy_letters(folder, fix) if scale else read_letters(folder)
        passages = lazy_passages(folder, letters, fix) if scale else read_passages(folder, letters)
        vectors = faiss.read_index(str(folder / "passages.faiss"))
        sentence_vectors = sentence_owner = None
        if (folder / "sentences.faiss").exists():
            sentence_vectors = faiss.read_index(str(folder / "sentences.faiss"))
        elif (folder / SENTENCES_F16).exists():
            sentence_vectors = DiskVectors(folder / SENTENCES_F16, vectors.d, fix)
        if sentence_vectors is not None:
            on_disk = isinstance(sentence_vectors, DiskVectors)  # then the owners too: search reads its candidates'
            sentence_owner = np.load(folder / "sentence_owner.npy", mmap_mode="r" if on_disk else None)
        index = Index(path, manifest, letters, passages, vectors, sentence_vectors, sentence_owner,
                      Lexical.load(folder / "lexical"))
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        if fix in str(e):  # index.layout's checks name the file and the fix
            raise IndexError_(str(e)) from None
        raise IndexError_(f"the index at {path} cannot be read ({type(e).__name__}: {str(e)[:120]}); {fix}") from None
    if vectors.ntotal != len(passages):
        raise IndexError_(f"the index at {path} has {vectors.ntotal} vectors for {len(passages)} passages; {fix}")
    if sentence_vectors is not None and sentence_vectors.ntotal != len(sentence_owner):
        raise IndexError_(f"the index at {path} has {sentence_vectors.ntotal} sentence vectors for "
                          f"{len(sentence_owner)} sentence owners; {fix}")
    return index


def check_model(manifest: dict, embedder: Embedder, path: Path) -> None:
    """Raise IndexError_ unless `embedder` is the model (and precision) the index was built with."""
    built = manifest.get("precision") or ("int8" if manifest["model_fingerprint"].endswith(INT8_SUFFIX) else "fp32")
    if manifest["model"] == embedder.name and built != embedder.precision:
        raise IndexError_(
            f"the index at {path} was built with the {'openvino-int8' if built == 'int8' else 'fp32'} encoder of "
            f"{embedder.name!r}; search it with " + ("KAMERQA_BACKEND=openvino-int8" if built == "int8" else
            "KAMERQA_BACKEND=openvino (or torch)") + f", or rebuild: kamerqa index --index {path}")
    if manifest["model_fingerprint"] != embedder.fingerprint or manifest["dimension"] != embedder.dim:
        raise IndexError_(
            f"the index at {path} was built with model {manifest['model']!r}, not {embedder.name!r}; "
            f"use --model {manifest['model']} (or KAMERQA_MODEL), or rebuild: kamerqa index --index {path} "
            f"--model {embedder.name}")
