"""What a rebuild takes from the index it replaces, so that changing one letter of a large corpus costs
little: the passages of every letter whose text is unchanged, and the trained IVF lists of its vectors.
Chunking and training the IVF lists of the sentence vectors are the largest fixed costs of a rebuild whose
vectors are all in the embedding cache (docs/PERFORMANCE.md "Changing one letter").

Passages depend only on a letter's id and text, the chunking settings and the chunking code; the index
records the settings and a fingerprint of the code (`chunker_fingerprint`), and nothing is taken from an
index that differs in either (or that is damaged, or older than the fingerprint).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from corpus import chunk, clean
from corpus.chunk import ChunkSettings
from corpus.models import Letter, Passage
from index.store import IndexError_, read_letters, read_manifest, read_passages, verify_files


def chunker_fingerprint() -> str:
    """Changes whenever the chunking code (corpus/chunk.py, corpus/clean.py) changes."""
    h = hashlib.sha256()
    for module in (chunk, clean):
        h.update(Path(module.__file__).read_bytes())
    return h.hexdigest()[:16]


def previous_passages(path: Path, letters: list[Letter], settings: ChunkSettings) -> dict[str, list[Passage]]:
    """By letter id, the passages the index at `path` holds for those of `letters` whose text it holds
    unchanged, if it was chunked with the same `settings` and code; {} when there is no such index."""
    try:
        manifest = read_manifest(path)
        folder = verify_files(path, manifest, deep=False)
    except IndexError_:
        return {}
    chunked = manifest.get("settings", {})
    if (manifest.get("chunker") != chunker_fingerprint()
            or {k: chunked.get(k) for k in settings.as_dict()} != settings.as_dict()):
        return {}
    try:
        old = read_letters(folder)
        same = {letter.id: [] for letter in letters if letter.id in old and old[letter.id].text == letter.text}
        for passage in read_passages(folder, old):
            if passage.letter_id in same:
                same[passage.letter_id].append(passage)
    except (OSError, ValueError, KeyError, TypeError):  # a damaged index: chunk everything again
        return {}
    return same


def previous_ivf(path: Path, file: str, fingerprint: str, nlist: int):
    """The faiss index `file` of the index at `path`, emptied but still trained, if it is IVF with `nlist`
    lists and was built by the model `fingerprint` (so its lists fit the new vectors); else None."""
    import faiss

    try:
        manifest = read_manifest(path)
        folder = verify_files(path, manifest, deep=False)
    except IndexError_:
        return None
    if manifest.get("model_fingerprint") != fingerprint or not (folder / file).exists():
        return None
    try:
        index = faiss.read_index(str(folder / file))
        lists = faiss.extract_index_ivf(index).nlist
    except RuntimeError:  # not IVF (exact search), or unreadable
        return None
    if lists != nlist:
        return None
    index.reset()
    return index
