"""Read an official publication's HTML manifestation (officielebekendmakingen.nl) into a letter: the
<meta> fields and the text of its paragraphs, never its scripts or styles."""
from __future__ import annotations

from html.parser import HTMLParser

from corpus.models import Letter
from corpus.officiel import merge_metadata, squash, dossier_label, sender_from_meta

_HEADER_CLASSES = {"kamerstukdatum", "stuknummer", "kopregel", "voetregel"}  # <p>s that are no <al>


class _HtmlReader(HTMLParser):
    """Collects <meta name content> and the text of <p> paragraphs (outside scripts/styles)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, list[str]] = {}
        self.paragraphs: list[str] = []
        self._p: list[str] | None = None
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "meta" and a.get("name"):
            self.meta.setdefault(a["name"], []).append(a.get("content") or "")
        elif tag in ("script", "style"):
            self._skip += 1
        elif tag == "p":
            self._close()
            if a.get("class") not in _HEADER_CLASSES:
                self._p = []

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in ("p", "div", "body"):
            self._close()

    def handle_data(self, data):
        if self._p is not None and not self._skip:
            self._p.append(data)

    def _close(self):
        if self._p is not None:
            text = squash("".join(self._p))
            if text:
                self.paragraphs.append(text)
        self._p = None


def letter_from_html(data: bytes, meta: dict | None = None, source: str = "") -> Letter:
    """The HTML manifestation of a publication -> Letter (paragraphs are its `<p>` elements)."""
    reader = _HtmlReader()
    reader.feed(data.decode("utf-8", errors="replace"))
    reader.close()
    reader._close()
    get = lambda k: (reader.meta.get(k) or [""])[0].strip()  # noqa: E731
    found = {
        "id": get("DC.identifier"), "text": "\n\n".join(reader.paragraphs),
        "title": get("DC.title"), "date": get("DCTERMS.issued") or get("DCTERMS.available"),
        "sender": sender_from_meta(get("DC.creator"), sorted(reader.meta.get("OVERHEIDop.indiener", []))),
        "dossier": dossier_label(get("OVERHEIDop.dossiernummer")), "stuk": get("OVERHEIDop.ondernummer"),
        "kenmerk": "", "url": "",
    }
    return merge_metadata(found, meta, source)
