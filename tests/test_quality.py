"""CI guards the quality measured on the development set (docs/RETRIEVAL.md): `kamerqa eval` on the real
model fails below floors set a little under the measured figures; abstention likewise."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.cli import main
from tests.conftest import SHARED

pytestmark = pytest.mark.model

DEV = SHARED / "eval" / "dev_questions.jsonl"
UNANSWERABLE = Path(__file__).resolve().parents[1] / "eval" / "unanswerable.jsonl"  # written for eval/abstain.py
# measured (docs/RETRIEVAL.md) minus a small margin for numeric noise across machines
# (measured: hybrid hit@1 0.92, hit@5 1.00, mrr@10 0.951; dense hit@5 0.98, mrr@10 0.937)
FLOORS = {"hybrid": {"hit@1": 0.86, "hit@5": 0.96, "mrr@10": 0.91},
          "dense": {"hit@5": 0.94, "mrr@10": 0.89}}
# the answer on the same 50 and eval/unanswerable.jsonl (docs/RETRIEVAL.md, "The answer"), hybrid; measured
# answer@1 0.66, median 60 words, abstained wrongly 0.04, left out 0.88, unanswerable 0.95; guarded with a
# margin of one to three questions
ANSWER_FLOORS = {"answer@1": 0.62, "abstained_left_out": 0.82, "abstained_unanswerable": 0.85}
ANSWER_CEILINGS = {"abstained_wrongly": 0.10, "quoted_words_p50": 66}
EVAL = Path(__file__).resolve().parents[1] / "eval"
# all 245 dev questions (the 50 + eval/dev_nl.jsonl + eval/dev_en.jsonl) and all 92 unanswerable ones
# (eval/unanswerable*.jsonl); measured answer@1 0.596, median 60 words, abstained wrongly 0.033, left out
# 0.767, unanswerable 0.543; guarded with a margin of two to six questions
ALL_FLOORS = {"answer@1": 0.57, "abstained_left_out": 0.74, "abstained_unanswerable": 0.52}
ALL_CEILINGS = {"abstained_wrongly": 0.055, "quoted_words_p50": 64}


def test_dev_set_quality_floors(real_index, tmp_path, capsys):
    if not DEV.exists():
        pytest.skip(f"needs {DEV}")
    args = ["eval", "--questions", str(DEV), "--index", str(real_index.path), "--retriever", "hybrid,dense",
            "--json", str(tmp_path / "eval.json"), "--report", str(tmp_path / "report"), "--unanswerable", str(UNANSWERABLE)]
    for retriever, floors in FLOORS.items():
        if retriever == "hybrid":
            args += [item for metric, value in floors.items() for item in ("--fail-under", f"{metric}={value}")]
    assert main(args) == 0, capsys.readouterr().err
    results = json.loads((tmp_path / "eval.json").read_text())
    for retriever, floors in FLOORS.items():
        for metric, floor in floors.items():
            assert results[retriever][metric] >= floor, (retriever, metric, results[retriever][metric])
    assert results["hybrid"]["mrr@10"] >= results["dense"]["mrr@10"]
    for metric, floor in ANSWER_FLOORS.items():
        assert results["hybrid"][metric] >= floor, (metric, results["hybrid"][metric])
    for metric, ceiling in ANSWER_CEILINGS.items():
        assert results["hybrid"][metric] <= ceiling, (metric, results["hybrid"][metric])
    assert (tmp_path / "report" / "report.md").exists() and (tmp_path / "report" / "hit_at_k.png").exists()


def test_answer_figures_on_all_dev_sets(real_index, tmp_path, capsys):
    """The issue-10 figures on every written question, not only the 50 (hybrid only, no report)."""
    dev = [DEV, EVAL / "dev_nl.jsonl", EVAL / "dev_en.jsonl"]
    unanswerable = [UNANSWERABLE, EVAL / "unanswerable_nl.jsonl", EVAL / "unanswerable_en.jsonl"]
    if not all(p.exists() for p in dev + unanswerable):
        pytest.skip("needs ../shared/eval and eval/*.jsonl")
    (tmp_path / "dev.jsonl").write_text("".join(p.read_text() for p in dev))
    (tmp_path / "unanswerable.jsonl").write_text("".join(p.read_text() for p in unanswerable))
    assert main(["eval", "--questions", str(tmp_path / "dev.jsonl"), "--index", str(real_index.path),
                 "--unanswerable", str(tmp_path / "unanswerable.jsonl"), "--json", str(tmp_path / "eval.json")]) == 0
    result = json.loads((tmp_path / "eval.json").read_text())["hybrid"]
    assert result["n_unanswerable"] == 92
    for metric, floor in ALL_FLOORS.items():
        assert result[metric] >= floor, (metric, result[metric])
    for metric, ceiling in ALL_CEILINGS.items():
        assert result[metric] <= ceiling, (metric, result[metric])


def test_abstains_on_questions_the_corpus_cannot_answer(real_index):
    from qa.answer import compose_answer
    from qa.search import search

    questions = [json.loads(line)["question"] for line in
                 UNANSWERABLE.read_text().splitlines()]
    abstained = sum(not compose_answer(q, search(real_index, q, k=5), real_index).answered for q in questions)
    assert abstained >= 0.85 * len(questions)  # measured with 10 hits: 100% (docs/RETRIEVAL.md)
