"""The optional LLM answer: a scripted OpenAI-compatible server on 127.0.0.1 sends good and bad replies,
and every bad one must be caught (the sentence dropped, or the extractive answer shown with the reason)."""
from __future__ import annotations

import json
import os
import socket
import threading
import time
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from qa.answer import compose_answer

from qa import cli
from tests.conftest import answer_always
from qa.llm import SentenceCheck, check_reply, llm_answer, split_sentences
from qa.llm_client import LLMConfig
from qa.llm_stream import stream_answer
from qa.search import open_index, search

QUESTION = "Wanneer zijn de dijken in Noord-Holland versterkt?"
EXTRA_LETTERS = {
    "brief-spoor.txt": "Onderwerp Spoorlijn naar Groningen\n\nDe minister laat de spoorlijn naar Groningen "
                       "verdubbelen. De treinen rijden vanaf 1995 elk kwartier.\n",
    "brief-zorg.txt": "Onderwerp Wachtlijsten in de zorg\n\nDe staatssecretaris wil de wachtlijsten in de "
                      "thuiszorg verkorten met een extra bijdrage van 40 miljoen gulden.\n",
}


class Script:
    """What the fake server sends next: a reply text (wrapped as a chat completion), raw bytes, or a stall."""
    reply: str = ""
    raw: bytes | None = None
    stall: float = 0.0
    requests: list = []


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Script.requests.append((self.path, body))
        if Script.stall:
            time.sleep(Script.stall)
        if body.get("stream"):
            return self.stream()
        data = Script.raw if Script.raw is not None else json.dumps(
            {"choices": [{"message": {"role": "assistant", "content": Script.reply}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except OSError:  # the client gave up (the stall test)
            pass

    def stream(self):
        """The reply as server-sent events, a few characters each (or Script.raw as one bad event)."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        text = Script.reply
        chunks = [f"data: {Script.raw.decode()}"] if Script.raw is not None else [
            "data: " + json.dumps({"choices": [{"delta": {"content": text[i:i + 7]}}]}) for i in range(0, len(text), 7)]
        for chunk in chunks + ["data: [DONE]"]:
            self.wfile.write(f"{chunk}\n\n".encode())
            self.wfile.flush()

    def log_message(self, *args):
        pass


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client that gave up (the stall tests) is expected


@pytest.fixture(scope="module")
def server():
    httpd = QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def script(server):
    Script.reply, Script.raw, Script.stall, Script.requests = "", None, 0.0, []
    return Script


@pytest.fixture
def index(tmp_path, letters_dir):
    """Five letters, so five passages can be given to the model."""
    from corpus.readers import read_corpus
    from index.build import build_index
    from index.embed import fake_embedder

    for name, text in EXTRA_LETTERS.items():
        (letters_dir / name).write_text(text, encoding="utf-8")
    build_index(read_corpus([letters_dir]).letters, tmp_path / "five", fake_embedder())
    return open_index(tmp_path / "five", "fake")


def given(index):
    hits = search(index, QUESTION, k=5)
    numbers = {h.letter.id: n for n, h in enumerate(hits, start=1)}
    return hits, numbers


def ask(server, index, reply: str, timeout: float = 5.0):
    Script.reply = reply
    hits, _ = given(index)
    return llm_answer(LLMConfig(server, "test-model", timeout), QUESTION, hits, index)


def test_a_faithful_answer_is_shown_with_every_check_passed(server, script, index):
    hits, n = given(index)
    d = n["brief-dijken"]
    result = ask(server, index, f"De dijken langs het IJsselmeer in Noord-Holland zijn in 1986 gereed [{d}]. "
                                f"De kosten bedragen naar schatting 120 miljoen gulden [{d}].")
    assert not result.fallback and len(result.shown) == 2
    assert all(all(s.checks.values()) for s in result.shown)
    path, body = script.requests[-1]
    assert path == "/v1/chat/completions" and body["model"] == "test-model"
    prompt = body["messages"][-1]["content"]
    assert len(hits) == 5 and "[5]" in prompt and QUESTION in prompt and "Nederlands" in body["messages"][0]["content"]
    assert result.to_json()["used"] is True


def test_a_wrong_citation_is_dropped_and_said_why(server, script, index):
    _, n = given(index)
    d, m = n["brief-dijken"], n["brief-migratie"]
    result = ask(server, index, f"De dijken langs het IJsselmeer zijn in 1986 gereed [{d}]. "
                                f"De kosten bedragen naar schatting 120 miljoen gulden [{m}].")
    assert not result.fallback
    assert [s.text for s in result.shown] == [split_sentences(script.reply)[0]]
    wrong = result.sentences[1]
    assert not wrong.supported and not wrong.checks["numbers"] and not wrong.checks["close"]
    assert any("120" in p for p in wrong.problems)


def test_an_invented_number_is_caught(server, script, index):
    _, n = given(index)
    d = n["brief-dijken"]
    result = ask(server, index, f"De kosten bedragen naar schatting 150 miljoen gulden [{d}].")
    assert result.fallback == "no generated sentence passed the checks" and not result.shown
    assert result.sentences[0].checks["numbers"] is False
    assert "number “150” not in the cited passage" in result.sentences[0].problems[0]


def test_an_invented_name_is_caught(server, script, index):
    _, n = given(index)
    result = ask(server, index, f"Minister Pietersma laat de dijken in Noord-Holland versterken [{n['brief-dijken']}].")
    assert not result.sentences[0].checks["names"] and "“Pietersma”" in result.sentences[0].problems[0]


def test_a_citation_of_a_passage_not_given_is_an_error(server, script, index):
    _, n = given(index)
    result = ask(server, index, f"De dijken zijn in 1986 gereed [9]. De kosten zijn 120 miljoen gulden [{n['brief-dijken']}].")
    bad = result.sentences[0]
    assert not bad.supported and bad.checks["citations_given"] is False
    assert bad.problems == ("cites [9], but only [1]..[5] were given",)
    assert len(result.shown) == 1 and "[9]" not in result.shown[0].text


def test_a_sentence_without_a_citation_is_dropped(server, script, index):
    result = ask(server, index, "De dijken zijn in 1986 gereed.")
    assert result.fallback and result.sentences[0].problems == ("cites no passage",)


def test_a_reply_in_the_wrong_language_falls_back(server, script, index):
    _, n = given(index)
    result = ask(server, index, f"The dikes along the IJsselmeer in Noord-Holland will be ready in 1986 [{n['brief-dijken']}]. "
                                f"The costs are estimated at 120 million guilders [{n['brief-dijken']}].")
    assert result.fallback == "the LLM answered in 'en' but the question is in 'nl'" and not result.shown


def test_malformed_json_falls_back(server, script, index):
    script.raw = b"{not json"
    result = ask(server, index, "")
    assert "not an OpenAI chat completion" in result.fallback and not result.shown


def test_a_stall_past_the_timeout_falls_back(server, script, index):
    script.stall = 1.5
    started = time.perf_counter()
    result = ask(server, index, "De dijken zijn in 1986 gereed [1].", timeout=0.3)
    assert "did not answer within 0.3 s" in result.fallback
    assert time.perf_counter() - started < 1.4


def test_an_absent_server_falls_back():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    result = llm_answer(LLMConfig(f"http://127.0.0.1:{port}/v1", timeout=2), QUESTION, [_hit()], None)
    assert result.fallback.startswith("no LLM server at http://127.0.0.1:") and not result.shown


def _hit():
    from corpus.models import Hit, Letter, Passage

    text = "De kosten bedragen naar schatting 120 miljoen gulden."
    return Hit(Passage("x", 1, 0, len(text), text, text), 1.0, Letter("x", text))


def test_checks_without_an_embedder_use_rapidfuzz_only():
    result = check_reply("De kosten bedragen 120 miljoen gulden [1].", QUESTION, [_hit()])
    assert result.shown and "cosine" not in result.sentences[0].closeness
    far = check_reply("Het kabinet verlaagt de belasting op benzine voor iedereen [1].", QUESTION, [_hit()])
    assert far.fallback and not far.sentences[0].checks["close"]


def test_split_sentences_keeps_markers_and_decimals():
    assert split_sentences("Het vet is 2,5 pct. [1] De prijs daalt 4 cent [2].\nKlaar [1].") == [
        "Het vet is 2,5 pct. [1]", "De prijs daalt 4 cent [2].", "Klaar [1]."]


def test_ask_json_has_the_llm_key_and_shows_the_checked_answer(server, script, index, capsys, tmp_path, monkeypatch):
    answer_always(monkeypatch, True)  # the fake embedder's cosines say nothing about answering
    _, n = given(index)
    script.reply = f"De dijken langs het IJsselmeer zijn in 1986 gereed [{n['brief-dijken']}]. Ze kosten 150 miljoen [{n['brief-dijken']}]."
    path = str(tmp_path / "five")
    assert cli.main(["ask", QUESTION, "--index", path, "--model", "fake", "--llm", server, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [s["supported"] for s in out["llm"]["sentences"]] == [True, False] and out["llm"]["used"]
    assert out["searched"]["query"] == QUESTION
    assert cli.main(["ask", QUESTION, "--index", path, "--model", "fake", "--llm", server]) == 0
    text = capsys.readouterr().out
    assert "gereed" in text and "Dropped as unsupported" in text and "“150” not in the cited passage" in text
    answer_always(monkeypatch, False)
    assert cli.main(["ask", QUESTION, "--index", path, "--model", "fake", "--llm", server, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["llm"]["fallback"] == "the passages do not answer well enough; the LLM was not asked"


def test_without_an_llm_nothing_is_sent_and_nothing_changes(index, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("KAMERQA_LLM_URL", raising=False)
    path = str(tmp_path / "five")
    assert cli.main(["ask", QUESTION, "--index", path, "--model", "fake", "--json"]) == 0
    before = json.loads(capsys.readouterr().out)

    def no_network(*args, **kwargs):
        raise AssertionError("kamerqa opened a network connection without an LLM configured")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    assert cli.main(["ask", QUESTION, "--index", path, "--model", "fake", "--json"]) == 0
    after = json.loads(capsys.readouterr().out)
    assert set(after) == {"question", "hits", "answered", "answer", "ms"}  # no llm key without an LLM
    assert [h["letter_id"] for h in after["hits"]] == [h["letter_id"] for h in before["hits"]]
    assert after["answered"] == before["answered"]


@pytest.mark.llm
def test_a_real_server_passes_the_same_checks(index):
    """Runs only with KAMERQA_LLM_URL set: whatever the model writes, what is shown passed every check."""
    url = os.environ.get("KAMERQA_LLM_URL")
    if not url:
        pytest.skip("set KAMERQA_LLM_URL (and KAMERQA_LLM_MODEL) to test against a real server")
    hits, _ = given(index)
    result = llm_answer(LLMConfig(url, os.environ.get("KAMERQA_LLM_MODEL", ""), 120), QUESTION, hits, index)
    assert result.fallback or result.shown
    assert all(s.supported and all(s.checks.values()) for s in result.shown)
    print(json.dumps(result.to_json(), ensure_ascii=False, indent=1))


def test_the_app_shows_the_checked_answer_or_the_extractive_one_with_the_reason(server, script, index, monkeypatch):
    import app

    monkeypatch.setattr(app, "compose_answer", partial(compose_answer, abstain_below=-1.0))
    _, n = given(index)
    d = n["brief-dijken"]
    script.reply = f"De dijken langs het IJsselmeer zijn in 1986 gereed [{d}]. Ze kosten 150 miljoen [{d}]."
    config = LLMConfig(server, "test-model", 5)
    history, turns, sources = app.ask(index, QUESTION, [], [], use_llm=True, llm=config)
    message = history[-1]["content"]
    assert message.startswith("De dijken langs het IJsselmeer zijn in 1986 gereed")
    assert "Dropped as unsupported" in message and "150" in message and turns[-1]["llm"]["used"]
    script.raw = b"{not json"
    history, turns, _ = app.ask(index, QUESTION, history, turns, use_llm=True, llm=config)
    assert "LLM answer not shown" in history[-1]["content"] and "[1]" in history[-1]["content"]
    history, turns, _ = app.ask(index, QUESTION, history, turns, use_llm=False, llm=config)
    assert turns[-1]["llm"] is None and len(script.requests) == 2
    assert "/ask" in app.build_demo(index, config).get_api_info()["named_endpoints"]


def test_streaming_shows_each_sentence_once_checked_and_never_an_unsupported_one(server, script, index):
    hits, n = given(index)
    d, m = n["brief-dijken"], n["brief-migratie"]
    script.reply = (f"De dijken langs het IJsselmeer zijn in 1986 gereed [{d}]. Ze kosten 150 miljoen gulden [{d}]. "
                    f"De kosten bedragen naar schatting 120 miljoen gulden [{d}]. Ook Italië betaalt mee aan Frontex [{m}].")
    snapshots = list(stream_answer(LLMConfig(server, "test-model", 5), QUESTION, hits, index))
    assert [len(s.sentences) for s in snapshots[:-1]] == [1, 2, 3] and not any(s.done for s in snapshots[:-1])
    assert all("150" not in x.text for s in snapshots for x in s.shown)
    final = snapshots[-1]
    assert final.done and not final.fallback and [x.text[:14] for x in final.shown] == ["De dijken lang", "De kosten bedr"]
    assert "name “Italië” not in the cited passage" in final.sentences[3].problems
    assert script.requests[-1][1]["stream"] is True


def test_streaming_falls_back_on_a_bad_event_a_wrong_language_and_a_stall(server, script, index, monkeypatch):
    hits, n = given(index)
    config = LLMConfig(server, "test-model", 5)
    script.raw = b"{not json"
    assert "not an OpenAI chat completion chunk" in list(stream_answer(config, QUESTION, hits, index))[-1].fallback
    script.raw = None
    script.reply = f"The dikes in Noord-Holland will be ready in 1986 [{n['brief-dijken']}]. They cost a lot [{n['brief-dijken']}]."
    passes = lambda sentence, *args: SentenceCheck(sentence, (1,))  # noqa: E731 (as if every check passed)
    monkeypatch.setattr("qa.llm_stream.check_sentence", passes)
    snapshots = list(stream_answer(config, QUESTION, hits, index))
    assert not snapshots[0].shown and snapshots[0].sentences[0].problems == ("held back: not in the question's language",)
    assert snapshots[-1].fallback == "the LLM answered in 'en' but the question is in 'nl'"
    script.stall = 1.5
    last = list(stream_answer(LLMConfig(server, "test-model", 0.3), QUESTION, hits, index))[-1]
    assert "did not answer within 0.3 s" in last.fallback


def test_the_app_streams_the_checked_answer(server, script, index, monkeypatch):
    import app

    monkeypatch.setattr(app, "compose_answer", partial(compose_answer, abstain_below=-1.0))
    _, n = given(index)
    d = n["brief-dijken"]
    script.reply = f"De dijken langs het IJsselmeer zijn in 1986 gereed [{d}]. De kosten bedragen naar schatting 120 miljoen gulden [{d}]."
    updates = list(app.ask_stream(index, QUESTION, [], [], llm=LLMConfig(server, "test-model", 5)))
    messages = [history[-1]["content"] for history, _, _ in updates]
    assert len(updates) == 2 and "Writing…" in messages[0] and "Writing…" not in messages[-1]
    assert messages[-1].startswith("De dijken langs het IJsselmeer zijn in 1986 gereed")
    assert "De kosten bedragen" in messages[-1] and updates[-1][1][-1]["llm"]["used"]
    plain = list(app.ask_stream(index, QUESTION, [], [], use_llm=False, llm=LLMConfig(server, "m", 5)))
    assert len(plain) == 1 and plain[0][1][-1]["llm"] is None
