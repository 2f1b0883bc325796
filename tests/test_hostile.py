"""Hostile input: files that are empty, binary, huge, wrongly encoded, malformed, dangerous XML, links out
of the corpus folder, letters full of HTML and JS, and questions that are empty, huge or not words.

Every hostile file is skipped with a one-line reason or read safely; `kamerqa index` still finishes and
indexes the good letters, and `kamerqa ask` answers from them. docs/ROBUSTNESS.md lists what each did.
"""
from __future__ import annotations

import json
import re
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from corpus import readers
from corpus.clean import clean_letter
from corpus.readers import html_to_text, read_corpus
from qa.cli import main
from qa.search import MAX_QUESTION_CHARS, QuestionError, check_question, search

OFFICIAL_XML = (Path(__file__).resolve().parents[2] / "shared" / "corpus" / "fixtures" / "plooi" / "integratie-testen"
                / "oep" / "repository.overheid.nl" / "frbr" / "officielepublicaties" / "kst" / "32545"
                / "kst-32545-143" / "1" / "xml" / "kst-32545-143.xml")

LETTER = """Aan de Voorzitter van de Tweede Kamer der Staten-Generaal

Den Haag, 3 maart 2021

Geachte Voorzitter,

{body}

De Minister van Infrastructuur en Waterstaat,
J. Jansen
"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<officiele-publicatie><kamerstuk><al>&lol9;</al></kamerstuk></officiele-publicatie>
"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<officiele-publicatie><kamerstuk><al>&secret;</al></kamerstuk></officiele-publicatie>
"""


def short(value) -> str:
    """A readable test id for a long parameter."""
    return f"{value[:10]!r}x{len(value)}" if isinstance(value, str) else ""


def letter_text(body: str) -> str:
    return LETTER.format(body=body)


def write_hostile_corpus(folder: Path, outside: Path) -> dict[str, str]:
    """Write good and hostile files into `folder`; returns {file name: what must happen} for the hostile ones."""
    shutil.copytree(Path(__file__).parent / "letters", folder)
    expect: dict[str, str] = {}

    (folder / "brief-cp1252.txt").write_bytes(letter_text(
        "De kosten van de brug over de Waal bedragen € 12 miljoen; de ruïne van het café wordt één "
        "museum voor de Maasbrug.").encode("cp1252"))
    (folder / "brief-utf16.txt").write_bytes(letter_text(
        "De geitenhouderij in Brabant krijgt strengere regels voor stikstof en fijnstof.").encode("utf-16"))
    (folder / "brief-script.txt").write_text(letter_text(
        "Over de <script>alert(1)</script> en <b onmouseover=\"alert(2)\">vetgedrukte</b> vuurtoren van "
        "Terschelling: <img src=x onerror=alert(3)> de lamp wordt vervangen door led-verlichting."))
    (folder / "brief-html.html").write_text(
        "<html><head><title>x</title><script>alert('head')</script></head><body><p>Geachte Voorzitter,</p>"
        "<p>De windmolens bij Urk <script>document.cookie</script>leveren stroom aan de polder."
        "<style>p{}</style></p><p onclick=\"alert(4)\">Met vriendelijke groet</p></body></html>")
    if OFFICIAL_XML.exists():
        shutil.copy(OFFICIAL_XML, folder / "kst-32545-143.xml")
        data = OFFICIAL_XML.read_bytes()
        (folder / "truncated.xml").write_bytes(data[: len(data) // 2])
        expect["truncated.xml"] = "not well-formed"
    else:
        (folder / "truncated.xml").write_bytes(b"<officiele-publicatie><kamerstuk><al>Half")
        expect["truncated.xml"] = "not well-formed"
    (folder / "bomb.xml").write_bytes(BILLION_LAUGHS)
    expect["bomb.xml"] = "refused unsafe XML"
    (folder / "xxe.xml").write_bytes(EXTERNAL_ENTITY)
    expect["xxe.xml"] = "refused unsafe XML"

    expect.update(_write_unreadable_files(folder))
    expect.update(_write_bad_jsonl(folder))
    expect.update(_write_links_and_unknown_formats(folder, outside))
    return expect


def _write_unreadable_files(folder: Path) -> dict[str, str]:
    expect = {}
    (folder / "empty.txt").write_bytes(b"")
    expect["empty.txt"] = "empty file"
    (folder / "blank.md").write_text("  \n\n\t \n")
    expect["blank.md"] = "no text"
    (folder / "binary.txt").write_bytes(bytes(range(256)) * 64)
    expect["binary.txt"] = "binary file"
    (folder / "binary.pdf").write_bytes(b"%PDF-1.4\n" + os.urandom(4096))
    expect["binary.pdf"] = "unreadable PDF"
    (folder / "utf16-no-bom.txt").write_bytes(letter_text("Zonder BOM.").encode("utf-16-le"))
    expect["utf16-no-bom.txt"] = "binary file"
    with open(folder / "huge.txt", "wb") as f:  # 50 MB, sparse: instant to write
        f.truncate(50 * 2**20)
    expect["huge.txt"] = "larger than"
    os.mkfifo(folder / "fifo.txt")  # reading it would block for ever
    expect["fifo.txt"] = "empty file"
    (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    expect["deep.json"] = "not a JSON letter object"
    (folder / "list.json").write_text('["text", "geen object"]')
    expect["list.json"] = "not a JSON letter object"
    return expect


def _write_bad_jsonl(folder: Path) -> dict[str, str]:
    (folder / "letters.jsonl").write_text("\n".join([
        json.dumps({"id": "jsonl-goed", "text": letter_text("De veerpont naar Ameland vaart vaker in de zomer."),
                    "title": 12345, "date": ["2021"], "afzender_kop": {"x": 1}, "sender": None}),
        '{"id": "kapot", "text": "niet afgesloten',
        "[1, 2, 3]",
        '{"id": "geen-tekst"}',
        '{"id": "getal", "text": 42}',
        '{"id": "leeg", "text": "   "}',
        "[" * 50_000 + "]" * 50_000,
        "\x00\xff garbage",
        "",
    ]) + "\n")
    return {"letters.jsonl:2": "not a JSON object", "letters.jsonl:3": "not a JSON object",
            "letters.jsonl:4": "not a JSON object", "letters.jsonl:5": "has no text",
            "letters.jsonl:6": "has no text", "letters.jsonl:7": "not a JSON object",
            "letters.jsonl:8": "not a JSON object"}


def _write_links_and_unknown_formats(folder: Path, outside: Path) -> dict[str, str]:
    expect = {}
    for name in ("brief.docx", "programma.exe", "LEESMIJ"):
        (folder / name).write_bytes(b"PK\x03\x04 not a letter")
        expect[name] = "unknown format"
    outside.mkdir(exist_ok=True)
    (outside / "geheim.txt").write_text(letter_text("Geheime brief buiten de corpusmap over de kerncentrale."))
    os.symlink(outside / "geheim.txt", folder / "link-naar-buiten.txt")
    expect["link-naar-buiten.txt"] = "leads outside"
    os.symlink("/etc/passwd", folder / "passwd.txt")
    expect["passwd.txt"] = "leads outside"
    os.symlink(folder / "nergens.txt", folder / "dangling.txt")
    expect["dangling.txt"] = "cannot read"
    os.symlink(folder / "loop-b.txt", folder / "loop-a.txt")
    os.symlink(folder / "loop-a.txt", folder / "loop-b.txt")
    expect["loop-a.txt"] = expect["loop-b.txt"] = ""  # skipped, the reason depends on the Python version
    (folder / "submap.txt").mkdir()  # folders are not read, whatever their name
    (folder / "submap.txt" / "binnen.txt").write_text(letter_text("Een brief in een submap."))
    return expect


GOOD = {"brief-dijken", "brief-migratie", "brief-onderwijs", "brief-cp1252", "brief-utf16", "brief-script", "brief-html",
        "jsonl-goed"} | ({"kst-32545-143"} if OFFICIAL_XML.exists() else set())


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    expect = write_hostile_corpus(root / "corpus", root / "outside")
    return root, expect


def test_reader_skips_each_hostile_file_with_a_reason(hostile):
    root, expect = hostile
    started = time.perf_counter()
    result = read_corpus([root / "corpus"])
    assert time.perf_counter() - started < 20
    assert {letter.id for letter in result.letters} == GOOD
    reasons = {Path(source).name: reason for source, reason in result.skipped}
    for name, fragment in expect.items():
        assert name in reasons, f"{name} was not skipped"
        assert fragment in reasons[name], (name, reasons[name])
        assert "\n" not in reasons[name] and len(reasons[name]) < 300
    by_id = {letter.id: letter for letter in result.letters}
    assert "€ 12 miljoen" in by_id["brief-cp1252"].text and "één" in by_id["brief-cp1252"].text
    assert "geitenhouderij" in by_id["brief-utf16"].text
    assert "<script>alert(1)</script>" in by_id["brief-script"].text  # read as text; the app escapes it
    assert by_id["jsonl-goed"].title == "12345" and by_id["jsonl-goed"].date == "2021-03-03"  # a list date is dropped; the text gives one
    assert not any("kerncentrale" in letter.text for letter in result.letters)
    assert not any("root:" in letter.text for letter in result.letters)


def test_html_letter_loses_scripts_and_styles(hostile):
    root, _ = hostile
    (letter,) = read_corpus([root / "corpus" / "brief-html.html"]).letters
    assert "windmolens bij Urk" in letter.text
    assert "alert" not in letter.text and "cookie" not in letter.text and "p{}" not in letter.text


def test_index_and_ask_survive_the_hostile_corpus(hostile, tmp_path, capsys):
    root, expect = hostile
    index = tmp_path / "index"
    assert main(["index", "--corpus", str(root / "corpus"), "--index", str(index), "--model", "fake", "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert f"indexed {len(GOOD)} letters" in out
    skipped_lines = [line for line in err.splitlines() if line.startswith("skipped ")]
    for name in expect:
        assert any(f"/{name}:" in line or f"/{name} " in line or line.split(": ")[0].endswith(name)
                   for line in skipped_lines), f"{name} not reported on stderr"
    assert "Traceback" not in err

    def ask(question: str) -> dict:
        assert main(["ask", "--index", str(index), "--json", "-k", "3", question]) == 0
        return json.loads(capsys.readouterr().out)

    assert ask("veerpont Ameland zomer")["hits"][0]["letter_id"] == "jsonl-goed"
    assert ask("geitenhouderij Brabant stikstof")["hits"][0]["letter_id"] == "brief-utf16"
    assert ask("brug over de Waal")["hits"][0]["letter_id"] == "brief-cp1252"
    hit = ask("vuurtoren Terschelling lamp")["hits"][0]
    assert hit["letter_id"] == "brief-script" and "<script>alert(1)</script>" in hit["text"]
    assert {h["letter_id"] for h in ask("kerncentrale geheime brief")["hits"]} <= GOOD


def test_huge_jsonl_line_is_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "max_bytes", lambda: 1024)
    path = tmp_path / "big.jsonl"
    path.write_text(json.dumps({"id": "groot", "text": "woord " * 1000}) + "\n"
                    + json.dumps({"id": "klein", "text": "Een korte brief."}) + "\n")
    result = read_corpus([path])
    assert [letter.id for letter in result.letters] == ["klein"]
    assert "larger than" in result.skipped[0][1]


def test_broken_utf16_and_utf8_after_a_bom_read_with_replacements(tmp_path):
    (tmp_path / "odd.txt").write_bytes(b"\xff\xfe" + "hallo wereld".encode("utf-16-le") + b"x")
    (tmp_path / "bom8.txt").write_bytes(b"\xef\xbb\xbfhallo \xff wereld")
    result = read_corpus([tmp_path])
    assert sorted(letter.id for letter in result.letters) == ["bom8", "odd"], result.skipped
    assert all("hallo" in letter.text for letter in result.letters)


# ---- hostile text for the cleaner and the HTML reader: linear time, not quadratic ----------------

@pytest.mark.parametrize("markup", ["<a " * 30_000, "<p>x<" * 20_000, "<a href=x <" * 10_000 + ">",
                                    "<!--" + "x" * 100_000, "<![CDATA[" * 10_000], ids=short)
def test_html_that_never_closes_a_tag_reads_quickly(markup):
    started = time.perf_counter()
    html_to_text(markup)
    assert time.perf_counter() - started < 3


@pytest.mark.parametrize("text", ["a" * 200_000, "ab-" * 50_000, "-\n" * 50_000, "\u00ad" * 100_000,
                                  "**" * 50_000, "<b " * 30_000, "[x](" * 30_000, ". " * 50_000], ids=short)
def test_cleaner_is_fast_on_long_runs(text):
    started = time.perf_counter()
    clean_letter(text)
    assert time.perf_counter() - started < 3


def test_metadata_extraction_is_fast_on_blank_lines():
    from corpus import meta

    started = time.perf_counter()
    meta.extract("\n" * 15_000 + "x")
    assert time.perf_counter() - started < 1


# ---- questions ------------------------------------------------------------------------------------

@pytest.mark.parametrize("question, message", [
    ("", "empty"), ("   \n\t ", "empty"), ("\x00\x01\x02\x7f", "empty"),
    ("waarom " * 20_000, f"at most {MAX_QUESTION_CHARS}"), ("x" * 100_000, f"at most {MAX_QUESTION_CHARS}"),
    ("?!... ,;", "only punctuation"), ("\u0301\u0301", "only punctuation"),
], ids=short)
def test_unsearchable_questions_raise_a_clear_error(fake_index, question, message):
    with pytest.raises(QuestionError, match=message):
        search(fake_index, question)


@pytest.mark.parametrize("question", [
    "de het een van en", "wat?", "dijken\x00\x01 kosten\x1b[31m", "dijken \udcff\ud800", "dijken \u202e\u200b",
    "a" * (MAX_QUESTION_CHARS - 1), "_", "🙂 dijken", "<script>alert(1)</script> dijken",
], ids=short)
def test_odd_questions_are_answered(fake_index, question):
    """Odd characters neither break the search nor empty it: k ranked hits (fewer than the index
    holds), and the control characters are gone from the question that is searched."""
    hits = search(fake_index, question, k=2)
    assert len(hits) == 2 < len(fake_index.passages)
    assert all(np.isfinite(h.score) for h in hits) and [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert {h.passage.id for h in hits} <= {p.id for p in fake_index.passages}
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", check_question(question))


@pytest.mark.parametrize("question", ["", "\x00\x07", "x" * 100_000, "?!?", "   "], ids=short)
def test_cli_prints_one_line_for_a_bad_question(fake_index, capsys, question):
    assert main(["ask", "--index", str(fake_index.path), "--model", "fake", question]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("kamerqa ask: ")
    assert "Traceback" not in err


def test_cli_batch_reports_bad_questions_and_answers_the_rest(fake_index, tmp_path, capsys):
    batch = tmp_path / "vragen.txt"
    batch.write_text("dijken\n?!?\n" + "x" * 100_000 + "\nde het een\n")
    assert main(["ask", "--index", str(fake_index.path), "--json", "--batch", str(batch)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [bool(row.get("error")) for row in rows] == [False, True, True, False]
    assert rows[0]["hits"]
