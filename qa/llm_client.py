"""The OpenAI-compatible chat completion call (`POST {url}/chat/completions`) and its prompt: the
question and the numbered passages. Nothing is sent unless the caller passes an `LLMConfig`."""
from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass

from corpus.models import Hit
from qa import hints
from qa.render import tidy

DEFAULT_TIMEOUT = 30.0  # seconds for the whole reply; a small local model on CPU needs about this
MAX_TOKENS = 400

SYSTEM_PROMPT = {
    "nl": ("Je beantwoordt vragen over Nederlandse Kamerbrieven. Gebruik alleen de genummerde passages. "
           "Schrijf een kort antwoord in het Nederlands, twee tot vier zinnen. Eindig elke zin met het nummer "
           "van de passage waarop die zin steunt, zoals [1]. Neem getallen, data en namen precies over. "
           "Staat het antwoord niet in de passages, schrijf dan: Dat staat niet in deze passages."),
    "en": ("You answer questions about Dutch parliamentary letters. Use only the numbered passages. Write "
           "a short answer in English, two to four sentences. End every sentence with the number of the "
           "passage it rests on, like [1]. Copy numbers, dates and names exactly. If the passages do not "
           "answer the question, write: The passages do not say."),
}


class LLMError(Exception):
    """The server could not be used; the message is the reason shown with the extractive answer."""


@dataclass(frozen=True)
class LLMConfig:
    url: str  # the OpenAI base URL, e.g. http://127.0.0.1:8080/v1
    model: str = ""  # the server's model name; llama-server ignores it, Ollama and vLLM need it
    timeout: float = DEFAULT_TIMEOUT

    @property
    def endpoint(self) -> str:
        return self.url.rstrip("/") + "/chat/completions"


def prompt(question: str, hits: list[Hit]) -> list[dict]:
    """The chat messages: instructions in the question's language, the numbered passages, the question."""
    numbered = "\n\n".join(f"[{n}] ({h.letter.title or h.letter.id}, {h.letter.date or 'undated'}) "
                           f"{tidy(h.passage.text)}" for n, h in enumerate(hits, start=1))
    return [{"role": "system", "content": SYSTEM_PROMPT[hints.language(question)]},
            {"role": "user", "content": f"Passages:\n\n{numbered}\n\nQuestion: {question}"}]


def complete(config: LLMConfig, messages: list[dict]) -> str:
    """The server's reply text; raises LLMError saying what went wrong (absent, slow, malformed)."""
    body = json.dumps({"model": config.model or "default", "messages": messages, "temperature": 0,
                       "max_tokens": MAX_TOKENS, "stream": False}).encode()
    request = urllib.request.Request(config.endpoint, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=config.timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as e:
        raise LLMError(f"the LLM server at {config.endpoint} answered HTTP {e.code}") from None
    except (socket.timeout, TimeoutError):
        raise LLMError(f"the LLM server at {config.endpoint} did not answer within {config.timeout:g} s") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise LLMError(f"the LLM server at {config.endpoint} did not answer within {config.timeout:g} s") from None
        raise LLMError(f"no LLM server at {config.endpoint} ({reason})") from None
    try:
        content = json.loads(raw)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise LLMError(f"the LLM server at {config.endpoint} sent a reply that is not an OpenAI chat "
                       f"completion ({raw[:80]!r})") from None
    if not isinstance(content, str) or not content.strip():
        raise LLMError(f"the LLM server at {config.endpoint} sent an empty answer")
    return content
