"""Questions and their answers from the corpus itself: Kamervragen (written questions of members, with the
minister's numbered answers, in the Aanhangsel van de Handelingen of the large corpus).

Each set reads "Vragen van het lid X ... (Ingezonden <date>) 1 <question> 2 <question> ... Antwoord van
minister Y ... (Ontvangen <date>) 1 <answer> 2 <answer> ...". Question k is paired with answer k; an answer
numbered "1 en 2" or "1,2" answers both. OCR glues a number to the next word ("3I n principe") and mixes
columns, so a set whose numbering cannot be followed from 1 upwards is skipped, not guessed.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from corpus.chunk import split_sentences

SET_START = re.compile(r"Vragen van (?:de leden|het lid)")  # one set of questions per member(s)
ASKED = re.compile(r"\(Ingezonden[^)]{0,40}[)}]")  # the questions follow this
ANSWERED = re.compile(r"Antwoord\s+(?:Antwoord\s+)?van\b.{0,200}?\((?:Ontvangen|Ontvan-\s*gen)[^)]{0,40}\)", re.S)
NUMBER = re.compile(r"(?:(?<=\s)|^)(\d{1,2}(?:\s*(?:,|en)\s*\d{1,2})*)\s*(?=[A-Z«\"'(])")  # "2 ", "1,2en3", "3I"
PAGE_FOOT = re.compile(r"Tweede Kamer, (?:zitting|vergaderjaar)")  # the page's footer ends the last answer
MIN_WORDS = 4  # shorter sentences ("Ja.", "Neen.") say nothing without their question


def numbered(block: str) -> list[tuple[list[int], str]]:
    """The block's items by their numbers 1, 2, ... in order: [(numbers, text)]; a number out of order
    (a date, an amount) is text."""
    marks, expect = [], 1
    for m in NUMBER.finditer(block):
        numbers = [int(x) for x in re.findall(r"\d+", m.group(1))]
        if numbers[0] == expect and numbers == list(range(expect, expect + len(numbers))):
            marks.append((m.start(), m.end(), numbers))
            expect = numbers[-1] + 1
    ends = [start for start, _, _ in marks[1:]] + [len(block)]
    return [(numbers, block[end_of_mark:end].strip()) for (_, end_of_mark, numbers), end in zip(marks, ends)]


def question_sets(text: str) -> list[list[tuple[str, str]]]:
    """Per set of Kamervragen in a document: [(question, its answer)] for every question answered."""
    starts = [m.start() for m in SET_START.finditer(text)] + [len(text)]
    found = []
    for start, end in zip(starts, starts[1:]):
        part = text[start:end]
        asked, answered = ASKED.search(part), ANSWERED.search(part)
        if not asked or not answered or answered.start() < asked.end():
            continue
        questions = numbered(part[asked.end():answered.start()])
        answers = {n: answer for numbers, answer in numbered(PAGE_FOOT.split(part[answered.end():])[0])
                   for n in numbers}
        pairs = [(" ".join(q.split()), answers[numbers[0]]) for numbers, q in questions if numbers[0] in answers]
        if len(pairs) >= 2:  # one pair has no other answers to tell it from
            found.append(pairs)
    return found


def sentences(text: str) -> list[str]:
    return [s for a, b in split_sentences(text) if len((s := " ".join(text[a:b].split())).split()) >= MIN_WORDS]


def groups(path: Path) -> list[dict]:
    """{doc, question, answers: sentences of its answer, others: sentences of the other answers of its set}
    for every question of every set in a JSON-lines corpus file."""
    out = []
    for line in path.open(encoding="utf-8"):
        doc = json.loads(line)
        for pairs in question_sets(doc.get("text", "")):
            by_answer = {answer: sentences(answer) for _, answer in pairs}
            for question, answer in pairs:
                others = [s for other, said in by_answer.items() if other != answer for s in said]
                if len(question.split()) >= MIN_WORDS and by_answer[answer] and others:
                    out.append({"doc": doc["id"], "question": question, "answers": by_answer[answer],
                                "others": others})
    return out
