"""Read letters from JSON-lines files and folders of .txt/.md/.html/.pdf/.xml/.json files.

Every reader returns `Letter`s whose `text` is what spans index: a file's content as read for .txt and
.md, the `text` field of a JSON line or .json letter, and the extracted text for .html, .pdf and .xml.
Files that cannot be read are skipped with a one-line reason; the rest are still read.
"""
from __future__ import annotations

import html
import json
import os
import re
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Iterator

from corpus import meta
from corpus.models import Letter

TEXT_SUFFIXES = {".txt", ".md"}
SUFFIXES = TEXT_SUFFIXES | {".html", ".htm", ".pdf", ".xml", ".json", ".jsonl"}
DEFAULT_MAX_FILE_MB = 40  # a larger letter file (or JSON line) is skipped with a reason


def max_bytes() -> int:
    """The largest file (or JSON line) read: $KAMERQA_MAX_FILE_MB, else DEFAULT_MAX_FILE_MB."""
    return int(os.environ.get("KAMERQA_MAX_FILE_MB", DEFAULT_MAX_FILE_MB)) * 1024 * 1024


class CorpusError(RuntimeError):
    pass


@dataclass
class ReadResult:
    letters: list[Letter] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (input, reason)


# Corpora by name, as `kamerqa index --corpus NAME` takes them: files under ../shared/corpus.
NAMED_CORPORA = {
    "default": ("sgd/letters.jsonl", "modern"),  # 419 letters, 1,025 passages
    "large": ("sgd/letters.jsonl", "modern", "sgd/kamerstukken.jsonl"),  # + 5,023 Kamerstukken: ~5,030 letters, ~17k passages
}


def _shared_root() -> Path | None:
    for root in (Path.cwd().parent / "shared" / "corpus", Path(__file__).resolve().parents[2] / "shared" / "corpus"):
        if (root / "sgd" / "letters.jsonl").exists():
            return root
    return None


def named_corpus(name: str) -> list[Path]:
    """The files of the corpus called `name` (a key of NAMED_CORPORA) under ../shared/corpus."""
    root = _shared_root()
    if name not in NAMED_CORPORA or root is None:
        raise CorpusError(f"no corpus named {name!r}" + ("" if root else " (../shared/corpus not found)") +
                          f"; give a path, or one of: {', '.join(NAMED_CORPORA)}")
    return [root / rel for rel in NAMED_CORPORA[name]]


def corpus_paths(given: list[Path | str]) -> list[Path]:
    """`given` with corpus names (e.g. "large") replaced by their files; paths stay as they are."""
    out: list[Path] = []
    for item in given:
        named = str(item) in NAMED_CORPORA and not Path(item).exists()
        out.extend(named_corpus(str(item)) if named else [Path(item)])
    return out


def default_corpus() -> list[Path]:
    """The default corpus: $KAMERQA_CORPUS, else ../shared/corpus's letters and modern/ files."""
    if os.environ.get("KAMERQA_CORPUS"):
        return [Path(p) for p in os.environ["KAMERQA_CORPUS"].split(os.pathsep)]
    if _shared_root() is not None:
        return named_corpus("default")
    raise CorpusError("no corpus given and ../shared/corpus not found; pass --corpus PATH (a .jsonl file or a folder)")


def decode(data: bytes, name: str) -> str:
    """Bytes to text: UTF-8 (with or without BOM), UTF-16 with a BOM, else cp1252."""
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise CorpusError(f"{name}: binary file (NUL bytes), not a letter; skipped")
    for bom, enc in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            return data.decode(enc, errors="replace")  # a broken or truncated file still reads
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def with_metadata(letter: Letter, fields: dict | None = None) -> Letter:
    """Fill metadata from a JSON record's fields, then from the text itself where still missing."""
    fields = {k: v if isinstance(v, str) else str(v) if isinstance(v, (int, float)) else ""
              for k, v in (fields or {}).items()}  # a JSON record's fields may be any type
    sender = fields.get("sender") or ""
    if not sender and fields.get("afzender_kop"):
        m = re.search(r"(MINISTER|STAATSSECRETARIS|MINISTER-PRESIDENT).*", fields["afzender_kop"], re.IGNORECASE)
        if m:
            sender = meta.title_case(re.split(r"\s+(?:Aan|AAN|aan)\s|\s+No\.|\s+Nr\.", m.group(0))[0])
            name = re.split(r",\s*", fields.get("ondertekening") or "", maxsplit=1)
            if len(name) == 2 and 2 < len(name[1]) < 50:
                sender += f" ({name[1].strip(' .')})"
    given = {
        "title": fields.get("title") or "",
        "date": fields.get("date") or fields.get("datum") or "",
        "sender": sender,
        "dossier": fields.get("dossier") or fields.get("dossiernummer") or "",
        "stuk": str(fields.get("stuk") or fields.get("stuknummer") or ""),
        "kenmerk": fields.get("kenmerk") or "",
        "url": fields.get("url") or "",
    }
    found = meta.extract(letter.text)
    merged = {k: (v or found.get(k, "")) for k, v in given.items()}
    merged["sender"] = meta.tidy_sender(merged["sender"])
    return replace(letter, **merged)


def read_jsonl(path: Path, result: ReadResult) -> None:
    with open(path, "rb") as f:
        for number, raw_line in enumerate(f, start=1):
            if not raw_line.strip():
                continue
            if len(raw_line) > max_bytes():
                result.skipped.append((f"{path}:{number}", f"line of {len(raw_line) // 2**20} MB is larger than "
                                       f"{max_bytes() // 2**20} MB (raise KAMERQA_MAX_FILE_MB to read it)"))
                continue
            try:
                record = json.loads(raw_line)
                letter_id, text = str(record["id"]), record["text"]
            except (ValueError, KeyError, TypeError, RecursionError) as e:
                result.skipped.append((f"{path}:{number}", f"not a JSON object with 'id' and 'text' ({e})"))
                continue
            if not isinstance(text, str) or not text.strip():
                result.skipped.append((f"{path}:{number}", f"letter {letter_id} has no text"))
                continue
            result.letters.append(with_metadata(Letter(letter_id, text, source=f"{path}:{number}"), record))


class _TextOfHtml(HTMLParser):
    BLOCKS = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "article", "al"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "head"):
            self.skip += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "head"):
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(markup: str) -> str:
    # No tag can end after the last '>': hand that tail to the parser as text. Python's HTMLParser
    # re-scans such a tail once for every '<' in it (quadratic: 60 KB of "<a " took minutes).
    cut = markup.rfind(">") + 1
    markup = markup[:cut] + markup[cut:].replace("&", "&amp;").replace("<", "&lt;")
    parser = _TextOfHtml()
    parser.feed(markup)
    parser.close()
    text = "".join(parser.parts)
    return re.sub(r"\n\s*\n(\s*\n)+", "\n\n", html.unescape(text)).strip()


def pdf_to_text(path: Path) -> str:
    from pypdf import PdfReader

    try:
        pages = [page.extract_text() or "" for page in PdfReader(str(path)).pages]
    except Exception as e:  # pypdf raises many types on broken files
        raise CorpusError(f"{path}: unreadable PDF ({type(e).__name__}); skipped") from None
    return "\n\n".join(pages)


def read_file(path: Path) -> Iterator[Letter]:
    """The letter(s) in one file; raises CorpusError with the reason it cannot be read."""
    suffix = path.suffix.lower()
    size = path.stat().st_size
    if size == 0:
        raise CorpusError(f"{path}: empty file; skipped")
    if size > max_bytes():
        raise CorpusError(f"{path}: {size // 2**20} MB is larger than {max_bytes() // 2**20} MB "
                          f"(raise KAMERQA_MAX_FILE_MB to read it); skipped")
    if suffix == ".pdf":
        text = pdf_to_text(path)
    elif suffix == ".xml":
        from corpus.officiel import letter_from_xml

        try:
            letter = letter_from_xml(path.read_bytes(), source=str(path))
        except Exception as e:
            reason = str(e).removeprefix(f"{path}: ")[:200]  # the path is said once, in front
            raise CorpusError(f"{path}: not a readable official XML publication ({reason}); skipped") from None
        yield replace(with_metadata(letter, letter.meta()), id=letter.id or path.stem)
        return
    else:
        text = decode(path.read_bytes(), str(path))
    if suffix in (".html", ".htm"):
        text = html_to_text(text)
    if suffix == ".json":
        try:
            record = json.loads(text)
            text = record["text"]
        except (ValueError, KeyError, TypeError, RecursionError):
            raise CorpusError(f"{path}: not a JSON letter object with 'text'; skipped") from None
        if not isinstance(text, str) or not text.strip():
            raise CorpusError(f"{path}: letter has no text; skipped")
        yield with_metadata(Letter(str(record.get("id") or path.stem), text, source=str(path)), record)
        return
    if not text.strip():
        raise CorpusError(f"{path}: no text; skipped")
    yield with_metadata(Letter(path.stem, text, source=str(path)))


def read_folder(folder: Path, result: ReadResult) -> None:
    """Files directly in `folder` (not its subfolders), in name order; links leading outside are skipped."""
    root = folder.resolve()
    for path in sorted(folder.iterdir()):
        if path.is_dir():
            continue
        if path.is_symlink() and not Path(os.path.realpath(path)).is_relative_to(root):  # never raises on loops
            result.skipped.append((str(path), "link that leads outside the corpus folder; skipped"))
            continue
        suffix = path.suffix.lower()
        if suffix not in SUFFIXES:
            result.skipped.append((str(path), f"unknown format {suffix or '(no suffix)'}; "
                                              f"kamerqa reads {', '.join(sorted(SUFFIXES))}"))
            continue
        if suffix == ".jsonl":
            read_jsonl(path, result)
            continue
        try:
            result.letters.extend(read_file(path))
        except CorpusError as e:
            result.skipped.append((str(path), str(e).split(": ", 1)[-1]))
        except OSError as e:
            result.skipped.append((str(path), f"cannot read ({e.strerror}); skipped"))


def read_corpus(paths: list[Path]) -> ReadResult:
    """All letters in `paths` (files or folders). Later duplicates of an id are skipped."""
    result = ReadResult()
    for path in map(Path, paths):
        if not path.exists():
            raise CorpusError(f"corpus path {path} does not exist; pass an existing .jsonl file or folder, "
                              f"or a corpus name ({', '.join(NAMED_CORPORA)})")
        if path.is_dir():
            read_folder(path, result)
        elif path.suffix.lower() == ".jsonl":
            read_jsonl(path, result)
        else:
            try:
                result.letters.extend(read_file(path))
            except CorpusError as e:
                result.skipped.append((str(path), str(e).split(": ", 1)[-1]))
    seen: set[str] = set()
    unique = []
    for letter in result.letters:
        if letter.id in seen:
            result.skipped.append((letter.source, f"duplicate letter id {letter.id}; the first one is kept"))
            continue
        seen.add(letter.id)
        unique.append(letter)
    result.letters = unique
    return result
