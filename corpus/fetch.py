"""`kamerqa fetch`: download Kamerbrieven from the official publications' SRU service.

search (SRU 2.0, gzd records, paged) -> for each Kamerstuk: download its XML (or HTML) manifestation
-> parse into a Letter -> `<out_dir>/<id>.json`. A state file in `out_dir` records where an
interrupted run stopped; a letter already stored with the same version is not downloaded again.
"""
from __future__ import annotations

import json
import os
import re
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from corpus.models import Letter
from corpus.officiel import ParseError, Record, letter_from_xml, parse_sru
from corpus.officiel_html import letter_from_html

DEFAULT_BASE_URL = "https://repository.overheid.nl"
STATE_FILE = ".kamerqa-fetch.state"  # JSON, but not named *.json: the indexer reads those
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,150}$")


class FetchError(RuntimeError):
    """A download or search that failed; the message names the URL and what to do."""


@dataclass(frozen=True)
class FetchResult:
    stored: tuple[str, ...]  # letters downloaded and written this run
    unchanged: tuple[str, ...]  # already stored with the same version: not downloaded
    skipped: tuple[tuple[str, str], ...]  # (identifier, one-line reason)
    complete: bool  # False when the run stopped at max_records (the next run resumes there)


@dataclass
class Http:
    """GET with a timeout, retries with exponential backoff on 5xx/429/timeouts, and a minimum
    interval between requests (politeness towards the service)."""

    timeout: float = 30.0
    retries: int = 3
    backoff: float = 1.0  # seconds before the first retry; doubles each time
    min_interval: float = 0.5
    user_agent: str = "kamerqa-fetch/1 (+https://github.com/kamerqa)"
    _last: float = 0.0

    def get(self, url: str) -> bytes:
        for attempt in range(self.retries + 1):
            wait = self.min_interval - (time.monotonic() - self._last)
            if wait > 0:
                time.sleep(wait)
            self._last = time.monotonic()
            try:
                req = urllib.request.Request(url, headers={"User-Agent": self.user_agent})
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return resp.read()
            except urllib.error.HTTPError as e:
                if e.code < 500 and e.code != 429:
                    raise FetchError(f"{url}: HTTP {e.code} {e.reason}; check the URL "
                                     "(--base-url, --sru-path)") from None
                problem = f"HTTP {e.code}"
            except (TimeoutError, socket.timeout):
                problem = f"no answer within {self.timeout:g}s"
            except urllib.error.URLError as e:
                if not isinstance(e.reason, OSError):  # timeouts, refused connections, DNS
                    raise FetchError(f"{url}: {e.reason}; check the URL") from None
                problem = f"{e.reason}"
            except ValueError as e:  # e.g. an unknown scheme such as "httbroken://"
                raise FetchError(f"{url}: not a URL that can be fetched ({e})") from None
            if attempt < self.retries:
                time.sleep(self.backoff * 2 ** attempt)
        raise FetchError(f"{url}: {problem} after {self.retries + 1} attempts; "
                         "is the service up? try later or raise --timeout/--retries")


def build_query(date_from: str | None = None, date_to: str | None = None,
                dossier: str | None = None, letters_only: bool = True) -> str:
    """CQL for repository.overheid.nl: Kamerstukken (letters from the government, by default)."""
    parts = ['c.product-area=="officielepublicaties"', 'w.publicatienaam=="Kamerstuk"']
    if letters_only:
        parts.append('w.subrubriek=="Brief"')
    if date_from:
        parts.append(f'dt.date>="{_iso(date_from, "--from")}"')
    if date_to:
        parts.append(f'dt.date<="{_iso(date_to, "--to")}"')
    if dossier:
        number = re.sub(r"\s+", "", str(dossier))
        if not re.fullmatch(r"\d+(-[A-Za-z0-9]+)?", number):
            raise FetchError(f"dossier {dossier!r} is not a dossier number; use e.g. 32545 or 21501-32")
        parts.append(f'w.dossiernummer=="{number}"')
    return " and ".join(parts)


def _iso(value: str, flag: str) -> str:
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise FetchError(f"{flag} {value!r} is not a date; use yyyy-mm-dd, e.g. 2021-07-01") from None


def search_url(base_url: str, query: str, start: int = 1, page_size: int = 50,
               sru_path: str = "sru") -> str:
    params = {"operation": "searchRetrieve", "version": "2.0", "recordSchema": "gzd",
              "startRecord": start, "maximumRecords": page_size, "query": query}
    return (f"{base_url.rstrip('/')}/{sru_path.strip('/')}?"
            + urllib.parse.urlencode(params, quote_via=urllib.parse.quote))


def letter_json(letter: Letter, version: str) -> dict:
    """The stored form of a fetched letter (what the indexer reads from `<id>.json`)."""
    d = letter.meta()
    d.pop("source")
    return {"id": letter.id, "text": letter.text, **{k: v for k, v in d.items() if k != "id"},
            "version": version}


def write_json_atomic(path: Path, obj: dict) -> None:
    """Write to a temp file in the same folder, then os.replace: never a half-written file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def record_version(record: Record) -> str:
    """The publication's version: `hasVersion`, else the FRBR expression number in its item URLs."""
    if record.version:
        return record.version
    for url in record.items.values():
        m = re.search(rf"/{re.escape(record.identifier)}/(\d+)/", url)
        if m:
            return m.group(1)
    return ""


def fetch_letter(http: Http, record: Record) -> Letter:
    """Download a record's XML (else HTML) manifestation and parse it; FetchError/ParseError if not."""
    if record.items.get("xml"):
        url = record.items["xml"]
        return letter_from_xml(http.get(url), record.meta(), source=url)
    if record.items.get("html"):
        url = record.items["html"]
        return letter_from_html(http.get(url), record.meta(), source=url)
    have = ", ".join(sorted(record.items)) or "none"
    raise FetchError(f"no XML or HTML manifestation (has: {have})")


def fetch(out_dir, base_url: str = DEFAULT_BASE_URL, date_from: str | None = None,
          date_to: str | None = None, dossier: str | None = None, max_records: int | None = None,
          *, sru_path: str = "sru", letters_only: bool = True, types: tuple[str, ...] = ("Kamerstuk",),
          page_size: int = 50, timeout: float = 30.0, retries: int = 3, backoff: float = 1.0,
          min_interval: float = 0.5, progress: bool = True,
          on_skip: Callable[[str], None] | None = None) -> FetchResult:
    """Search, download and store letters in `out_dir` (one `<id>.json` each); see the module doc.

    `max_records` bounds the search records looked at in this run; the next run with the same
    query resumes after them. `types` keeps records of these types (None: all)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    query = build_query(date_from, date_to, dossier, letters_only)
    state_path = out / STATE_FILE
    state = _read_json(state_path)
    position = state.get("next", 1) if state.get("query") == query else 1
    http = Http(timeout=timeout, retries=retries, backoff=backoff, min_interval=min_interval)
    stored, unchanged, skipped = [], [], []
    seen = 0
    bar = None

    def skip(identifier: str, reason: str) -> None:
        skipped.append((identifier, reason))
        if on_skip:
            on_skip(f"{identifier or '?'}: {reason}; skipped")

    try:
        while True:
            url = search_url(base_url, query, position, page_size, sru_path)
            try:
                page = parse_sru(http.get(url), source=url)
            except ParseError as e:
                raise FetchError(str(e)) from None
            if bar is None:
                total = max(page.total, len(page.records))  # the count is an estimate
                total = total if max_records is None else min(total, max_records)
                bar = tqdm(total=total, unit="letter", disable=not progress, file=sys.stderr)
            for i, record in enumerate(page.records):
                if max_records is not None and seen >= max_records:
                    write_json_atomic(state_path, {"query": query, "next": position + i})
                    return FetchResult(tuple(stored), tuple(unchanged), tuple(skipped), False)
                _one(http, record, types, out, stored, unchanged, skip)
                seen += 1
                bar.update(1)
            if not page.records or page.next_position is None or page.next_position <= position:
                break
            position = page.next_position
            write_json_atomic(state_path, {"query": query, "next": position})
    finally:
        if bar is not None:
            bar.close()
    write_json_atomic(state_path, {"query": query, "next": 1, "completed": True})
    return FetchResult(tuple(stored), tuple(unchanged), tuple(skipped), True)


def _one(http: Http, record: Record, types, out: Path, stored: list, unchanged: list, skip) -> None:
    """Handle one search record: skip it (with a reason), leave it (same version), or store it."""
    ident = record.identifier
    if not SAFE_ID.match(ident):
        return skip(ident[:60], "identifier is not a safe file name")
    if types and record.type not in types:
        return skip(ident, f"not a Kamerstuk (type {record.type or 'unknown'})")
    version = record_version(record)
    path = out / f"{ident}.json"
    if path.exists() and _read_json(path).get("version") == version:
        unchanged.append(ident)
        return None
    try:
        letter = fetch_letter(http, record)
    except (FetchError, ParseError) as e:
        return skip(ident, str(e))
    write_json_atomic(path, letter_json(letter, version))
    stored.append(ident)
    return None


def default_out_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("kamerqa")) / "letters"
