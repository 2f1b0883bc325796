"""BM25's vocabulary (term -> column of the score matrix) kept compact: the terms sorted in one UTF-8 string,
their offsets and columns in two arrays, ~22 bytes a term where a dict of str -> int took ~117 (the large
index: 81,569 terms, 9.5 MB). The vocabulary grows with the corpus (a Heaps fit on the large index's
passages, exponent 0.62, gives ~1M terms at 1M passages: ~117 MB as a dict, ~22 MB here;
docs/PERFORMANCE.md "What `kamerqa index` builds at scale")."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

SEPARATOR = "\n"  # never inside a term (index.lexical's tokens are runs of word characters)


class Vocabulary(Mapping):
    """Term -> column, found by binary search in the sorted terms (UTF-8 byte order is code point order)."""

    def __init__(self, columns: dict[str, int]):
        terms = sorted(columns)
        self.blob = "".join(t + SEPARATOR for t in terms).encode("utf-8")
        self.starts = np.zeros(len(terms) + 1, dtype=np.int64)
        np.cumsum([len(t.encode("utf-8")) + 1 for t in terms], out=self.starts[1:])
        self.columns = np.array([columns[t] for t in terms], dtype=np.int32)

    def _bytes(self, i: int) -> bytes:
        return self.blob[int(self.starts[i]):int(self.starts[i + 1]) - 1]

    def _find(self, term: str) -> int:
        """The position of `term` in the sorted terms, or -1."""
        key, lo, hi = term.encode("utf-8"), 0, len(self.columns)
        while lo < hi:
            mid = (lo + hi) // 2
            if self._bytes(mid) < key:
                lo = mid + 1
            else:
                hi = mid
        return lo if lo < len(self.columns) and self._bytes(lo) == key else -1

    def __getitem__(self, term: str) -> int:
        at = self._find(term) if isinstance(term, str) else -1
        if at < 0:
            raise KeyError(term)
        return int(self.columns[at])

    def __contains__(self, term) -> bool:
        return isinstance(term, str) and self._find(term) >= 0

    def __iter__(self):
        return iter(self.terms().as_list(keep_empty=True))

    def __len__(self) -> int:
        return len(self.columns)

    def terms(self) -> "Terms":
        return Terms(self)

    def nbytes(self) -> int:
        return len(self.blob) + self.starts.nbytes + self.columns.nbytes


class Terms(Sequence):
    """The vocabulary's non-empty terms, sorted; `as_list()` makes them Python strings for a fuzzy scan (and
    lets them go after it)."""

    def __init__(self, vocabulary: Vocabulary):
        self.vocabulary = vocabulary
        self.first = 1 if len(vocabulary) and vocabulary._bytes(0) == b"" else 0  # "" sorts first

    def __len__(self) -> int:
        return len(self.vocabulary) - self.first

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        return self.vocabulary._bytes(self.first + i % len(self)).decode("utf-8")

    def __iter__(self):
        return iter(self.as_list())

    def as_list(self, keep_empty: bool = False) -> list[str]:
        terms = self.vocabulary.blob.decode("utf-8").split(SEPARATOR)[:-1]
        return terms if keep_empty else terms[self.first:]

    def __eq__(self, other) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None
