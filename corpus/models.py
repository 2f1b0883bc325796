"""The data that flows through kamerqa: a letter, a passage of it, a hit for a question."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Letter:
    """One document as read: `text` is the raw text (a file's content, or a JSON line's `text`).

    Every character span in kamerqa indexes this raw text, so a citation can always show
    the exact original.
    """

    id: str
    text: str
    title: str = ""  # subject ("Onderwerp") or the dossier title
    date: str = ""  # ISO date, yyyy-mm-dd, or "" when unknown
    sender: str = ""  # e.g. "Staatssecretaris van Justitie en Veiligheid (Mark Harbers)"
    dossier: str = ""  # e.g. "29 515"
    stuk: str = ""  # stuk number within the dossier, e.g. "496"
    kenmerk: str = ""
    url: str = ""
    source: str = ""  # where it was read from (a path)

    def meta(self) -> dict:
        """The letter's metadata without its text."""
        d = asdict(self)
        d.pop("text")
        return d


@dataclass(frozen=True)
class Passage:
    """A stretch of one paragraph (or a few short ones) of a letter: the unit that is retrieved and cited.

    `start`/`end` index the raw letter text: `letter.text[start:end] == text`.
    `search_text` is the cleaned text (hyphenation joined, lines re-flowed) that is embedded
    and indexed; `sentences` are the (start, end) raw spans of its sentences and `clean_sentences`
    the same sentences' spans in `search_text`. A passage may join short paragraphs: `paragraph` is
    its first, `sentence_paragraphs` tells each sentence's own.
    """

    letter_id: str
    paragraph: int  # 1-based number of the paragraph in the letter's content
    start: int
    end: int
    text: str
    search_text: str
    sentences: tuple[tuple[int, int], ...] = field(default_factory=tuple)
    clean_sentences: tuple[tuple[int, int], ...] = field(default_factory=tuple)
    sentence_paragraphs: tuple[int, ...] = field(default_factory=tuple)  # paragraph number of each sentence

    @property
    def id(self) -> str:
        return f"{self.letter_id}#{self.start}"


@dataclass(frozen=True)
class Hit:
    """A passage retrieved for a question, with its score and its letter's metadata."""

    passage: Passage
    score: float
    letter: Letter
    confidence: float = float("nan")  # its best sentence's cosine to the question: comparable across questions

    def to_json(self) -> dict:
        """The shape `kamerqa ask --json` prints for each hit (stable: outside checks read it)."""
        p, m = self.passage, self.letter
        return {
            "letter_id": p.letter_id,
            "paragraph": p.paragraph,
            "start": p.start,
            "end": p.end,
            "text": p.text,
            "score": round(float(self.score), 4),
            "confidence": round(float(self.confidence), 4),
            "title": m.title,
            "date": m.date,
            "sender": m.sender,
            "url": m.url,
            "dossier": m.dossier,
            "stuk": m.stuk,
            "kenmerk": m.kenmerk,
        }
