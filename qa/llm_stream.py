"""The LLM answer streamed: the server's reply read as it is written (`"stream": true`, server-sent events),
and each sentence checked as soon as it is complete, so the app can show checked sentences one by one.

A sentence is shown while streaming only when it passed every check of `qa.llm.check_sentence` and is in
the question's language; the last snapshot is `qa.llm.check_reply` on the whole reply, which decides (as
without streaming) whether the written answer stands or the extractive one is shown with the reason.
"""
from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from dataclasses import replace
from typing import Iterator

from corpus.models import Hit
from qa import hints
from qa.llm import MAX_PASSAGES, LLMAnswer, check_reply, check_sentence, embedding_similarity, split_sentences
from qa.llm_client import MAX_TOKENS, LLMConfig, LLMError, prompt


def stream_reply(config: LLMConfig, messages: list[dict]) -> Iterator[str]:
    """The pieces of the reply as the server sends them; raises LLMError (absent, slow, malformed)."""
    body = json.dumps({"model": config.model or "default", "messages": messages, "temperature": 0,
                       "max_tokens": MAX_TOKENS, "stream": True}).encode()
    request = urllib.request.Request(config.endpoint, body, {"Content-Type": "application/json"})
    deadline = time.monotonic() + config.timeout
    try:
        with urllib.request.urlopen(request, timeout=config.timeout) as response:
            for line in response:
                if time.monotonic() > deadline:
                    raise LLMError(f"the LLM server at {config.endpoint} did not finish within {config.timeout:g} s")
                piece = _event_text(line.decode("utf-8", "replace").strip(), config)
                if piece is None:
                    return
                yield piece
    except urllib.error.HTTPError as e:
        raise LLMError(f"the LLM server at {config.endpoint} answered HTTP {e.code}") from None
    except (socket.timeout, TimeoutError):
        raise LLMError(f"the LLM server at {config.endpoint} did not answer within {config.timeout:g} s") from None
    except urllib.error.URLError as e:
        raise LLMError(f"no LLM server at {config.endpoint} ({e.reason})") from None


def _event_text(line: str, config: LLMConfig) -> str | None:
    """The text of one server-sent event line ("" for none; None at [DONE])."""
    if not line.startswith("data:"):
        return ""
    data = line[5:].strip()
    if data == "[DONE]":
        return None
    try:
        return json.loads(data)["choices"][0].get("delta", {}).get("content") or ""
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise LLMError(f"the LLM server at {config.endpoint} sent a stream event that is not an OpenAI chat "
                       f"completion chunk ({data[:80]!r})") from None


def stream_answer(config: LLMConfig, question: str, hits: list[Hit], index=None) -> Iterator[LLMAnswer]:
    """Snapshots of the checked answer: one each time a sentence is complete (`done` False), then the
    final one (`done` True), which may fall back to the extractive answer. Never raises LLMError."""
    given = tuple(hits[:MAX_PASSAGES])
    if not given:
        yield LLMAnswer(config.model, (), fallback="no passages to answer from; the LLM was not asked")
        return
    similarity = embedding_similarity(index) if index is not None else None
    language = hints.language(question)
    text, checked = "", []
    try:
        for piece in stream_reply(config, prompt(question, list(given))):
            text += piece
            complete = split_sentences(text)[:-1]  # the last one may still be growing
            for sentence in complete[len(checked):]:
                check = check_sentence(sentence, question, list(given), similarity)
                if check.supported and hints.language(sentence) != language:
                    check = replace(check, problems=("held back: not in the question's language",))
                checked.append(check)
                yield LLMAnswer(config.model, given, tuple(checked), reply=text, done=False)
    except LLMError as e:
        yield LLMAnswer(config.model, given, fallback=str(e))
        return
    yield check_reply(text, question, list(given), similarity, config.model)
