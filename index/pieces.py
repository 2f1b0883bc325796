"""A Unigram tokenizer for a few short texts, opened in milliseconds instead of a second.

Building XLM-R's tokenizer from its `tokenizer.json` (250,002 Unigram pieces, 17 MB) costs ~1.2 s of CPU
with the GIL held, most of a one-off question's start. A Unigram tokenizer splits each pre-tokenised
word into the vocabulary pieces with the best total score, so only pieces that occur inside the text's
words can take part. A tokenizer built from just those pieces (plus the special tokens, the unknown
token and the lowest-scoring piece, whose score sets the penalty of an unknown character) therefore
gives the same segmentation; its ids are mapped back to the full vocabulary's. The same `tokenizers`
library runs both; `tests/test_pieces.py` compares them on odd texts, and the real model's test on the
corpus's passages and the dev questions.

The piece table is derived once from `tokenizer.json` into `tokenizer-pieces/` beside it: each piece's
8-byte hash (sorted), its UTF-8 bytes, its score; rebuilt when `tokenizer.json` changes.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, models

FOLDER = "tokenizer-pieces"  # inside the model folder, beside tokenizer.json
TABLE_VERSION = 1
MARK = "\u2581"  # Metaspace's word start: a text cut at a special token starts a new word


def _hashes(pieces: list[bytes]) -> np.ndarray:
    return np.array([int.from_bytes(hashlib.blake2b(p, digest_size=8).digest(), "little") for p in pieces],
                    dtype=np.uint64)


def _source_key(file: Path) -> dict:
    stat = file.stat()
    return {"version": TABLE_VERSION, "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _usable(spec: dict) -> bool:
    """A Unigram model without byte fallback whose special tokens are vocabulary pieces at their ids."""
    model, vocab = spec.get("model") or {}, (spec.get("model") or {}).get("vocab") or []
    return (model.get("type") == "Unigram" and not model.get("byte_fallback") and model.get("unk_id") is not None
            and all(t["id"] < len(vocab) and vocab[t["id"]][0] == t["content"] for t in spec.get("added_tokens", [])))


def _template_ids(spec: dict) -> list[int]:
    """Ids the post-processor writes itself (e.g. <s> and </s>): kept at their own positions."""
    special = (spec.get("post_processor") or {}).get("special_tokens") or {}
    return [i for token in special.values() for i in token.get("ids", [])]


def _write_table(model_dir: Path, folder: Path) -> None:
    """Derive the piece table from tokenizer.json (~0.7 s, once); written whole or not at all."""
    source = model_dir / "tokenizer.json"
    spec = json.loads(source.read_text(encoding="utf-8"))
    if not _usable(spec):
        raise ValueError("not a Unigram tokenizer this table can stand in for")
    vocab = spec["model"]["vocab"]
    pieces = [p.encode("utf-8") for p, _ in vocab]
    hashes = _hashes(pieces)
    order = np.argsort(hashes, kind="stable")
    offsets = np.zeros(len(pieces) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(p) for p in pieces])
    keep = sorted(set(range(max(_template_ids(spec), default=-1) + 1)) | {spec["model"]["unk_id"]}
                  | {t["id"] for t in spec.get("added_tokens", [])})
    position = {i: n for n, i in enumerate(keep)}  # the skeleton: normaliser, pre-tokeniser, ... and a tiny vocabulary
    skeleton = {**spec, "model": {**spec["model"], "vocab": [vocab[i] for i in keep],
                                  "unk_id": position[spec["model"]["unk_id"]]},
                "added_tokens": [{**t, "id": position[t["id"]]} for t in spec.get("added_tokens", [])]}
    tmp = folder.with_name(f".{FOLDER}.{uuid.uuid4().hex[:6]}.tmp")
    tmp.mkdir(parents=True)
    (tmp / "pieces.bin").write_bytes(b"".join(pieces))
    for name, array in (("offsets", offsets), ("hashes", hashes[order]), ("order", order.astype(np.int32)),
                        ("scores", np.array([s for _, s in vocab], dtype=np.float64)), ("always", np.array(keep))):
        np.save(tmp / f"{name}.npy", array)
    (tmp / "skeleton.json").write_text(json.dumps(skeleton, ensure_ascii=False), encoding="utf-8")
    (tmp / "table.json").write_text(json.dumps({"source": _source_key(source), "unk_id": spec["model"]["unk_id"],
                                                "longest": max(len(p) for p, _ in vocab)}))
    try:
        os.rename(tmp, folder)  # atomic; another process may have won the race
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)


class PieceTable:
    """The vocabulary of a Unigram tokenizer.json, looked up piece by piece without building it whole."""

    def __init__(self, folder: Path):
        self.blob = (folder / "pieces.bin").read_bytes()
        self.offsets, self.hashes, self.order, self.scores, always = (
            np.load(folder / f"{name}.npy") for name in ("offsets", "hashes", "order", "scores", "always"))
        self.skeleton = Tokenizer.from_file(str(folder / "skeleton.json"))
        about = json.loads((folder / "table.json").read_text())
        self.unk_id, self.longest = about["unk_id"], about["longest"]  # longest piece, in characters
        self.always = set(always.tolist()) | {int(np.argmin(self.scores))}
        self.special = [token for _, token in sorted(self.skeleton.get_added_tokens_decoder().items())]

    def piece(self, i: int) -> str:
        return self.blob[self.offsets[i]:self.offsets[i + 1]].decode("utf-8")

    def find(self, texts: list[str]) -> np.ndarray:
        """Ids of the vocabulary pieces among `texts` (sorted, unique)."""
        encoded = [t.encode("utf-8") for t in texts]
        wanted = _hashes(encoded)
        rows = np.searchsorted(self.hashes, wanted)
        found = []
        for text, h, row in zip(encoded, wanted, rows):
            while row < len(self.hashes) and self.hashes[row] == h:  # equal hashes: compare the bytes
                i = int(self.order[row])
                if self.blob[self.offsets[i]:self.offsets[i + 1]] == text:
                    found.append(i)
                    break
                row += 1
        return np.array(sorted(set(found)), dtype=np.int64)

    def words(self, text: str) -> list[str]:
        """The text as the Unigram model sees it: normalised and pre-tokenised."""
        normalizer, pre = self.skeleton.normalizer, self.skeleton.pre_tokenizer
        norm = normalizer.normalize_str(text) if normalizer is not None else text
        return [w for w, _ in pre.pre_tokenize_str(norm)] if pre is not None else [norm]

    def candidates(self, texts: list[str]) -> set[str]:
        """Every piece that could take part: the substrings of every word, also as a word start."""
        found = set()
        for text in texts:
            for word in self.words(text):
                for i in range(len(word)):
                    found.update(word[i:j] for j in range(i + 1, min(len(word), i + self.longest) + 1))
        return found | {MARK + s for s in found if not s.startswith(MARK)}

    def tokenizer(self, texts: list[str]) -> tuple[Tokenizer, np.ndarray]:
        """A tokenizer for `texts` and the full vocabulary's id of each of its ids."""
        keep = np.union1d(self.find(sorted(self.candidates(texts))), np.array(sorted(self.always), dtype=np.int64))
        vocab = [(self.piece(i), float(self.scores[i])) for i in keep]
        small = Tokenizer(models.Unigram(vocab, int(np.searchsorted(keep, self.unk_id)), False))
        small.normalizer, small.pre_tokenizer = self.skeleton.normalizer, self.skeleton.pre_tokenizer
        small.post_processor, small.decoder = self.skeleton.post_processor, self.skeleton.decoder
        small.add_special_tokens(self.special)
        return small, keep

    def ids(self, texts: list[str], max_tokens: int) -> list[list[int]]:
        """What the full tokenizer gives (no padding, truncated to `max_tokens`)."""
        small, keep = self.tokenizer(texts)
        small.enable_truncation(max_tokens)
        return [keep[e.ids].tolist() for e in small.encode_batch(list(texts))]

    def id_of(self, piece: str) -> int | None:
        found = self.find([piece])
        return int(found[0]) if len(found) else None


def _current(folder: Path, key: dict) -> bool:
    try:
        return json.loads((folder / "table.json").read_text())["source"] == key
    except (OSError, ValueError, KeyError):
        return False


def open_table(model_dir: Path) -> PieceTable | None:
    """The piece table of `model_dir`'s tokenizer.json, derived on first use; None when the tokenizer is not
    one it can stand in for, or the folder cannot be written (then the full tokenizer is used)."""
    model_dir = Path(model_dir)
    source, folder = model_dir / "tokenizer.json", model_dir / FOLDER
    try:
        if folder.exists() and not _current(folder, _source_key(source)):
            shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            _write_table(model_dir, folder)
        return PieceTable(folder)
    except (OSError, ValueError, KeyError):
        return None
