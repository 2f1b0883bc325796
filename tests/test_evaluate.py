"""`kamerqa eval` on tiny Dutch letters with a fake search function: numbers worked out by hand."""
from __future__ import annotations

import argparse
import json
import math

import pytest

from corpus.models import Hit, Letter, Passage
from qa.cli import main
from qa.cli_eval import add_arguments, run_evaluation
from qa.evaluate import evaluate
from qa.gold import locate_quote
from qa.questions import Answer, Question, QuestionSet, load_questions

TEXTS = {
    "brief-a": "Geachte voorzitter,\n\nDe sluis in de Oesterdam wordt een conventionele sluis.\n\n"
               "De kosten bedragen 40 miljoen gulden.\n\nDe minister van Verkeer en Waterstaat",
    "brief-b": "Geachte voorzitter,\n\nZo is het de be-\ndoeling ongeveer 400 000 werkgevers\nrelevante "
               "informatie toe te zenden.\n\nDe staatssecretaris van CRM",
    "brief-c": "Geachte voorzitter,\n\nHet oefenterrein neemt af van 23 000 ha tot 17 000 ha.\n\n"
               "De minister van Defensie",
}
LETTERS = {i: Letter(i, t, title=f"Brief {i[-1].upper()}") for i, t in TEXTS.items()}


def passages_of(letter: Letter) -> list[Passage]:
    """One passage per paragraph (blank-line separated), with its raw span."""
    out, start = [], 0
    for number, block in enumerate(letter.text.split("\n\n"), start=1):
        out.append(Passage(letter.id, number, start, start + len(block), block, " ".join(block.split())))
        start += len(block) + 2
    return out


PASSAGES = {(p.letter_id, p.paragraph): p for letter in LETTERS.values() for p in passages_of(letter)}


def fake_search(ranking: dict[str, list[tuple[str, int]]]):
    """A search_fn returning, for each question text, the given (letter id, paragraph) list."""
    calls = []

    def search(question: str, k: int) -> list[Hit]:
        calls.append((question, k))
        keys = ranking.get(question, [])[:k]
        return [Hit(PASSAGES[key], 1.0 - i / 100, LETTERS[key[0]]) for i, key in enumerate(keys)]

    search.calls = calls
    return search


QUESTIONS = QuestionSet((
    Question("q1", "Welke sluis in de Oesterdam?", "nl", "fact",
             (Answer("brief-a", "De sluis in de Oesterdam wordt een conventionele sluis."),)),
    Question("q2", "How many employers?", "en", "number",
             (Answer("brief-b", "ongeveer 400 000 werkgevers"),)),
    Question("q3", "Hoeveel hectare oefenterrein?", "nl", "number",
             (Answer("brief-c", "van 23 000 ha tot 17 000 ha"),)),
))
# q1: answer at rank 1; q2: answer at rank 3 (its letter at rank 1); q3: never retrieved.
RANKING = {
    "Welke sluis in de Oesterdam?": [("brief-a", 2), ("brief-b", 2), ("brief-a", 3)],
    "How many employers?": [("brief-b", 1), ("brief-a", 1), ("brief-b", 2), ("brief-a", 2)],
    "Hoeveel hectare oefenterrein?": [("brief-a", 1), ("brief-b", 3)],
}


def test_metrics_worked_out_by_hand():
    search = fake_search(RANKING)
    result = evaluate(QUESTIONS, LETTERS, {"fake": search}).results["fake"]
    assert result["n"] == 3
    assert result["hit@1"] == pytest.approx(1 / 3)
    assert result["hit@3"] == result["hit@5"] == result["hit@10"] == pytest.approx(2 / 3)
    assert result["mrr@10"] == pytest.approx((1 + 1 / 3 + 0) / 3)
    # one answer each: nDCG = 1 / log2(rank + 1); rank 1 -> 1, rank 3 -> 1/2, miss -> 0
    assert result["ndcg@10"] == pytest.approx((1 + 1 / math.log2(4) + 0) / 3)
    assert result["letter_hit@1"] == pytest.approx(2 / 3)
    assert [row["rank"] for row in result["per_question"]] == [1, 3, None]
    assert [row["hit@1"] for row in result["per_question"]] == [1, 0, 0]
    assert result["by_lang"]["en"]["hit@5"] == 1 and result["by_lang"]["nl"]["hit@5"] == 0.5
    assert result["by_type"]["number"]["mrr@10"] == pytest.approx((1 / 3 + 0) / 2)
    assert result["hit_curve"][:3] == pytest.approx([1 / 3, 1 / 3, 2 / 3])
    assert len(result["hit_curve"]) == 20
    assert {k for _, k in search.calls} == {20}  # once per question, 20 deep for the plot
    assert len(search.calls) == 3


def test_recall_with_two_answers():
    q = Question("q", "Oesterdam kosten?", answers=(Answer("brief-a", "De kosten bedragen 40 miljoen gulden."),
                                                    Answer("brief-c", "van 23 000 ha tot 17 000 ha")))
    search = fake_search({"Oesterdam kosten?": [("brief-b", 2), ("brief-a", 3)]})
    result = evaluate(QuestionSet((q,)), LETTERS, {"fake": search}).results["fake"]
    assert result["recall@5"] == pytest.approx(0.5)
    assert result["hit@1"] == 0 and result["hit@3"] == 1
    ideal = 1 + 1 / math.log2(3)  # two answers, both on top
    assert result["ndcg@10"] == pytest.approx((1 / math.log2(3)) / ideal)


def test_same_passage_twice_counts_once():
    q = QUESTIONS.questions[0]
    search = fake_search({q.question: [("brief-a", 2), ("brief-a", 2)]})
    result = evaluate(QuestionSet((q,)), LETTERS, {"fake": search}).results["fake"]
    assert result["recall@10"] == 1 and result["ndcg@10"] == 1


def test_quote_with_other_line_breaks_and_hyphenation_is_found():
    text = TEXTS["brief-b"]
    quote = "Zo is het de bedoeling ongeveer 400 000 werkgevers relevante informatie toe te zenden."
    start, end = locate_quote(text, quote)
    assert text[start:end] == "Zo is het de be-\ndoeling ongeveer 400 000 werkgevers\nrelevante informatie toe te zenden."


def test_quote_with_ocr_fix_is_found_fuzzily():
    text = "Aanhef.\n\nHet beslag aan oefen-\nterreinen zal afnemen tot 17 O00 ha, aldus de minister.\n\nSlot."
    start, end = locate_quote(text, "Het beslag aan oefenterreinen zal afnemen tot 17 000 ha")
    assert text[start:end].startswith("Het beslag") and text[start:end].endswith("ha")


def test_question_the_retriever_refuses_is_a_problem_and_a_miss():
    def refusing(question: str, k: int) -> list[Hit]:
        if "employers" in question:
            raise ValueError("the question is too long")
        return fake_search(RANKING)(question, k)

    evaluation = evaluate(QUESTIONS, LETTERS, {"fake": refusing})
    assert evaluation.results["fake"]["hit@10"] == pytest.approx(1 / 3)
    assert any("q2: fake refused it" in str(p) for p in evaluation.problems)


def test_garbage_quote_is_a_question_set_problem_not_a_miss():
    bad = Question("bad", "Iets?", answers=(Answer("brief-a", "Dit citaat staat helemaal nergens in deze brief."),), source="set.jsonl", line=7)
    evaluation = evaluate(QuestionSet((bad, QUESTIONS.questions[0])), LETTERS, {"fake": fake_search(RANKING)})
    assert evaluation.results["fake"]["n"] == 1
    assert any("set.jsonl:7" in str(p) and "quote not found in letter brief-a" in str(p) for p in evaluation.problems)


def test_kamerqa_jsonl_bad_lines_are_reported_with_line_numbers(tmp_path):
    good = {"id": "q1", "question": "Welke sluis in de Oesterdam?", "lang": "nl", "type": "fact",
            "answers": [{"doc_id": "brief-a", "quote": "een conventionele sluis"}]}
    lines = [json.dumps(good), "{niet json", json.dumps({"id": "q2", "question": "  ", "answers": good["answers"]}),
             json.dumps({"id": "q3", "question": "Wie?", "answers": [{"doc_id": "brief-x", "quote": "x"}]}),
             json.dumps(good)]
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    evaluation = evaluate(load_questions(path), LETTERS, {"fake": fake_search(RANKING)})
    problems = {}
    for problem in evaluation.problems:
        problems[problem.line] = problems.get(problem.line, "") + problem.message
    assert set(problems) == {2, 3, 4, 5}
    assert "not valid JSON" in problems[2] and "no question text" in problems[3]
    assert "brief-x is not in the index" in problems[4] and "duplicate" in problems[5]
    assert evaluation.results["fake"]["n"] == 1 and evaluation.results["fake"]["hit@1"] == 1


def write_beir(folder):
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": i, "text": t}) + "\n" for i, t in TEXTS.items()))
    queries = [("b1", "Welke sluis in de Oesterdam?"), ("b2", "How many employers?"), ("b3", "Hoeveel hectare oefenterrein?")]
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": i, "text": t}) + "\n" for i, t in queries))
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nb1\tbrief-a\t1\nb2\tbrief-a\t1\nb3\tbrief-c\t1\nb3\tbrief-b\t0\n")


def test_beir_folder_letter_level(tmp_path):
    write_beir(tmp_path)
    question_set = load_questions(tmp_path)
    assert question_set.problems == ()
    result = evaluate(question_set, LETTERS, {"fake": fake_search(RANKING)}).results["fake"]
    # letter-level: b1 brief-a at rank 1; b2 brief-a at rank 2; b3 brief-c never (brief-b has score 0)
    assert [row["rank"] for row in result["per_question"]] == [1, 2, None]
    assert result["hit@1"] == pytest.approx(1 / 3) and result["hit@3"] == pytest.approx(2 / 3)
    assert result["mrr@10"] == pytest.approx((1 + 1 / 2) / 3)
    assert result["ndcg@10"] == pytest.approx((1 + 1 / math.log2(3)) / 3)


def test_trec_qrels_and_queries(tmp_path):
    (tmp_path / "qrels.txt").write_text("t1 0 brief-b 1\nt1 0 brief-a 1\nt2 0 brief-c 2\nkapot\nt9 0 brief-a 1\n")
    (tmp_path / "queries.tsv").write_text("t1\tHow many employers?\nt2\tHoeveel hectare oefenterrein?\n")
    question_set = load_questions(tmp_path / "qrels.txt", queries=tmp_path / "queries.tsv")
    assert [q.answers for q in question_set.questions] == [(Answer("brief-b"), Answer("brief-a")), (Answer("brief-c"),)]
    assert sorted(p.line for p in question_set.problems) == [4, 5]  # malformed line; t9 has no text
    result = evaluate(question_set, LETTERS, {"fake": fake_search(RANKING)}).results["fake"]
    # t1: both letters relevant, found at ranks 1 and 2 -> recall 1, nDCG 1; t2: miss
    assert result["hit@1"] == 0.5 and result["recall@5"] == 0.5 and result["ndcg@10"] == pytest.approx(0.5)


def parse(*argv):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.fixture
def question_file(tmp_path):
    path = tmp_path / "set.jsonl"
    rows = [{"id": q.id, "question": q.question, "lang": q.lang, "type": q.type,
             "answers": [{"doc_id": a.doc_id, "quote": a.quote} for a in q.answers]} for q in QUESTIONS.questions]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_fail_under_sets_the_exit_code(question_file, capsys):
    fns = {"fake": fake_search(RANKING)}
    assert run_evaluation(parse("--questions", str(question_file), "--fail-under", "hit@1=0.3"), LETTERS, fns) == 0
    assert run_evaluation(parse("--questions", str(question_file), "--fail-under", "hit@1=0.3",
                                "--fail-under", "hit@5=0.7"), LETTERS, fns) == 1
    assert "hit@5 = 0.667 is below 0.7" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown metric 'hit@7'"):
        run_evaluation(parse("--questions", str(question_file), "--fail-under", "hit@7=0.5"), LETTERS, fns)


def test_strict_fails_on_question_set_problems(question_file):
    with open(question_file, "a") as f:
        f.write("{kapot\n")
    fns = {"fake": fake_search(RANKING)}
    assert run_evaluation(parse("--questions", str(question_file)), LETTERS, fns) == 0
    assert run_evaluation(parse("--questions", str(question_file), "--strict"), LETTERS, fns) == 1


def test_json_to_stdout_has_the_agreed_keys(question_file, capsys):
    fns = {"dense": fake_search(RANKING), "bm25": fake_search({})}
    assert run_evaluation(parse("--questions", str(question_file), "--json", "-"), LETTERS, fns) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data) == ["dense", "bm25"]
    for key in ("hit@1", "hit@3", "hit@5", "hit@10", "mrr@10", "ndcg@10", "n", "per_question"):
        assert key in data["dense"]
    assert {"id", "rank", "hit@5"} <= set(data["dense"]["per_question"][0])
    assert set(data["bm25"]["significance"]["p"]) == {"hit@5", "mrr@10", "ndcg@10"}


def test_report_folder(question_file, tmp_path):
    out = tmp_path / "report"
    assert run_evaluation(parse("--questions", str(question_file), "--report", str(out)), LETTERS,
                          {"fake": fake_search(RANKING)}) == 0
    report = (out / "report.md").read_text()
    assert (out / "hit_at_k.png").read_bytes().startswith(b"\x89PNG")
    assert "![Hit@k" in report and "hit_at_k.png" in report
    assert "### q3" in report and "retrieved 1: `brief-a#0`" in report  # the miss, and what came instead
    assert "q1 Q0 brief-a#" in (out / "run.fake.trec").read_text()


def test_eval_command_on_a_real_index_and_its_user_errors(question_file, tmp_path, capsys):
    """`kamerqa eval` end to end on an index of the three letters (fake embedder): retrieval and answer
    metrics for two retrievers; an unknown retriever or a missing set is one line and exit code 2."""
    for letter in LETTERS.values():
        (tmp_path / f"{letter.id}.txt").write_text(letter.text, encoding="utf-8")
    index = str(tmp_path / "index")
    assert main(["index", "--corpus", str(tmp_path), "--index", index, "--model", "fake", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["eval", "--index", index, "--questions", str(question_file), "--retriever", "dense,bm25",
                 "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data) == ["dense", "bm25"] and data["bm25"]["n"] == 3
    assert {"answer@1", "quoted_words_p50", "abstained_wrongly"} <= set(data["bm25"])
    assert main(["eval", "--index", index, "--questions", str(question_file), "--retriever", "colbert"]) == 2
    err = capsys.readouterr().err
    assert "unknown retriever colbert; choose from bm25, dense, hybrid, sentence" in err and err.count("\n") == 1
    assert main(["eval", "--index", index, "--questions", str(tmp_path / "missing.jsonl")]) == 2
    assert "does not exist" in capsys.readouterr().err
