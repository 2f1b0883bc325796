"""Question sets for `kamerqa eval`: kamerqa JSON lines, a BEIR folder, or TREC qrels + queries.

Every reader returns a `QuestionSet`: the questions that could be read, and the problems found
on the way (with file and line number). Bad input is never raised; it is listed, and the rest
of the set is still evaluated. `qa.gold.resolve_gold` then locates each answer's quote in its letter.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple




class Answer(NamedTuple):
    """A gold answer: a letter id, and a quote of its raw text (None: any passage of the letter)."""

    doc_id: str
    quote: str | None = None


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    lang: str = ""
    type: str = ""
    answers: tuple[Answer, ...] = ()
    source: str = ""  # the file the question was read from
    line: int = 0  # its 1-based line in that file


@dataclass(frozen=True)
class Problem:
    """Something wrong with the question set; `line` 0 means the file as a whole."""

    source: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.message}" if self.line else f"{self.source}: {self.message}"


@dataclass(frozen=True)
class QuestionSet:
    questions: tuple[Question, ...]
    problems: tuple[Problem, ...] = ()


def load_questions(path: str | Path, *, queries: str | Path | None = None, split: str = "test") -> QuestionSet:
    """Read a question set, telling the format from `path`.

    A folder is read as BEIR (`split` names the qrels file); a file whose first line is a JSON
    object as kamerqa JSON lines; any other file as TREC qrels, whose texts come from `queries`.
    """
    path = Path(path)
    if path.is_dir():
        return read_beir(path, split=split)
    if not path.is_file():
        raise FileNotFoundError(f"question set {path} does not exist; pass a .jsonl file, a BEIR folder or TREC qrels")
    first = next((line.strip() for line in _lines(path) if line.strip()), "")
    if first.startswith("{"):
        return read_kamerqa_jsonl(path)
    if queries is None:
        raise ValueError(f"{path} looks like TREC qrels; pass its queries file (qid<TAB>text) with --queries")
    return read_trec(path, queries)


def read_kamerqa_jsonl(path: str | Path) -> QuestionSet:
    """kamerqa's own format: one JSON object a line with id, question, lang, type and answers."""
    path = Path(path)
    questions, problems, seen = [], [], set()
    for number, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        question, error = _parse_kamerqa_line(line, path, number)
        if error is None and question.id in seen:
            error = f"duplicate question id {question.id!r}; skipped"
        if error is not None:
            problems.append(Problem(str(path), number, error))
            continue
        seen.add(question.id)
        questions.append(question)
    return QuestionSet(tuple(questions), tuple(problems))


def _parse_kamerqa_line(line: str, path: Path, number: int) -> tuple[Question | None, str | None]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        return None, f"not valid JSON ({error.msg}); skipped"
    if not isinstance(record, dict):
        return None, "not a JSON object; skipped"
    qid = str(record.get("id") or f"line-{number}")
    text = record.get("question")
    if not isinstance(text, str) or not text.strip():
        return None, f"question {qid} has no question text; skipped"
    answers = []
    for answer in record.get("answers") or []:
        doc_id = answer.get("doc_id") if isinstance(answer, dict) else None
        if not doc_id:
            return None, f"question {qid} has an answer without doc_id; skipped"
        quote = answer.get("quote") or None
        answers.append(Answer(str(doc_id), quote if isinstance(quote, str) else None))
    if not answers:
        return None, f"question {qid} has no answers; skipped"
    question = Question(qid, text.strip(), str(record.get("lang") or ""), str(record.get("type") or ""),
                        tuple(answers), str(path), number)
    return question, None


def read_beir(folder: str | Path, split: str = "test") -> QuestionSet:
    """A BEIR folder: `queries.jsonl` ({_id, text}), `qrels/<split>.tsv` (query-id, corpus-id, score).

    Qrels name whole letters, so every answer is letter-level. Letter ids missing from
    `corpus.jsonl` (when there is one) are reported.
    """
    folder = Path(folder)
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        raise FileNotFoundError(f"BEIR folder {folder} has no qrels/{split}.tsv; pass --split with one of "
                                f"{sorted(p.stem for p in (folder / 'qrels').glob('*.tsv'))}")
    texts, problems = _read_beir_queries(folder / "queries.jsonl")
    relevant = _read_qrels(qrels_path, problems, trec=False)
    corpus_ids = _read_beir_corpus_ids(folder / "corpus.jsonl", problems)
    if corpus_ids is not None:
        for qid, (doc_ids, number) in relevant.items():
            for doc_id in doc_ids:
                if doc_id not in corpus_ids:
                    problems.append(Problem(str(qrels_path), number, f"question {qid}: letter {doc_id} is not in corpus.jsonl"))
    return _join(texts, relevant, problems, qrels_path)


def read_trec(qrels: str | Path, queries: str | Path) -> QuestionSet:
    """TREC qrels (`qid 0 docid rel`, whitespace separated) and a queries file (`qid<TAB>text`)."""
    problems: list[Problem] = []
    texts: dict[str, tuple[str, Path, int]] = {}
    queries = Path(queries)
    for number, line in enumerate(_lines(queries), start=1):
        if not line.strip():
            continue
        qid, tab, text = line.rstrip("\n").partition("\t")
        if not tab or not qid.strip():
            problems.append(Problem(str(queries), number, "expected 'qid<TAB>text'; skipped"))
            continue
        texts[qid.strip()] = (text.strip(), queries, number)
    relevant = _read_qrels(Path(qrels), problems, trec=True)
    return _join(texts, relevant, problems, Path(qrels))


def _read_beir_queries(path: Path) -> tuple[dict[str, tuple[str, Path, int]], list[Problem]]:
    texts, problems = {}, []
    for number, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            texts[str(record["_id"])] = (str(record.get("text") or "").strip(), path, number)
        except (json.JSONDecodeError, KeyError, TypeError):
            problems.append(Problem(str(path), number, "expected a JSON object with _id and text; skipped"))
    return texts, problems


def _read_beir_corpus_ids(path: Path, problems: list[Problem]) -> set[str] | None:
    if not path.is_file():
        return None
    ids = set()
    for number, line in enumerate(_lines(path), start=1):
        try:
            ids.add(str(json.loads(line)["_id"]))
        except (json.JSONDecodeError, KeyError, TypeError):
            if line.strip():
                problems.append(Problem(str(path), number, "expected a JSON object with _id; skipped"))
    return ids


def _read_qrels(path: Path, problems: list[Problem], *, trec: bool) -> dict[str, tuple[list[str], int]]:
    """qid -> (relevant letter ids, first line). TREC: `qid 0 docid rel`; BEIR: `qid<TAB>docid<TAB>score`."""
    relevant: dict[str, tuple[list[str], int]] = {}
    for number, line in enumerate(_lines(path), start=1):
        fields = line.split()
        if not fields or (not trec and number == 1 and fields[0] == "query-id"):
            continue
        if len(fields) != (4 if trec else 3) or not _is_int(fields[-1]):
            expected = "qid 0 docid rel" if trec else "query-id<TAB>corpus-id<TAB>score"
            problems.append(Problem(str(path), number, f"expected '{expected}'; skipped"))
            continue
        qid, doc_id = fields[0], fields[2 if trec else 1]
        doc_ids, _ = relevant.setdefault(qid, ([], number))
        if int(fields[-1]) > 0 and doc_id not in doc_ids:
            doc_ids.append(doc_id)
    return relevant


def _join(texts: dict[str, tuple[str, Path, int]], relevant: dict[str, tuple[list[str], int]],
          problems: list[Problem], qrels_path: Path) -> QuestionSet:
    """Questions from their texts and qrels; questions missing either side are reported."""
    questions = []
    for qid, (text, path, number) in texts.items():
        doc_ids = relevant.get(qid, ([], 0))[0]
        if not text:
            problems.append(Problem(str(path), number, f"question {qid} has no question text; skipped"))
        elif not doc_ids:
            problems.append(Problem(str(path), number, f"question {qid} has no relevant letter in the qrels; skipped"))
        else:
            questions.append(Question(qid, text, answers=tuple(Answer(d) for d in doc_ids), source=str(path), line=number))
    for qid, (_, number) in relevant.items():
        if qid not in texts:
            problems.append(Problem(str(qrels_path), number, f"question {qid} is in the qrels but has no text; skipped"))
    return QuestionSet(tuple(questions), tuple(problems))


# --- locating quotes ---------------------------------------------------------------------------

def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True
