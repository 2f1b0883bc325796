"""The browser app: ask a question of the letters, read an answer whose every sentence cites a passage,
and check each passage in its letter without leaving the page.

    python app.py [--index DIR] [--host 127.0.0.1] [--port 7860] [--no-login]     (= kamerqa serve)

`build_demo(index)` makes the Gradio Blocks; its handlers are plain functions that call `qa`. The ask
event is the API endpoint `/ask` (docs/APP.md)."""
from __future__ import annotations

import re
import sys

if __name__ == "__main__":  # `python app.py [flags]` is `kamerqa serve [flags]` (Gradio loads beside the index)
    from qa.cli import main

    sys.exit(main(["serve", *sys.argv[1:]]))

import tempfile
import uuid
from functools import partial
from pathlib import Path

from qa.gradio_import import import_gradio  # noqa: E402

gr = import_gradio()  # analytics off, and without the start-up work Gradio does for its own developers

from corpus.models import Hit  # noqa: E402
from qa import feedback  # noqa: E402
from qa.answer import compose_answer, no_answer_message  # noqa: E402
from qa.conversation import ask as ask_in_conversation  # noqa: E402
from qa.access import login_for  # noqa: E402
from qa.llm import llm_answer  # noqa: E402
from qa.llm_client import LLMConfig  # noqa: E402
from qa.llm_stream import stream_answer  # noqa: E402
from qa.render import cite, letter_view, markdown_text, source_card, tidy  # noqa: E402
from qa.search import Filters, QuestionError, filter_mask, open_warm  # noqa: E402

EXAMPLES = [
    "Wat wil Nederland op het gebied van secundaire migratie?",
    "What does the Netherlands want regarding secondary migration?",
    "Waarom mag het OM strafrechtelijke gegevens over voetbalvandalen aan de KNVB geven?",
    "What did the Minister of Verkeer en Waterstaat decide in June 1983 about the lock in the Oesterdam?",
]
SOURCES_PLACEHOLDER = "<h3>Sources</h3><p>The passages behind each answer appear here.</p>"
_DATE = re.compile(r"^\d{4}(-\d{2}-\d{2})?$")
SCROLL_TO_CITED = ("() => { setTimeout(() => { const el = document.getElementById('kq-cited');"
                   " if (el) el.scrollIntoView({block: 'center'}); }, 150); }")
CSS = """
.kq-source { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 12px; margin: 0 0 10px; }
.kq-meta { font-size: 0.85em; color: var(--body-text-color-subdued); }
.kq-passage { margin: 6px 0; }
.kq-passage mark, .kq-letter mark { background: #ffe066; color: #000; }
.kq-letter-body { white-space: pre-wrap; max-height: 60vh; overflow-y: auto; font-size: 0.9em; }
.kq-cited { background: #e7f0ff; outline: 2px solid #7aa7ff; }
"""


# ---- handlers -------------------------------------------------------------------------------------

def read_filters(date_from: str, date_to: str, sender: str | None, dossier: str | None) -> Filters:
    date_from, date_to = (date_from or "").strip(), (date_to or "").strip()
    for name, value in (("From", date_from), ("To", date_to)):
        if value and not _DATE.match(value):
            raise gr.Error(f"{name} date '{value}' is not a date; use a year (1985) or yyyy-mm-dd (1985-06-30)")
    return Filters(date_from, date_to, (sender or "").strip(), (dossier or "").strip())


def llm_body(llm) -> str:
    """The checked LLM answer for the chat: the supported sentences, then those dropped and why."""
    body = " ".join(markdown_text(s.text) for s in llm.shown)
    dropped = [s for s in llm.sentences if not s.supported]
    if dropped:
        body += "\n\n*Dropped as unsupported:*\n" + "\n".join(
            f"- ~~{markdown_text(s.text)}~~ ({markdown_text('; '.join(s.problems))})" for s in dropped)
    if not llm.done:
        return body + "\n\n*Writing… each sentence appears once it has been checked against its passage.*"
    return body + f"\n\n*Written by the LLM {markdown_text(llm.model)}; every sentence shown was checked against the passage it cites.*"


def answer_turn(index, question: str, filters: Filters, previous=None, llm: LLMConfig | None = None) -> dict:
    """One question answered as the next turn after `previous` (a qa.conversation.Turn, or None): the chat
    message, the sources panel, and what export, feedback and the next follow-up need."""
    scope = filters.describe()
    mask = filter_mask(index, filters)
    if mask is not None and not mask.any():
        message = f"No letter matches the filters ({scope}). Widen or clear them and ask again."
        return {"question": question, "message": message, "sources": "", "choices": [], "markdown": message,
                "passage_ids": [], "filters": scope, "turn": previous}
    turn = ask_in_conversation(index, question, [previous] if previous else [], filters, k=10, compose=compose_answer)
    written = llm_answer(llm, turn.resolved.query, list(turn.hits), index) if llm and turn.answer.answered else None
    return render_turn(question, turn, written)


def render_turn(question: str, turn, written=None) -> dict:
    """The turn for the page: the written answer when it stands (`written`, a qa.llm.LLMAnswer), else the
    extractive one (with the reason the written one fell back)."""
    answer, scope = turn.answer, turn.resolved.filters.describe()
    if written is not None and not written.fallback:
        shown = [(f"[{n}]", written.passages[n - 1], None, written.passages[n - 1].passage.paragraph)
                 for n in sorted({n for s in written.shown for n in s.citations})]
    else:
        shown = ([(f"[{c.number}]", c.hit, c.sentence, c.paragraph) for c in answer.citations] if answer.answered
                 else [(f"({n})", h, None, h.passage.paragraph) for n, h in enumerate(answer.related, start=1)])
    if written is not None and not written.fallback:
        body = llm_body(written)
    elif answer.answered:
        body = " ".join(f"{markdown_text(c.sentence_text())} [{c.number}]" for c in answer.citations)
    else:
        body = no_answer_message(answer.language) + "\n\n" + "\n".join(
            f"- ({n}) {markdown_text(h.letter.title or h.letter.id)}, {h.letter.date}: {markdown_text(tidy(h.passage.text)[:160])}…"
            for n, h in enumerate(answer.related, start=1))
    if written is not None and written.fallback:
        body += f"\n\n*LLM answer not shown: {markdown_text(written.fallback)}; this is the extractive answer.*"
    refs = "\n".join(f"{label} {markdown_text(cite(hit, paragraph))}" for label, hit, _, paragraph in shown)
    searched = f"*Searched letters {scope}.*".replace("….", "…") if scope else "*Searched all letters.*"
    if turn.resolved.follow_up:
        searched += f" *Follow-up, {markdown_text(turn.resolved.follow_up)}: searched for {markdown_text(turn.resolved.query)}*"
    if turn.letter_facts():
        searched += f"\n\n*{markdown_text(turn.letter_facts())}*"
    message = f"{body}\n\n{searched}\n\n{refs}".strip()
    title = "Sources" if answer.answered else "Possibly relevant"
    sources = f"<h3>{title}</h3>" + "".join(source_card(*shown_one) for shown_one in shown)
    return {"question": question, "message": message, "sources": sources, "markdown": message,
            "choices": [(f"{label} {hit.letter.id}, paragraph {paragraph}",
                         f"{hit.letter.id}|{hit.passage.start}|{s[0] if s else ''}|{s[1] if s else ''}")
                        for label, hit, s, paragraph in shown],
            "passage_ids": [hit.passage.id for _, hit, _, _ in shown], "filters": scope, "turn": turn,
            "llm": written.to_json() if written is not None else None}


def _previous(turns):
    return next((t.get("turn") for t in reversed(turns or []) if t.get("turn") is not None), None)


def _appended(history, turns, turn):
    history = list(history or []) + [{"role": "user", "content": turn["question"].strip()},
                                      {"role": "assistant", "content": turn["message"]}]
    turn["message_index"] = len(history) - 1
    return history, list(turns or []) + [turn], turn["sources"]


def _friendly(e: QuestionError) -> gr.Error:
    return gr.Error(str(e)[:1].upper() + str(e)[1:])


def ask(index, question, history, turns, date_from="", date_to="", sender="", dossier="", use_llm=False, llm=None):
    """The /ask endpoint: returns the chat history with the answer appended, and the sources panel. A
    question that refers back ("die brief", "daarover", "and in 1990?") is resolved against the last turn."""
    filters = read_filters(date_from, date_to, sender, dossier)
    try:
        turn = answer_turn(index, question, filters, _previous(turns), llm if use_llm else None)
    except QuestionError as e:
        raise _friendly(e) from None
    return _appended(history, turns, turn)


def ask_stream(index, question, history, turns, date_from="", date_to="", sender="", dossier="", use_llm=True,
               llm=None):
    """/ask when an LLM is configured: the extractive answer at once, then the written answer sentence by
    sentence as each passes its checks, then the final answer (written, or extractive with the reason)."""
    filters = read_filters(date_from, date_to, sender, dossier)
    mask = filter_mask(index, filters)
    if not (use_llm and llm) or (mask is not None and not mask.any()):
        yield ask(index, question, history, turns, date_from, date_to, sender, dossier)
        return
    try:
        turn = ask_in_conversation(index, question, [_previous(turns)] if _previous(turns) else [], filters, k=10,
                                   compose=compose_answer)
    except QuestionError as e:
        raise _friendly(e) from None
    if not turn.answer.answered:
        yield _appended(history, turns, render_turn(question, turn))
        return
    for written in stream_answer(llm, turn.resolved.query, list(turn.hits), index):
        yield _appended(history, turns, render_turn(question, turn, written))


def after_ask(turns):
    """List the latest sources for 'show the whole letter', refresh the export, close the old letter.
    (The question stays in its box, to refine it; clearing it here would race a fast next question.)"""
    latest = turns[-1] if turns else {"choices": []}
    choices = latest["choices"]
    return gr.update(choices=choices, value=choices[0][1] if choices else None), export_conversation(turns), ""


def show_letter(index, choice: str | None) -> str:
    if not choice:
        raise gr.Error("Ask a question first, then choose one of its sources")
    letter_id, start, s, e = choice.split("|")
    passage = index.passages_by_id.get(f"{letter_id}#{start}")
    if passage is None:
        raise gr.Error(f"Passage {letter_id}#{start} is not in this index; ask the question again")
    hit = Hit(passage, 0.0, index.letters[letter_id])
    return letter_view(hit, (int(s), int(e)) if s else None)


def export_conversation(turns) -> str | None:
    """The conversation as a Markdown file (question, answer with markers, full citations); its path."""
    if not turns:
        return None
    parts = ["# kamerqa conversation\n"]
    for turn in turns:
        parts.append(f"## {turn['question'].strip()}\n\n{turn['markdown']}\n")
    folder = Path(tempfile.gettempdir()) / "kamerqa-exports"
    folder.mkdir(exist_ok=True)
    path = folder / f"kamerqa-conversation-{uuid.uuid4().hex[:8]}.md"
    path.write_text("\n".join(parts), encoding="utf-8")
    return str(path)


def give_feedback(turns, like: gr.LikeData) -> None:
    """Store a thumbs up/down for the answer it was given on ($KAMERQA_FEEDBACK_DB or the user data folder)."""
    turn = next((t for t in turns or [] if t.get("message_index") == like.index), None)
    if turn is None or like.liked not in (True, False):
        return
    feedback.record_feedback("up" if like.liked else "down", turn["question"], turn["markdown"],
                             turn["passage_ids"], turn["filters"])
    gr.Info("Thank you; your feedback is saved.")


def clear():
    return [], [], SOURCES_PLACEHOLDER, "", gr.update(choices=[], value=None), None


# ---- layout ---------------------------------------------------------------------------------------

def build_demo(index, llm: LLMConfig | None = None) -> gr.Blocks:
    columns = index.letter_columns  # the distinct senders and dossiers (no letter's text is read)
    senders = sorted(s for s in columns.values["sender"] if s)
    dossiers = sorted(d for d in columns.values["dossier"] if d)
    with gr.Blocks(title="kamerqa") as demo:
        gr.Markdown(f"## kamerqa: ask the Kamerbrieven\nAsk in Dutch or English. Every answer sentence is quoted "
                    f"from a letter and cited; check it in the sources panel. {len(index.letters)} letters indexed.")
        turns = gr.State([])
        with gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(label="Answers", height=480, elem_id="kq-chat", latex_delimiters=[],
                                     buttons=["copy"])
                question = gr.Textbox(label="Question", placeholder="Wat wil Nederland met het GEAS?",
                                      elem_id="kq-question", lines=1, max_lines=4)
                with gr.Row():
                    ask_button = gr.Button("Ask", variant="primary", elem_id="kq-ask")
                    clear_button = gr.Button("Clear", elem_id="kq-clear")
                    download = gr.DownloadButton("Download (Markdown)", value=None, elem_id="kq-export")
                use_llm = gr.Checkbox(True, label=f"Write the answer with the LLM at {llm.url if llm else ''} (every sentence is "
                                      "checked against its passage)", elem_id="kq-llm", visible=llm is not None)
                gr.Examples(EXAMPLES, inputs=question, label="Examples")
                with gr.Accordion("Filters (apply to the next question)", open=False, elem_id="kq-filters"):
                    with gr.Row():
                        date_from = gr.Textbox("", label="From", placeholder="1980 or 1980-01-31", elem_id="kq-from")
                        date_to = gr.Textbox("", label="To", placeholder="1990 or 1990-12-31", elem_id="kq-to")
                    sender = gr.Dropdown([""] + senders, value="", label="Sender / ministry", filterable=True,
                                         allow_custom_value=True, elem_id="kq-sender")
                    dossier = gr.Dropdown([""] + dossiers, value="", label="Dossier", filterable=True,
                                          allow_custom_value=True, elem_id="kq-dossier")
            with gr.Column(scale=2):
                sources = gr.HTML(SOURCES_PLACEHOLDER, label="Sources",
                                  elem_id="kq-sources", js_on_load=None)
                choice = gr.Radio([], label="Source to read in full", elem_id="kq-choice")
                show_button = gr.Button("Show the whole letter", elem_id="kq-show")
                letter = gr.HTML("", elem_id="kq-letter", js_on_load=None)

        inputs = [question, chatbot, turns, date_from, date_to, sender, dossier] + ([use_llm] if llm else [])
        ask_fn = partial(ask_stream if llm else ask, index, llm=llm)
        ask_fn.__name__ = "ask"
        at_once = dict(concurrency_limit=CONCURRENT_QUESTIONS)  # per event: .queue() would build the app once more
        private = dict(api_visibility="private", **at_once)
        after = dict(fn=after_ask, inputs=turns, outputs=[choice, download, letter], show_progress="hidden", **private)
        ask_button.click(ask_fn, inputs, [chatbot, turns, sources], api_name="ask", **at_once).then(**after)
        question.submit(ask_fn, inputs, [chatbot, turns, sources], **private).then(**after)
        show_button.click(partial(show_letter, index), choice, letter, **private).then(
            None, None, None, js=SCROLL_TO_CITED, **at_once)
        chatbot.like(give_feedback, turns, None, **private)
        cleared = [chatbot, turns, sources, letter, choice, download]
        clear_button.click(clear, None, cleared, **private)
        chatbot.clear(clear, None, cleared, **private)
    return demo


CONCURRENT_QUESTIONS = 8  # questions answered at once (search releases the GIL in numpy, faiss, OpenVINO)


def serve(index: Path | None = None, model: str | None = None, host: str = "127.0.0.1", port: int = 7860,
          no_login: bool = False, llm: LLMConfig | None = None) -> int:
    """Load the index and serve the app until interrupted (with `llm`, answers are written by it and checked)."""
    auth = login_for(host, no_login)  # refuse before the slow part
    return serve_searcher(open_warm(index, model), host, port, auth, llm)


def serve_searcher(searcher, host: str, port: int, auth, llm: LLMConfig | None = None) -> int:
    """Serve the app for a loaded searcher until interrupted."""
    demo = build_demo(searcher, llm)
    demo.launch(server_name=host, server_port=port, share=False, auth=auth, css=CSS, ssr_mode=False,
                show_error=False, footer_links=["api"])
    return 0

