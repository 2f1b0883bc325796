"""The kamerqa command line, end to end with the fake embedder."""
from __future__ import annotations

import json

import pytest

from qa.cli import main


@pytest.fixture
def built(tmp_path, letters_dir, monkeypatch):
    monkeypatch.setenv("KAMERQA_INDEX", str(tmp_path / "ix"))
    monkeypatch.setenv("KAMERQA_CACHE", str(tmp_path / "cache"))
    assert main(["index", "--corpus", str(letters_dir), "--model", "fake", "--quiet"]) == 0
    return tmp_path / "ix"


def test_index_reports_counts(tmp_path, letters_dir, capsys):
    assert main(["index", "--corpus", str(letters_dir), "--index", str(tmp_path / "ix"), "--model", "fake",
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "indexed 3 letters" in out and "passages" in out and "MB" in out


def test_ask_json_shape(built, capsys):
    capsys.readouterr()
    assert main(["ask", "secundaire migratie", "--json", "-k", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["question"] == "secundaire migratie" and len(out["hits"]) == 2
    hit = out["hits"][0]
    assert hit["letter_id"] == "brief-migratie"
    assert set(hit) >= {"letter_id", "paragraph", "start", "end", "text", "score", "title", "date", "sender", "url"}


def test_ask_batch_echoes_ids(built, tmp_path, capsys):
    batch = tmp_path / "q.jsonl"
    batch.write_text('{"id": "q1", "question": "dijken Noord-Holland"}\n{"id": "q2", "question": "   "}\n')
    capsys.readouterr()
    assert main(["ask", "--batch", str(batch), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["id"] for r in rows] == ["q1", "q2"]
    assert rows[0]["hits"][0]["letter_id"] == "brief-dijken"
    assert rows[1]["hits"] == [] and "empty" in rows[1]["error"]
    plain = tmp_path / "q.txt"
    plain.write_text("leerlingenvervoer\nkosten dijken\n")
    assert main(["ask", "--batch", str(plain), "--json"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_ask_text_output_cites(built, capsys):
    capsys.readouterr()
    assert main(["ask", "hogere vergoeding leerlingenvervoer", "-k", "3"]) == 0
    out = capsys.readouterr().out
    assert "brief-onderwijs" in out


def test_filters_on_ask(built, capsys):
    capsys.readouterr()
    assert main(["ask", "kosten", "--json", "--sender", "Verkeer", "-k", "10"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert hits and {h["letter_id"] for h in hits} == {"brief-dijken"}


def test_missing_index_is_one_line(tmp_path, capsys):
    assert main(["ask", "iets", "--index", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "kamerqa index" in err


def test_empty_corpus_folder_is_one_line(tmp_path, capsys):
    (tmp_path / "leeg").mkdir()
    assert main(["index", "--corpus", str(tmp_path / "leeg"), "--index", str(tmp_path / "ix"), "--model", "fake"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no letters found" in err and "--corpus" in err
    assert not (tmp_path / "ix" / "manifest.json").exists()


def test_wrong_model_for_index_is_one_line(built, capsys):
    assert main(["ask", "iets", "--model", "fake-32"]) == 2
    assert "built with model" in capsys.readouterr().err


def test_unreadable_files_are_listed_and_the_rest_indexed(tmp_path, letters_dir, capsys):
    (letters_dir / "leeg.md").write_text("")
    (letters_dir / "raar.docx").write_bytes(b"PK\x03\x04")
    assert main(["index", "--corpus", str(letters_dir), "--index", str(tmp_path / "ix"), "--model", "fake",
                 "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "leeg.md" in captured.err and "raar.docx" in captured.err and "indexed 3 letters" in captured.out
