"""The index's layout at scale: what keeps an index of a million passages within ~1,000 bytes a passage in
memory (docs/PERFORMANCE.md, "What `kamerqa index` builds at scale": 904 bytes at 1M, bench/scale_layout.py).

  passages.jsonl + passage_offsets.npy   passages read from disk by number (index.lazy.LazyPassages): an
                                         int64 byte offset a passage (and the file's end), plus
                                         passage_places.npy (int32 letter number, start) to find one by its id
  letters.jsonl + letter_offsets.npy     letters read from disk by id (index.lazy.LazyLetters), letter_ids.json
                                         their ids, letter_meta.jsonl their metadata (streamed once for the hints)
  sentences.f16.npy (+ sentence_owner.npy sentence vectors as float16, rows read when asked for (`DiskVectors`):
  memory-mapped)                         search scores only its top passages' sentences from them (qa.search)

An index of fewer than SCALE_FROM vectors keeps today's flat (exact) faiss sentence index and its passages
as Python objects: that is what the default index's quality figures were measured on.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from corpus.models import Letter, Passage

SCALE_FROM = 50_000  # vectors: from here, passage vectors go to IVF-SQ8 (index.build.ANN_THRESHOLD) and sentence
# vectors to a float16 file on disk instead of a faiss index. Below it an exact flat index costs at most ~75 MB
# (1,536 bytes a vector) and keeps the default index's figures; above it IVF-SQ8 sentences would cost ~2.2 KB a
# passage in memory at 5.65 sentences a passage, the float16 file none (bench/scale_layout.py at 1M passages:
# p95 81-108 ms, 95.9 % of exact search's top 10). From as many passages, passages and letters are read from
# disk when asked for (in memory, the letters' text alone was 1.8 KB a passage on the large index).
OFFSETS = "passage_offsets.npy"
PLACES = "passage_places.npy"
LETTER_OFFSETS = "letter_offsets.npy"
LETTER_IDS = "letter_ids.json"
LETTER_META = "letter_meta.jsonl"  # the letters without their text: what the hints and filters read of each
SENTENCES_F16 = "sentences.f16.npy"
WRITE_ROWS = 100_000  # float32 rows converted to float16 at a time (~150 MB)


def passage_row(p: Passage) -> dict:
    return {"letter_id": p.letter_id, "paragraph": p.paragraph, "start": p.start, "end": p.end,
            "search_text": p.search_text, "sentences": [list(s) for s in p.sentences],
            "clean_sentences": [list(s) for s in p.clean_sentences],
            "sentence_paragraphs": list(p.sentence_paragraphs)}


def passage_from_row(row: dict, letters: Mapping[str, Letter]) -> Passage:
    raw = letters[row["letter_id"]].text
    return Passage(row["letter_id"], row["paragraph"], row["start"], row["end"], raw[row["start"]:row["end"]],
                   row["search_text"], tuple(tuple(s) for s in row["sentences"]),
                   tuple(tuple(s) for s in row["clean_sentences"]), tuple(row["sentence_paragraphs"]))


def _write_lines(file: Path, rows) -> np.ndarray:
    """Write each row as a JSON line; the int64 byte offset of each line, and the file's end."""
    offsets = [0]
    with open(file, "wb") as f:
        for row in rows:
            f.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
            offsets.append(f.tell())
    return np.array(offsets, dtype=np.int64)


def write_letters(folder: Path, letters: Sequence[Letter]) -> None:
    """letters.jsonl, its byte offsets, the letters' ids in its order and their metadata without the text."""
    np.save(folder / LETTER_OFFSETS, _write_lines(folder / "letters.jsonl", (asdict(letter) for letter in letters)))
    (folder / LETTER_IDS).write_text(json.dumps([letter.id for letter in letters], ensure_ascii=False), encoding="utf-8")
    _write_lines(folder / LETTER_META, ({**asdict(letter), "text": ""} for letter in letters))


def write_passages(folder: Path, passages: Sequence[Passage], letter_ids: Sequence[str]) -> None:
    """passages.jsonl, its byte offsets and each passage's (letter number, start); letters numbered as
    `letter_ids` (letters.jsonl's order)."""
    number = {letter_id: i for i, letter_id in enumerate(letter_ids)}
    np.save(folder / OFFSETS, _write_lines(folder / "passages.jsonl", (passage_row(p) for p in passages)))
    np.save(folder / PLACES, np.array([(number[p.letter_id], p.start) for p in passages], dtype=np.int32).reshape(-1, 2))


def scan_lines(file: Path, pick) -> tuple[np.ndarray, list]:
    """(offsets, `pick(row)` of each row) of a JSON-lines file saved without offsets: one pass over it."""
    offsets, values, at = [0], [], 0
    with open(file, "rb") as f:
        for line in f:
            values.append(pick(json.loads(line)))
            at += len(line)
            offsets.append(at)
    return np.array(offsets, dtype=np.int64), values


def scan_passages(file: Path, letter_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, places) of an index saved without them (before this layout): one pass over the file."""
    number = {letter_id: i for i, letter_id in enumerate(letter_ids)}
    offsets, places = scan_lines(file, lambda row: (number[row["letter_id"]], row["start"]))
    return offsets, np.array(places, dtype=np.int32).reshape(-1, 2)


def check_offsets(folder: Path, name: str, offsets: np.ndarray, fix: str) -> None:
    """Raise ValueError naming the file `name` unless `offsets` are those of the lines of the file it indexes."""
    lines = folder / ("letters.jsonl" if name == LETTER_OFFSETS else "passages.jsonl")
    size = lines.stat().st_size
    if offsets.ndim != 1 or len(offsets) < 1 or offsets[0] != 0 or offsets[-1] != size or np.any(np.diff(offsets) <= 0):
        raise ValueError(f"index file {folder / name} does not fit {lines.name} ({size} bytes); {fix}")


def check_letter_table(folder: Path, offsets: np.ndarray, ids: list, fix: str) -> None:
    """Raise ValueError naming the file unless the letters' offsets and ids fit letters.jsonl."""
    check_offsets(folder, LETTER_OFFSETS, offsets, fix)
    if not isinstance(ids, list) or len(ids) != len(offsets) - 1:
        raise ValueError(f"index file {folder / LETTER_IDS} does not list the {len(offsets) - 1} letters; {fix}")


def check_table(folder: Path, offsets: np.ndarray, places: np.ndarray, fix: str) -> None:
    """Raise ValueError naming the file unless offsets and places fit passages.jsonl."""
    check_offsets(folder, OFFSETS, offsets, fix)
    if places.shape != (len(offsets) - 1, 2):
        raise ValueError(f"index file {folder / PLACES} has {len(places)} rows for {len(offsets) - 1} passages; {fix}")


def write_sentence_file(folder: Path, vectors: np.ndarray) -> None:
    """`vectors` (float32, e.g. a memmap) as the float16 file SENTENCES_F16, a chunk at a time."""
    out = np.lib.format.open_memmap(str(folder / SENTENCES_F16), mode="w+", dtype=np.float16, shape=vectors.shape)
    for start in range(0, len(vectors), WRITE_ROWS):
        out[start:start + WRITE_ROWS] = vectors[start:start + WRITE_ROWS]
    out.flush()
    del out


class DiskVectors:
    """float16 vectors in a .npy file, rows read on demand (os.preadv, a run of consecutive rows at a time) as
    float32: the sentence index search treats as neither flat nor IVF (it scores only the top passage
    candidates' sentences: qa.search). Not memory-mapped: the kernel maps 64 KB around each row read from a
    mapping (fault-around), and 20 questions at 1M passages put 4.1 GB of the 4.3 GB file in the process's
    resident set."""

    def __init__(self, file: Path, dim: int, fix: str):
        self.file = Path(file)
        try:
            self.array = np.load(self.file, mmap_mode="r")  # the header's shape and data offset; rows not read
        except ValueError:
            raise ValueError(f"index file {self.file} is damaged (not a readable .npy); {fix}") from None
        if self.array.dtype != np.float16 or self.array.ndim != 2 or self.array.shape[1] != dim:
            raise ValueError(f"index file {self.file} holds {self.array.dtype} {self.array.shape}, not float16 rows "
                             f"of {dim}; {fix}")
        self.ntotal, self.d = len(self.array), dim
        self.row_bytes, self.offset = 2 * dim, self.array.offset
        self.fd, self.fix = os.open(self.file, os.O_RDONLY), fix

    def __del__(self):
        if getattr(self, "fd", None) is not None:
            os.close(self.fd)

    def reconstruct_batch(self, rows) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if not rows.size:
            return np.zeros((0, self.d), dtype=np.float32)
        order = np.argsort(rows, kind="stable")
        ordered = rows[order]
        if ordered[0] < 0 or ordered[-1] >= self.ntotal:
            raise IndexError(f"rows outside 0..{self.ntotal - 1} of {self.file}")
        cuts = np.flatnonzero(np.diff(ordered) != 1) + 1  # runs of consecutive rows: one read each
        found = np.empty((len(rows), self.d), dtype=np.float16)
        into, size = memoryview(found).cast("B"), self.row_bytes
        starts, ends = np.concatenate([[0], cuts]).tolist(), np.concatenate([cuts, [len(rows)]]).tolist()
        for a, b, first in zip(starts, ends, ordered[starts].tolist()):
            if os.preadv(self.fd, [into[a * size:b * size]], self.offset + first * size) != (b - a) * size:
                raise ValueError(f"index file {self.file} is shorter than its header says; {self.fix}")
        out = np.empty((len(rows), self.d), dtype=np.float32)
        out[order] = found
        return out

    __getitem__ = reconstruct_batch
