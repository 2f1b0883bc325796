"""The index's layout at scale: what keeps an index of a million passages within ~1,000 bytes a passage in
memory (docs/PERFORMANCE.md, "search() at 1M passages").

  passages.jsonl + passage_offsets.npy   passages read from disk by number (`LazyPassages`): an int64 byte
                                         offset a passage (and the file's end), plus passage_places.npy
                                         (int32 letter number, start) to find a passage by its id
  sentences.f16.npy                      sentence vectors as float16, memory-mapped (`DiskVectors`): search
                                         scores only its top passages' sentences from them (qa.search)

An index of fewer than SCALE_FROM vectors keeps today's flat (exact) faiss sentence index and its passages
as Python objects: that is what the default index's quality figures were measured on.
"""
from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from corpus.models import Letter, Passage

SCALE_FROM = 50_000  # vectors: from here, passage vectors go to IVF-SQ8 (index.build.ANN_THRESHOLD) and sentence
# vectors to a float16 file on disk instead of a faiss index. Below it an exact flat index costs at most ~75 MB
# (1,536 bytes a vector) and keeps the default index's figures; above it IVF-SQ8 sentences would cost ~2.2 KB a
# passage in memory at 5.65 sentences a passage, the float16 file none (bench/scale_million.py: p95 75-95 ms
# and 95.5 % of exact search's top 10 at 1M passages). Passages are read lazily from the same size.
OFFSETS = "passage_offsets.npy"
PLACES = "passage_places.npy"
SENTENCES_F16 = "sentences.f16.npy"
PASSAGE_CACHE = 4096  # passages kept parsed (a search reads 10-50; an answer re-reads the same ones)
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


def write_passages(folder: Path, passages: Sequence[Passage], letter_ids: Sequence[str]) -> None:
    """passages.jsonl, its byte offsets and each passage's (letter number, start); letters numbered as
    `letter_ids` (letters.jsonl's order)."""
    number = {letter_id: i for i, letter_id in enumerate(letter_ids)}
    offsets = np.zeros(len(passages) + 1, dtype=np.int64)
    places = np.zeros((len(passages), 2), dtype=np.int32)
    with open(folder / "passages.jsonl", "wb") as f:
        for i, p in enumerate(passages):
            f.write((json.dumps(passage_row(p), ensure_ascii=False) + "\n").encode("utf-8"))
            offsets[i + 1] = f.tell()
            places[i] = number[p.letter_id], p.start
    np.save(folder / OFFSETS, offsets)
    np.save(folder / PLACES, places)


def scan_passages(file: Path, letter_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, places) of an index saved without them (before this layout): one pass over the file."""
    number = {letter_id: i for i, letter_id in enumerate(letter_ids)}
    offsets, places, at = [0], [], 0
    with open(file, "rb") as f:
        for line in f:
            row = json.loads(line)
            at += len(line)
            offsets.append(at)
            places.append((number[row["letter_id"]], row["start"]))
    return np.array(offsets, dtype=np.int64), np.array(places, dtype=np.int32).reshape(-1, 2)


def check_table(folder: Path, offsets: np.ndarray, places: np.ndarray, fix: str) -> None:
    """Raise ValueError naming the file unless offsets and places fit passages.jsonl."""
    size = (folder / "passages.jsonl").stat().st_size
    if offsets.ndim != 1 or len(offsets) < 1 or offsets[0] != 0 or offsets[-1] != size or np.any(np.diff(offsets) <= 0):
        raise ValueError(f"index file {folder / OFFSETS} does not fit passages.jsonl ({size} bytes); {fix}")
    if places.shape != (len(offsets) - 1, 2):
        raise ValueError(f"index file {folder / PLACES} has {len(places)} rows for {len(offsets) - 1} passages; {fix}")


class LazyPassages(Sequence):
    """The passages of passages.jsonl by number, each parsed when asked for (the last PASSAGE_CACHE kept);
    what stays in memory is 16 bytes a passage (offset, letter number, start). Iterating streams the file."""

    def __init__(self, file: Path, offsets: np.ndarray, places: np.ndarray, letters: Mapping[str, Letter]):
        self.file, self.offsets, self.places, self.letters = Path(file), offsets, places, letters
        self.letter_ids = list(letters)
        self.letter_number = {letter_id: i for i, letter_id in enumerate(self.letter_ids)}
        self._cache: OrderedDict[int, Passage] = OrderedDict()
        keys = places[:, 0].astype(np.int64) << 32 | places[:, 1].astype(np.int64)
        self._order = None if np.all(keys[1:] >= keys[:-1]) else np.argsort(keys, kind="stable").astype(np.int32)
        self._keys = keys if self._order is None else keys[self._order]

    @property
    def letter_of(self) -> np.ndarray:
        """int32 per passage: its letter's number in the letters' order (what qa.hints numbers letters by)."""
        return self.places[:, 0]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i) + (len(self) if int(i) < 0 else 0)
        if not 0 <= i < len(self):
            raise IndexError(f"passage {i} of {len(self)}")
        passage = self._cache.get(i)
        if passage is None:
            with open(self.file, "rb") as f:
                f.seek(int(self.offsets[i]))
                passage = passage_from_row(json.loads(f.read(int(self.offsets[i + 1] - self.offsets[i]))), self.letters)
            self._cache[i] = passage
            if len(self._cache) > PASSAGE_CACHE:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(i)
        return passage

    def __iter__(self):
        with open(self.file, "rb") as f:
            for line in f:
                yield passage_from_row(json.loads(line), self.letters)

    def number(self, passage_id: str) -> int:
        """The row of the passage with this id ("letter#start"); KeyError when there is none."""
        letter_id, _, start = passage_id.rpartition("#")
        if letter_id not in self.letter_number or not start.isdigit():
            raise KeyError(passage_id)
        key = self.letter_number[letter_id] << 32 | int(start)
        at = int(np.searchsorted(self._keys, key))
        if at == len(self._keys) or self._keys[at] != key:
            raise KeyError(passage_id)
        return at if self._order is None else int(self._order[at])

    def nbytes(self) -> int:
        """Bytes held besides the cached passages: offsets, places and the sorted keys."""
        extra = 0 if self._order is None else self._order.nbytes + self._keys.nbytes
        return self.offsets.nbytes + self.places.nbytes + extra


class PassageNumbers(Mapping):
    """Passage id -> row, for LazyPassages (a dict of a million ids would cost ~100 bytes a passage)."""

    def __init__(self, passages: LazyPassages):
        self.passages = passages

    def __getitem__(self, passage_id: str) -> int:
        return self.passages.number(passage_id)

    def __iter__(self):
        return (p.id for p in self.passages)

    def __len__(self) -> int:
        return len(self.passages)


class PassagesById(PassageNumbers):
    """Passage id -> passage, for LazyPassages."""

    def __getitem__(self, passage_id: str) -> Passage:
        return self.passages[self.passages.number(passage_id)]


def write_sentence_file(folder: Path, vectors: np.ndarray) -> None:
    """`vectors` (float32, e.g. a memmap) as the float16 file SENTENCES_F16, a chunk at a time."""
    out = np.lib.format.open_memmap(str(folder / SENTENCES_F16), mode="w+", dtype=np.float16, shape=vectors.shape)
    for start in range(0, len(vectors), WRITE_ROWS):
        out[start:start + WRITE_ROWS] = vectors[start:start + WRITE_ROWS]
    out.flush()
    del out


class DiskVectors:
    """float16 vectors in a memory-mapped .npy, rows read on demand as float32: the sentence index search
    treats as neither flat nor IVF (it scores only the top passage candidates' sentences: qa.search)."""

    def __init__(self, file: Path, dim: int, fix: str):
        self.file = Path(file)
        try:
            self.array = np.load(self.file, mmap_mode="r")
        except ValueError:
            raise ValueError(f"index file {self.file} is damaged (not a readable .npy); {fix}") from None
        if self.array.dtype != np.float16 or self.array.ndim != 2 or self.array.shape[1] != dim:
            raise ValueError(f"index file {self.file} holds {self.array.dtype} {self.array.shape}, not float16 rows "
                             f"of {dim}; {fix}")
        self.ntotal, self.d = len(self.array), dim

    def reconstruct_batch(self, rows) -> np.ndarray:
        return np.asarray(self.array[np.asarray(rows, dtype=np.int64).reshape(-1)], dtype=np.float32)

    __getitem__ = reconstruct_batch
