"""Thumbs up/down on answers, kept in a local SQLite file, and exported as CSV or JSON.

One row per vote: time (UTC, ISO), rating ('up' or 'down'), the question, the answer as shown, the ids
of the cited passages (JSON list, 'letter#start') and the filters in force.
"""
from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

FIELDS = ("id", "time", "rating", "question", "answer", "passage_ids", "filters")
RATINGS = ("up", "down")

_SCHEMA = """CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    passage_ids TEXT NOT NULL,
    filters TEXT NOT NULL DEFAULT ''
)"""


def default_feedback_db() -> Path:
    """$KAMERQA_FEEDBACK_DB, else feedback.sqlite in the user data folder."""
    if os.environ.get("KAMERQA_FEEDBACK_DB"):
        return Path(os.environ["KAMERQA_FEEDBACK_DB"])
    from platformdirs import user_data_dir

    return Path(user_data_dir("kamerqa")) / "feedback.sqlite"


def _connect(path: Path | str | None) -> sqlite3.Connection:
    path = Path(path) if path else default_feedback_db()
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.execute(_SCHEMA)
    return db


def record_feedback(rating: str, question: str, answer: str, passage_ids: list[str], filters: str = "",
                    path: Path | str | None = None) -> int:
    """Store one vote; returns its row id."""
    if rating not in RATINGS:
        raise ValueError(f"rating {rating!r} is not one of {', '.join(RATINGS)}")
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with _connect(path) as db:
        cur = db.execute("INSERT INTO feedback (time, rating, question, answer, passage_ids, filters) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         (now, rating, question, answer, json.dumps(list(passage_ids)), filters))
    db.close()
    return int(cur.lastrowid)


def read_feedback(path: Path | str | None = None) -> list[dict]:
    """All votes, oldest first, as dicts with FIELDS (passage_ids as a list)."""
    db = _connect(path)
    rows = db.execute(f"SELECT {', '.join(FIELDS)} FROM feedback ORDER BY id").fetchall()
    db.close()
    out = [dict(zip(FIELDS, row)) for row in rows]
    for row in out:
        row["passage_ids"] = json.loads(row["passage_ids"])
    return out


def export_feedback(fmt: str, path: Path | str | None = None) -> str:
    """The votes as CSV (passage ids joined by ' ') or as a JSON array."""
    rows = read_feedback(path)
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "passage_ids": " ".join(row["passage_ids"])})
        return buf.getvalue()
    raise ValueError(f"unknown format {fmt!r}; choose csv or json")
