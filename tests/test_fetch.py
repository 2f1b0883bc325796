"""`kamerqa fetch` against the recorded official responses, served from 127.0.0.1.

The fixtures (../shared/corpus/fixtures/plooi/) hold a real SRU response and a complete FRBR item
(kst-32545-143). Their URLs use the placeholder host `__MOCK_SERVICE__`, which the test server
replaces with its own address in every body it serves.
"""
from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from corpus.fetch import STATE_FILE, FetchError, build_query, fetch
from corpus.officiel import ParseError, letter_from_xml, parse_metadata, parse_sru
from corpus.officiel_html import letter_from_html
from qa.cli import main

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
OEP = SHARED / "corpus" / "fixtures" / "plooi" / "integratie-testen" / "oep"
MODULE_SRU = SHARED / "corpus" / "fixtures" / "plooi" / "module-officielebekendmakingen" / "oep" / "sru.xml"
KST_XML = "/repository.overheid.nl/frbr/officielepublicaties/kst/32545/kst-32545-143/1/xml/kst-32545-143.xml"

if not (OEP / "repository.overheid.nl" / "sru.xml").exists():
    pytest.skip(f"fixtures not found at {OEP} (they live in ../shared next to the repo)",
                allow_module_level=True)


class FixtureServer(ThreadingHTTPServer):
    """Serves the `oep` fixture folder; `/sru` (or `/repository.overheid.nl/sru`) answers with
    `sru` (the recorded sru.xml), paged by startRecord/maximumRecords when `paged` is set.
    `faults` maps a path prefix to a list of actions used up one per request: an HTTP status
    (500, ...) or ("sleep", seconds)."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.sru = (OEP / "repository.overheid.nl" / "sru.xml").read_bytes()
        self.paged = False
        self.faults: dict[str, list] = {}
        self.overrides: dict[str, bytes] = {}
        self.log: list[str] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/repository.overheid.nl"


class Handler(BaseHTTPRequestHandler):
    server: FixtureServer

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        srv = self.server
        parts = urlsplit(self.path)
        srv.log.append(self.path)
        for prefix, actions in srv.faults.items():
            if parts.path.startswith(prefix) and actions:
                action = actions.pop(0)
                if isinstance(action, tuple):
                    time.sleep(action[1])
                else:
                    return self._send(action, b"fault injected by the test")
        if parts.path in srv.overrides:
            body = srv.overrides[parts.path]
        elif parts.path in ("/sru", "/repository.overheid.nl/sru"):
            body = _page(srv.sru, parse_qs(parts.query)) if srv.paged else srv.sru
        else:
            root = OEP.resolve()  # shared/ may itself be reached through a link
            file = (root / parts.path.lstrip("/")).resolve()
            if root not in file.parents or not file.is_file():
                return self._send(404, b"not found")
            body = file.read_bytes()
        host = f"127.0.0.1:{srv.server_address[1]}".encode()
        body = body.replace(b"__MOCK_SERVICE__", host)
        body = body.replace(b"https://repository.overheid.nl/", b"http://" + host + b"/repository.overheid.nl/")
        self._send(200, body)

    def _send(self, status: int, body: bytes):
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass


def _page(sru: bytes, params: dict) -> bytes:
    """The recorded response cut to records startRecord..startRecord+maximumRecords-1."""
    start, size = int(params["startRecord"][0]), int(params["maximumRecords"][0])
    records = re.findall(rb"<sru:record>.*?</sru:record>", sru, flags=re.S)
    head = sru[: sru.index(b"<sru:records>") + len(b"<sru:records>")]
    tail = sru[sru.index(b"</sru:records>"):]
    tail = re.sub(rb"<sru:nextRecordPosition>\d+</sru:nextRecordPosition>", b"", tail)
    if start + size <= len(records):
        nxt = f"<sru:nextRecordPosition>{start + size}</sru:nextRecordPosition>".encode()
        tail = tail.replace(b"</sru:records>", b"</sru:records>" + nxt, 1)
    head = re.sub(rb"<sru:numberOfRecords>\d+", f"<sru:numberOfRecords>{len(records)}".encode(), head)
    return head + b"".join(records[start - 1: start - 1 + size]) + tail


@pytest.fixture
def server():
    srv = FixtureServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


FAST = dict(progress=False, min_interval=0, backoff=0.01, timeout=5)


def _stored(out: Path, ident: str) -> dict:
    return json.loads((out / f"{ident}.json").read_text(encoding="utf-8"))


def test_fetch_stores_the_kamerstuk_with_metadata_and_paragraphs(server, tmp_path):
    lines = []
    result = fetch(tmp_path, server.base_url, on_skip=lines.append, **FAST)
    assert result.stored == ("kst-32545-143",) and result.complete
    letter = _stored(tmp_path, "kst-32545-143")
    assert set(letter) == {"id", "text", "title", "date", "sender", "dossier", "stuk", "kenmerk",
                           "url", "version"}
    assert letter["title"].startswith("Wet- en regelgeving financiële markten; Motie; Motie van de leden")
    assert (letter["date"], letter["dossier"], letter["stuk"], letter["version"]) == (
        "2021-07-06", "32 545", "143", "1")
    assert letter["sender"] == "I. (Inge) van Dijk, P.A. Grinwis"
    assert letter["url"] == "https://zoek.officielebekendmakingen.nl/kst-32545-143.html"
    paragraphs = letter["text"].split("\n\n")
    assert paragraphs[:2] == ["De Kamer,", "gehoord de beraadslaging,"]
    assert len(paragraphs) == 10 and "grensspaarsaldo" in paragraphs[5]
    # the other records: not Kamerstukken, or pointing at another publication's file
    reasons = dict(result.skipped)
    assert "not a Kamerstuk (type Bijlage)" in reasons["blg-1007826"]
    assert "not a Kamerstuk" in reasons["ah-tk-20202021-3235"]
    assert "is kst-32545-143, not kst-32545-144" in reasons["kst-32545-144"]
    assert len(lines) == 4 and all("\n" not in line and line.endswith("skipped") for line in lines)
    assert sorted(p.name for p in tmp_path.glob("*.json")) == ["kst-32545-143.json"]  # no temp/state


def test_all_types_stores_the_aanhangsel_and_skips_what_has_no_xml_or_html(server, tmp_path):
    result = fetch(tmp_path, server.base_url, types=None, **FAST)
    assert set(result.stored) == {"kst-32545-143", "ah-tk-20202021-3235"}
    reasons = dict(result.skipped)
    assert "no XML or HTML manifestation (has: metadata, metadataowms, pdf)" in reasons["blg-1007826"]
    assert "Antwoord 1" not in _stored(tmp_path, "ah-tk-20202021-3235")["text"]  # <nr> is no <al>


def test_a_document_missing_from_the_fixtures_is_skipped_and_the_run_goes_on(server, tmp_path):
    server.sru = MODULE_SRU.read_bytes()  # real repository.overheid.nl URLs, documents not recorded
    server.paged = True
    result = fetch(tmp_path, server.base_url, page_size=4, **FAST)
    assert result.complete and result.stored == ()
    assert "HTTP 404" in dict(result.skipped)["kst-22112-3185"]
    assert sum("/sru?" in p for p in server.log) == 3  # pages 1-4, 5-8, 9-10


def test_html_is_used_when_there_is_no_xml(server, tmp_path):
    server.sru = re.sub(rb'<gzd:itemUrl manifestation="xml">.*?</gzd:itemUrl>', b"", server.sru)
    result = fetch(tmp_path, server.base_url, **FAST)
    assert result.stored == ("kst-32545-143",)
    xml_text = letter_from_xml((OEP / KST_XML.lstrip("/")).read_bytes()).text
    assert _stored(tmp_path, "kst-32545-143")["text"] == xml_text


def test_a_server_error_is_retried(server, tmp_path):
    server.faults["/repository.overheid.nl/sru"] = [500]
    server.faults[KST_XML] = [503, 500]
    result = fetch(tmp_path, server.base_url, **FAST)
    assert result.stored == ("kst-32545-143",)
    assert sum("/sru?" in p for p in server.log) == 2
    assert server.log.count(KST_XML) == 3 + 1  # 2 failures + success; +1 for record kst-32545-144


def test_a_timeout_is_retried_then_fails_with_a_clear_error(server, tmp_path):
    server.faults[KST_XML] = [("sleep", 1.0)]  # once: the retry succeeds
    result = fetch(tmp_path, server.base_url, **{**FAST, "timeout": 0.3})
    assert result.stored == ("kst-32545-143",)

    server.faults["/repository.overheid.nl/sru"] = [("sleep", 1.0)] * 2
    with pytest.raises(FetchError) as err:
        fetch(tmp_path / "b", server.base_url, retries=1, **{**FAST, "timeout": 0.3})
    message = str(err.value)
    assert "/repository.overheid.nl/sru?" in message and "no answer within 0.3s" in message
    assert "after 2 attempts" in message and "--timeout" in message and "\n" not in message


def test_an_interrupted_run_resumes_and_skips_what_is_stored(server, tmp_path):
    server.paged = True
    first = fetch(tmp_path, server.base_url, max_records=1, page_size=2, types=None, **FAST)
    assert first.stored == ("kst-32545-143",) and not first.complete
    assert json.loads((tmp_path / STATE_FILE).read_text())["next"] == 2

    server.log.clear()
    second = fetch(tmp_path, server.base_url, page_size=2, types=None, **FAST)
    assert "startRecord=2" in server.log[0]  # resumed where the first run stopped
    assert second.complete and "ah-tk-20202021-3235" in second.stored
    assert "kst-32545-143" not in second.stored + second.unchanged  # record 1 was not looked at again


def test_a_run_that_fails_midway_resumes_after_the_last_finished_page(server, tmp_path):
    server.paged = True
    server.faults["/repository.overheid.nl/sru"] = [("sleep", 0), 500]  # page 1 ok, page 2 fails
    with pytest.raises(FetchError, match="HTTP 500"):
        fetch(tmp_path, server.base_url, page_size=2, types=None, retries=0, **FAST)
    assert (tmp_path / "kst-32545-143.json").exists()
    assert json.loads((tmp_path / STATE_FILE).read_text())["next"] == 3

    server.log.clear()
    result = fetch(tmp_path, server.base_url, page_size=2, types=None, **FAST)
    assert "startRecord=3" in server.log[0] and result.complete
    assert KST_XML in server.log  # only because record 5 points at the same file (then skipped)
    assert "kst-32545-143" not in result.stored


def test_a_letter_with_the_same_version_is_not_downloaded_again(server, tmp_path):
    fetch(tmp_path, server.base_url, **FAST)
    server.log.clear()
    again = fetch(tmp_path, server.base_url, **FAST)
    assert again.unchanged == ("kst-32545-143",) and again.stored == ()
    assert server.log.count(KST_XML) == 1  # only for record kst-32545-144, which points at it

    server.sru = server.sru.replace(b'kst-32545-143.html">1</dcterms:hasVersion>',
                                    b'kst-32545-143.html">2</dcterms:hasVersion>', 1)
    newer = fetch(tmp_path, server.base_url, **FAST)
    assert newer.stored == ("kst-32545-143",)
    assert _stored(tmp_path, "kst-32545-143")["version"] == "2"


def test_an_entity_bomb_from_the_server_is_refused_and_skipped(server, tmp_path):
    server.overrides[KST_XML] = BOMB
    started = time.monotonic()
    result = fetch(tmp_path, server.base_url, **FAST)
    assert time.monotonic() - started < 5
    assert "refused unsafe XML" in dict(result.skipped)["kst-32545-143"]
    assert not (tmp_path / "kst-32545-143.json").exists()


def test_cli_run(server, tmp_path, capsys):
    args = ["fetch", "--base-url", server.base_url, "--out", str(tmp_path), "--quiet", "--interval", "0"]
    assert main([*args, "--from", "2021-01-01"]) == 0
    assert "1 stored, 0 unchanged, 4 skipped" in capsys.readouterr().err
    assert main([*args, "--from", "2021-13-01"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("kamerqa fetch: error: --from '2021-13-01' is not a date") and "\n" not in err


# --- parsers on tiny documents -------------------------------------------------------------

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<officiele-publicatie><al>&lol4;</al></officiele-publicatie>"""

LETTER = """<officiele-publicatie><metadata>
<meta name="OVERHEIDop.externMetadataRecord" content="https://zoek.officielebekendmakingen.nl/kst-29515-496/metadata.xml"/>
</metadata><kamerstuk><dossier><dossiernummer><dossiernr>29 515</dossiernr></dossiernummer>
<titel>Regeldruk</titel></dossier><stuk><stuknr>Nr. <ondernummer>496</ondernummer></stuknr>
<titel>BRIEF VAN DE MINISTER VAN FINANCIËN</titel><algemeen><brief>
<plaats-datum>Den Haag, <datum isodatum="2021-06-30">30 juni 2021</datum></plaats-datum>
<al>Hierbij stuur ik u de  brief<noot><noot.al>Zie bijlage.</noot.al></noot> over regeldruk.</al>
<al>Met vriendelijke groet,</al>
<ondertekening><functie>De Minister</functie> van Financiën,<naam><voornaam>W.B.</voornaam>
<achternaam>Hoekstra</achternaam></naam></ondertekening></brief></algemeen></stuk></kamerstuk>
</officiele-publicatie>"""


def test_letter_from_xml_reads_paragraphs_metadata_and_signature():
    letter = letter_from_xml(LETTER.encode(), source="kst-29515-496.xml")
    assert letter.id == "kst-29515-496"
    assert letter.text == "Hierbij stuur ik u de brief over regeldruk.\n\nMet vriendelijke groet,"
    assert letter.sender == "Minister van Financiën (W.B. Hoekstra)"
    assert (letter.dossier, letter.stuk, letter.date) == ("29 515", "496", "2021-06-30")
    assert letter.title == "Regeldruk; BRIEF VAN DE MINISTER VAN FINANCIËN"
    assert letter.url == "https://zoek.officielebekendmakingen.nl/kst-29515-496.html"
    with_meta = letter_from_xml(LETTER.encode(), {"id": "kst-29515-496", "title": "Regeldruk; Brief regering"})
    assert with_meta.title == "Regeldruk; Brief regering"


def test_letter_from_xml_refuses_an_entity_bomb_quickly():
    started = time.monotonic()
    with pytest.raises(ParseError, match="bomb.xml: refused unsafe XML"):
        letter_from_xml(BOMB, source="bomb.xml")
    assert time.monotonic() - started < 1


def test_letter_from_xml_errors_name_the_file_and_the_fix():
    with pytest.raises(ParseError, match="cut.xml: not well-formed XML"):
        letter_from_xml(LETTER.encode()[:200], source="cut.xml")
    with pytest.raises(ParseError, match="no identifier"):
        letter_from_xml(b"<officiele-publicatie><al>Tekst.</al></officiele-publicatie>")
    with pytest.raises(ParseError, match="the file is kst-29515-496, not kst-1-2"):
        letter_from_xml(LETTER.encode(), {"id": "kst-1-2"})


def test_letter_from_html_reads_meta_and_paragraphs_but_not_scripts():
    html = b"""<html><head><meta name="DC.identifier" content="kst-1-2"/>
    <meta name="DC.title" content="Dossier; Brief regering; Onderwerp"/>
    <meta name="DCTERMS.issued" content="2021-01-05"/><script>var p = "<p>nee</p>";</script></head>
    <body><p class="kamerstukdatum">5 januari 2021</p><p>Eerste   alinea.</p><div><p>Tweede</p></div></body></html>"""
    letter = letter_from_html(html)
    assert (letter.id, letter.date, letter.title) == ("kst-1-2", "2021-01-05", "Dossier; Brief regering; Onderwerp")
    assert letter.text == "Eerste alinea.\n\nTweede"


def test_parse_sru_reads_records_and_paging():
    page = parse_sru((OEP / "repository.overheid.nl" / "sru.xml").read_bytes())
    assert (page.total, page.next_position, len(page.records)) == (3, None, 5)
    first = page.records[0]
    assert (first.identifier, first.type, first.subtype, first.dossier, first.stuk, first.version) == (
        "kst-32545-143", "Kamerstuk", "Motie", "32 545", "143", "1")
    assert first.items["xml"].endswith("/1/xml/kst-32545-143.xml")
    diag = b"""<sru:searchRetrieveResponse xmlns:sru="http://docs.oasis-open.org/ns/search-ws/sruResponse"
      xmlns:diag="http://docs.oasis-open.org/ns/search-ws/diagnostic"><sru:numberOfRecords>0</sru:numberOfRecords>
      <sru:diagnostics><diag:diagnostic><diag:message>Query syntax error</diag:message></diag:diagnostic>
      </sru:diagnostics></sru:searchRetrieveResponse>"""
    with pytest.raises(ParseError, match="the service reports: Query syntax error; check the query"):
        parse_sru(diag, source="sru")


def test_parse_metadata_reads_both_metadata_formats():
    item = OEP / "repository.overheid.nl/frbr/officielepublicaties/kst/32545/kst-32545-143/1"
    plain = parse_metadata((item / "metadata/metadata.xml").read_bytes())
    owms = parse_metadata((item / "metadataowms/metadata_owms.xml").read_bytes())
    assert plain == owms
    assert (plain["id"], plain["type"], plain["dossier"], plain["stuk"], plain["date"]) == (
        "kst-32545-143", "Kamerstuk", "32 545", "143", "2021-07-06")
    with pytest.raises(ParseError, match="expected <metadata_gegevens> or <owms-metadata>"):
        parse_metadata(b"<html/>", source="m.xml")


def test_build_query_follows_the_sru_indexes():
    q = build_query("2021-07-01", "2021-07-31", "32 545")
    assert q == ('c.product-area=="officielepublicaties" and w.publicatienaam=="Kamerstuk" and '
                 'w.subrubriek=="Brief" and dt.date>="2021-07-01" and dt.date<="2021-07-31" and '
                 'w.dossiernummer=="32545"')
    with pytest.raises(FetchError, match="dossier 'abc' is not a dossier number"):
        build_query(dossier="abc")


def test_fetched_letters_are_indexed_and_cited(server, tmp_path, letters_dir, capsys):
    """Done-when of the fetch issue: `kamerqa fetch` against the fixture server, then `kamerqa index`
    (fake embedder) answers a question about kst-32545-143 citing it."""
    from qa.cli import main

    out, ix = tmp_path / "fetched", tmp_path / "ix"
    assert main(["fetch", "--base-url", server.base_url, "--out", str(out), "--interval", "0", "--quiet"]) == 0
    assert main(["index", "--corpus", str(out), "--corpus", str(letters_dir), "--index", str(ix),
                 "--model", "fake", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["ask", "grensspaarsaldo motie financiële markten", "--index", str(ix), "--json", "-k", "3"]) == 0
    hit = json.loads(capsys.readouterr().out)["hits"][0]
    assert hit["letter_id"] == "kst-32545-143"
    assert hit["url"] == "https://zoek.officielebekendmakingen.nl/kst-32545-143.html"
    assert hit["date"] == "2021-07-06"
