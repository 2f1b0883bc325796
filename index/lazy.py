"""An index's passages and letters read from disk when asked for, for an index in the layout at scale
(index.layout): in memory stay a byte offset a row, each passage's (letter number, start), each letter's id,
and the last few rows read. Iterating streams the file (nothing is kept)."""
from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence, ValuesView
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from corpus.models import Letter, Passage
from index.layout import passage_from_row

PASSAGE_CACHE = 1024  # passages kept parsed (~10 MB; a search reads 10-50, an answer re-reads the same ones)
LETTER_CACHE = 64  # letters kept parsed (a letter can be 100 KB; an answer cites a few)


class JsonRows:
    """Row i of a JSON-lines file, found by its byte offset (offsets[i]:offsets[i + 1]); the last `keep`
    rows read are kept as `parse` made them."""

    def __init__(self, file: Path, offsets: np.ndarray, parse, keep: int):
        self.file, self.offsets, self.parse, self.keep = Path(file), offsets, parse, keep
        self.cache: OrderedDict[int, object] = OrderedDict()
        self.lock = threading.Lock()  # the app answers several questions at once from one index

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def row(self, i: int):
        with self.lock:
            found = self.cache.get(i)
            if found is not None:
                self.cache.move_to_end(i)
                return found
        with open(self.file, "rb") as f:
            f.seek(int(self.offsets[i]))
            found = self.parse(json.loads(f.read(int(self.offsets[i + 1] - self.offsets[i]))))
        with self.lock:
            self.cache[i] = found
            while len(self.cache) > self.keep:
                self.cache.popitem(last=False)
        return found

    def stream(self):
        with open(self.file, "rb") as f:
            for line in f:
                yield self.parse(json.loads(line))


class _ByLetterId(Mapping):
    """A mapping over the letter ids in `numbers` (id -> row of letters.jsonl)."""

    numbers: dict[str, int]

    def __iter__(self):
        return iter(self.numbers)

    def __len__(self) -> int:
        return len(self.numbers)


class LazyLetters(_ByLetterId):
    """Letters by id from letters.jsonl; in memory: their ids (`numbers`: id -> row) and offsets."""

    def __init__(self, file: Path, offsets: np.ndarray, ids: Iterable[str], meta: Path | None = None):
        self.rows = JsonRows(file, offsets, lambda row: Letter(**row), LETTER_CACHE)
        self.numbers = {letter_id: i for i, letter_id in enumerate(ids)}
        self.meta = meta  # letter_meta.jsonl, when the index has it

    def headers(self) -> "LetterHeaders":
        """The letters without their text, streamed (from letter_meta.jsonl: at 1M passages, parsing every
        letter with its text took ~7 s of a question that needed the letters' senders and dates)."""
        return LetterHeaders(self)

    def __getitem__(self, letter_id: str) -> Letter:
        return self.rows.row(self.numbers[letter_id])

    def values(self) -> ValuesView:
        return _StreamedValues(self)

    def nbytes(self) -> int:
        return self.rows.offsets.nbytes


class _StreamedValues(ValuesView):
    def __iter__(self):
        return self._mapping.rows.stream()


class LetterHeaders(_ByLetterId):
    """Letter id -> the letter with text "", for what reads only the metadata of every letter."""

    def __init__(self, letters: LazyLetters):
        self.letters, self.numbers = letters, letters.numbers

    def __getitem__(self, letter_id: str) -> Letter:
        return replace(self.letters[letter_id], text="")

    def values(self) -> ValuesView:
        return _StreamedHeaders(self)


class _StreamedHeaders(ValuesView):
    def __iter__(self):
        letters = self._mapping.letters
        if letters.meta is None:
            return (replace(letter, text="") for letter in letters.rows.stream())
        return JsonRows(letters.meta, letters.rows.offsets, lambda row: Letter(**row), 0).stream()


class LazyPassages(Sequence):
    """The passages of passages.jsonl by number, each parsed when asked for (the last PASSAGE_CACHE kept);
    in memory: 16 bytes a passage (offset, letter number, start)."""

    def __init__(self, file: Path, offsets: np.ndarray, places: np.ndarray, letters: Mapping[str, Letter]):
        self.places, self.letters = places, letters
        self.rows = JsonRows(file, offsets, lambda row: passage_from_row(row, letters), PASSAGE_CACHE)
        self.letter_number = getattr(letters, "numbers", None) or {letter_id: i for i, letter_id in enumerate(letters)}
        keys = places[:, 0].astype(np.int64) << 32 | places[:, 1].astype(np.int64)
        self._order = None if np.all(keys[1:] >= keys[:-1]) else np.argsort(keys, kind="stable").astype(np.int32)
        self._keys = None if self._order is None else keys[self._order]  # else computed from places when asked

    @property
    def offsets(self) -> np.ndarray:
        return self.rows.offsets

    @property
    def letter_of(self) -> np.ndarray:
        """int32 per passage: its letter's number in the letters' order (what qa.hints numbers letters by)."""
        return self.places[:, 0]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i) + (len(self) if int(i) < 0 else 0)
        if not 0 <= i < len(self):
            raise IndexError(f"passage {i} of {len(self)}")
        return self.rows.row(i)

    def __iter__(self):
        return self.rows.stream()

    def number(self, passage_id: str) -> int:
        """The row of the passage with this id ("letter#start"); KeyError when there is none."""
        letter_id, _, start = passage_id.rpartition("#")
        if letter_id not in self.letter_number or not start.isdigit():
            raise KeyError(passage_id)
        key = self.letter_number[letter_id] << 32 | int(start)
        if self._order is None:  # passages in letter order, each letter's by start: search the places
            at = int(np.searchsorted(self.places[:, 0], self.letter_number[letter_id]))
            end = int(np.searchsorted(self.places[:, 0], self.letter_number[letter_id], side="right"))
            at += int(np.searchsorted(self.places[at:end, 1], int(start)))
            if at < end and self.places[at, 1] == int(start):
                return at
            raise KeyError(passage_id)
        at = int(np.searchsorted(self._keys, key))
        if at == len(self._keys) or self._keys[at] != key:
            raise KeyError(passage_id)
        return int(self._order[at])

    def nbytes(self) -> int:
        """Bytes held besides the cached passages: offsets, places (and, when out of order, sorted keys)."""
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


@dataclass(frozen=True)
class LetterColumns:
    """Fields of every letter as a code a letter into the field's distinct values: what the search filters
    compare (a few distinct dates and senders, not one string a letter)."""

    codes: dict[str, np.ndarray]  # field -> int32 code a letter, in the letters' order
    values: dict[str, list[str]]  # field -> its distinct values

    def where(self, name: str, test) -> np.ndarray:
        """Per letter, whether `test` holds for its value of the field `name`."""
        return np.array([bool(test(v)) for v in self.values[name]], dtype=bool)[self.codes[name]]


def letter_columns(letters: Iterable[Letter], names: tuple[str, ...] = ("date", "sender", "dossier")) -> LetterColumns:
    """The columns `names` of `letters` (one pass: the letters can be streamed)."""
    found: dict[str, dict[str, int]] = {name: {} for name in names}
    codes: dict[str, list[int]] = {name: [] for name in names}
    for letter in letters:
        for name in names:
            value = getattr(letter, name)
            codes[name].append(found[name].setdefault(value, len(found[name])))
    return LetterColumns({name: np.array(codes[name], dtype=np.int32) for name in names},
                         {name: list(found[name]) for name in names})
