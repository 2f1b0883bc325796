"""What `kamerqa eval` writes: the terminal table, the JSON, and the report folder
(report.md, a Hit@k plot, TREC run and qrels files)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from qa.evaluate import CUTOFFS, PLOT_DEPTH, Evaluation, passage_answers

TABLE_METRICS = tuple(f"hit@{c}" for c in CUTOFFS) + ("mrr@10", "ndcg@10", "recall@10", "letter_hit@5")


def format_table(evaluation: Evaluation) -> str:
    """One row per retriever, then per retriever a row per language and per question type."""
    header = ["retriever", "group", "n", *TABLE_METRICS, "ms_p50"]
    rows = []
    for name, result in evaluation.results.items():
        rows.append([name, "all", result["n"], *(result[m] for m in TABLE_METRICS), f"{result.get('ms_p50', 0):.0f}"])
        for key in ("by_lang", "by_type"):
            for value, group in result[key].items():
                rows.append([name, f"{key[3:]}={value}", group["n"], *(group[m] for m in TABLE_METRICS), ""])
    cells = [header] + [[f"{c:.3f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += _answer_lines(evaluation)
    lines += _significance_lines(evaluation)
    return "\n".join(lines)


def _answer_lines(evaluation: Evaluation) -> list[str]:
    """The answer metrics, when they were measured: one line per retriever."""
    lines = []
    for name, result in evaluation.results.items():
        if "answer@1" in result:
            parts = [f"answer@1 {result['answer@1']:.3f}", f"median words quoted {result['quoted_words_p50']:.0f}",
                     f"abstained wrongly {result['abstained_wrongly']:.3f}"]
            parts += [f"{key.replace('_', ' ')} {result[key]:.3f}" for key in ("abstained_left_out", "abstained_unanswerable")
                      if key in result]
            lines.append(f"{name} answers: " + ", ".join(parts))
    return [""] + lines if lines else []


def _significance_lines(evaluation: Evaluation) -> list[str]:
    lines = []
    for name, result in evaluation.results.items():
        if "significance" in result:
            sig = result["significance"]
            p = ", ".join(f"{m} p={v:.3f}" for m, v in sig["p"].items())
            lines.append(f"{name} vs {sig['against']} ({sig['test']}): {p}")
    return [""] + lines if lines else []


def write_json(evaluation: Evaluation, dest: str) -> None:
    """Write the results as JSON to a path, or to stdout when `dest` is "-"."""
    text = json.dumps(evaluation.results, indent=2, ensure_ascii=False)
    if dest == "-":
        sys.stdout.write(text + "\n")
    else:
        Path(dest).write_text(text + "\n", encoding="utf-8")


def plot_hit_curve(evaluation: Evaluation, path: Path) -> Path:
    """A PNG of Hit@k for k = 1..20, one line per retriever."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ks = list(range(1, PLOT_DEPTH + 1))
    for name, result in evaluation.results.items():
        ax.plot(ks, result["hit_curve"], marker="o", markersize=3, label=name)
    ax.set(xlabel="k (passages retrieved)", ylabel="Hit@k", ylim=(0, 1.02), xticks=ks,
           title=f"Hit@k on {len(evaluation.questions)} questions")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_trec_files(evaluation: Evaluation, folder: Path) -> list[Path]:
    """`qrels.trec` and one `run.<retriever>.trec` per retriever.

    Passage ids are `<letter id>#<start>`; the qrels name, per question, the retrieved passages
    that answer it (by any retriever), so trec_eval/ranx give the same Hit@k and MRR as here.
    """
    relevant: dict[str, set[str]] = {}
    paths = []
    for name, run in evaluation.runs.items():
        lines = []
        for qid, hits in run.items():
            for rank, hit in enumerate(hits, start=1):
                lines.append(f"{qid} Q0 {hit.passage.id} {rank} {hit.score:.6f} {name}")
                if any(passage_answers(hit.passage, span) for span in evaluation.gold[qid]):
                    relevant.setdefault(qid, set()).add(hit.passage.id)
        paths.append(folder / f"run.{name}.trec")
        paths[-1].write_text("\n".join(lines) + "\n", encoding="utf-8")
    qrels = [f"{qid} 0 {pid} 1" for qid, pids in relevant.items() for pid in sorted(pids)]
    (folder / "qrels.trec").write_text("\n".join(qrels) + "\n", encoding="utf-8")
    return [folder / "qrels.trec", *paths]


def write_report(evaluation: Evaluation, folder: str | Path, *, shown: int = 3) -> Path:
    """report.md with the table, the plot, the question-set problems and every miss with what
    was retrieved instead (the top `shown` passages)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    plot = plot_hit_curve(evaluation, folder / "hit_at_k.png")
    trec = write_trec_files(evaluation, folder)
    parts = ["# kamerqa eval report", "", f"{len(evaluation.questions)} questions scored; "
             f"{len(evaluation.problems)} question-set problems.", "", "```", format_table(evaluation), "```", "",
             f"![Hit@k for k = 1..{PLOT_DEPTH}]({plot.name})", "",
             "TREC files for trec_eval/ranx: " + ", ".join(f"`{p.name}`" for p in trec), ""]
    if evaluation.problems:
        parts += ["## Question-set problems", ""] + [f"- {p}" for p in evaluation.problems] + [""]
    for name in evaluation.results:
        parts += _misses(evaluation, name, shown)
    path = folder / "report.md"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def _misses(evaluation: Evaluation, name: str, shown: int) -> list[str]:
    rows = {row["id"]: row for row in evaluation.results[name]["per_question"]}
    parts = [f"## Misses of `{name}` (no answer in the top 10)", ""]
    for q in evaluation.questions:
        if rows[q.id]["hit@10"]:
            continue
        rank = rows[q.id]["rank"]
        parts.append(f"### {q.id} ({q.lang or '?'}, {q.type or '?'}): {q.question}")
        parts.append(f"- first answer at rank {rank}" if rank else f"- no answer in the top {PLOT_DEPTH}")
        for span in evaluation.gold[q.id]:
            where = f" chars {span.start}-{span.end}" if span.start is not None else ""
            parts.append(f"- expected: letter `{span.doc_id}`{where}")
        for i, hit in enumerate(evaluation.runs[name][q.id][:shown], start=1):
            snippet = " ".join(hit.passage.text.split())[:200]
            parts.append(f"- retrieved {i}: `{hit.passage.id}` ({hit.letter.title or 'untitled'}, "
                         f"{hit.letter.date or 'no date'}): {snippet}")
        parts.append("")
    return parts
