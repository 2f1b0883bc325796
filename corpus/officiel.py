"""Read official publications (officielebekendmakingen.nl / repository.overheid.nl) into letters.

Three formats: the search service's SRU 2.0 `searchRetrieveResponse` (gzd records), a publication's
`metadata.xml` / `metadata_owms.xml`, and the publication itself as XML (`officiele-publicatie`) or
HTML. XML is parsed with defusedxml: a document that declares entities is refused, never expanded.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

from corpus.models import Letter

OFFICIAL_URL = "https://zoek.officielebekendmakingen.nl/{}.html"


class ParseError(ValueError):
    """A file that is not the official format it should be; the message names the file."""


@dataclass(frozen=True)
class Record:
    """One search result: a publication's metadata and the URLs of its manifestations."""

    identifier: str
    title: str = ""
    type: str = ""  # "Kamerstuk", "Bijlage", "Aanhangsel van de Handelingen", ...
    subtype: str = ""  # "Brief", "Motie", ... (OVERHEIDop.KamerstukTypen)
    creator: str = ""
    indieners: tuple[str, ...] = ()
    dossier: str = ""
    stuk: str = ""
    date: str = ""
    version: str = ""
    url: str = ""  # the official page
    items: dict[str, str] = field(default_factory=dict)  # manifestation -> download URL

    def meta(self) -> dict:
        """The record as the `meta` dict that `letter_from_xml` / `letter_from_html` take."""
        return {"id": self.identifier, "title": self.title, "date": self.date,
                "sender": sender_from_meta(self.creator, self.indieners),
                "dossier": self.dossier, "stuk": self.stuk, "url": self.url}


@dataclass(frozen=True)
class SruPage:
    records: tuple[Record, ...]
    total: int
    next_position: int | None


def parse_xml(data: bytes, source: str = "") -> Element:
    """Parse untrusted XML; entity declarations and external references are refused."""
    where = source or "XML input"
    try:
        return safe_et.fromstring(data)
    except DefusedXmlException as e:
        raise ParseError(f"{where}: refused unsafe XML ({type(e).__name__}); "
                         "the file declares entities, which official publications never do") from None
    except safe_et.ParseError as e:
        raise ParseError(f"{where}: not well-formed XML ({e}); re-download the file") from None


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _all(root: Element, name: str) -> list[Element]:
    return [el for el in root.iter() if _local(el.tag) == name]


def _first_text(root: Element, *names: str) -> str:
    for name in names:
        for el in _all(root, name):
            text = squash("".join(el.itertext()))
            if text:
                return text
    return ""


def _child_text(root: Element, parent: str, child: str) -> str:
    """Text of the first <child> directly under a <parent>, e.g. the <titel> of the <stuk>."""
    for p in _all(root, parent):
        for c in p:
            if _local(c.tag) == child:
                return squash("".join(c.itertext()))
    return ""


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def dossier_label(number: str) -> str:
    """'32545' -> '32 545', '21501-32' -> '21 501-32' (the way Kamerstukken print it)."""
    number = number.strip()
    m = re.match(r"(\d+)(\d{3})(.*)$", number)
    return f"{m.group(1)} {m.group(2)}{m.group(3)}" if m else number


def sender_from_meta(creator: str, indieners=()) -> str:
    if indieners:
        return ", ".join(indieners)
    return "" if creator.lower() in ("", "overige") else creator


def parse_sru(data: bytes, source: str = "") -> SruPage:
    """A SRU 2.0 searchRetrieveResponse -> its records, total count and next start position."""
    root = parse_xml(data, source)
    if _local(root.tag) != "searchRetrieveResponse":
        raise ParseError(f"{source or 'response'}: expected an SRU searchRetrieveResponse, "
                         f"got <{_local(root.tag)}>; check the SRU URL")
    diagnostics = [squash(" ".join(d.itertext())) for d in _all(root, "diagnostic")]
    if diagnostics:
        raise ParseError(f"{source or 'SRU'}: the service reports: {diagnostics[0]}; check the query")
    records = tuple(_record(gzd) for gzd in _all(root, "gzd"))
    total = _first_text(root, "numberOfRecords")
    nxt = _first_text(root, "nextRecordPosition")
    return SruPage(records, int(total) if total.isdigit() else len(records),
                   int(nxt) if nxt.isdigit() else None)


def _record(gzd: Element) -> Record:
    items = {el.get("manifestation", ""): (el.text or "").strip() for el in _all(gzd, "itemUrl")}
    types = {el.get("scheme", ""): squash(el.text or "") for el in _all(gzd, "type")}
    version_el = next(iter(_all(gzd, "hasVersion")), None)
    identifier = _first_text(gzd, "identifier")
    return Record(
        identifier=identifier,
        title=_first_text(gzd, "title"),
        type=types.get("OVERHEIDop.Parlementair") or next(iter(types.values()), ""),
        subtype=_first_text(gzd, "subrubriek"),
        creator=_first_text(gzd, "creator"),
        indieners=tuple(squash(el.text or "") for el in _all(gzd, "indiener")),
        dossier=dossier_label(_first_text(gzd, "dossiernummer")),
        stuk=_first_text(gzd, "ondernummer"),
        date=_first_text(gzd, "date", "issued", "available"),
        version=squash(version_el.text or "") if version_el is not None else "",
        url=_first_text(gzd, "preferredUrl") or (OFFICIAL_URL.format(identifier) if identifier else ""),
        items=items,
    )


def parse_metadata(data: bytes, source: str = "") -> dict:
    """`metadata.xml` (<metadata name= content=>) or `metadata_owms.xml` -> a `meta` dict."""
    root = parse_xml(data, source)
    if _local(root.tag) == "metadata_gegevens":
        pairs = [(el.get("name", ""), el.get("content", ""), el.get("scheme", ""))
                 for el in _all(root, "metadata")]
        values: dict[str, list[str]] = {}
        for name, content, scheme in pairs:
            key = f"{name}|{scheme}" if name == "DC.type" else name
            values.setdefault(key, []).append(content.strip())
        get = lambda k: (values.get(k) or [""])[0]  # noqa: E731
        identifier, creator = get("DC.identifier"), get("DC.creator")
        meta = {"id": identifier, "title": get("DC.title"),
                "type": get("DC.type|OVERHEIDop.Parlementair"),
                "date": get("DCTERMS.issued") or get("DCTERMS.available"),
                "dossier": get("OVERHEIDop.dossiernummer"), "stuk": get("OVERHEIDop.ondernummer"),
                "sender": sender_from_meta(creator, values.get("OVERHEIDop.indiener", []))}
    elif _local(root.tag) == "owms-metadata":
        types = {el.get("scheme", ""): squash(el.text or "") for el in _all(root, "type")}
        identifier = _first_text(root, "identifier")
        meta = {"id": identifier, "title": _first_text(root, "title"),
                "type": types.get("OVERHEIDop.Parlementair", ""),
                "date": _first_text(root, "issued", "available"),
                "dossier": _first_text(root, "dossiernummer"), "stuk": _first_text(root, "ondernummer"),
                "sender": sender_from_meta(_first_text(root, "creator"),
                                           [squash(el.text or "") for el in _all(root, "indiener")])}
    else:
        raise ParseError(f"{source or 'metadata'}: expected <metadata_gegevens> or <owms-metadata>, "
                         f"got <{_local(root.tag)}>")
    meta["dossier"] = dossier_label(meta["dossier"])
    meta["url"] = OFFICIAL_URL.format(meta["id"]) if meta["id"] else ""
    return meta


def _text_without(el: Element, skip: str) -> str:
    """An element's text leaving out <skip> children (e.g. footnotes), but keeping text after them."""
    parts = [el.text or ""]
    for child in el:
        if _local(child.tag) != skip:
            parts.append(_text_without(child, skip))
        parts.append(child.tail or "")
    return "".join(parts)


def _sender_from_signatures(root: Element) -> str:
    senders = []
    for sig in _all(root, "ondertekening"):
        names = [squash(" ".join(t.strip() for t in n.itertext() if t.strip())) for n in _all(sig, "naam")]
        role = squash(_text_without(sig, "naam"))
        role = re.sub(r"^de\s+", "", role.strip(" ,"), flags=re.I).strip(" ,")
        role = role[:1].upper() + role[1:]
        name = ", ".join(n for n in names if n)
        if role or name:
            senders.append(f"{role} ({name})" if role and name else role or name)
    return "; ".join(dict.fromkeys(senders))


def _identifier_from_xml(root: Element) -> str:
    for meta in _all(root, "meta"):
        content = meta.get("content", "")
        if meta.get("name") == "OVERHEIDop.externMetadataRecord":
            m = re.search(r"/([a-z][a-z-]*-[\w-]+)/metadata\.xml$", content)
            if m:
                return m.group(1)
        if meta.get("name") == "DC.identifier" and content:
            return content
    return ""


def merge_metadata(found: dict, meta: dict | None, source: str) -> Letter:
    """Letter from what the document says, with the search/metadata record's values preferred
    (they are the official metadata); the signature in the document is preferred as sender."""
    meta = {k: v for k, v in (meta or {}).items() if v}
    if meta.get("id") and found.get("id") and meta["id"] != found["id"]:
        raise ParseError(f"{source or 'document'}: the file is {found['id']}, not {meta['id']}; "
                         "the search record points to another publication's file")
    values = {**found, **{k: v for k, v in meta.items() if k in found and k != "sender"}}
    values["sender"] = found.get("sender") or meta.get("sender", "")
    if not values.get("id"):
        raise ParseError(f"{source or 'document'}: no identifier (like kst-32545-143) in the file "
                         "or its metadata; pass meta={'id': ...}")
    if not values.get("text"):
        raise ParseError(f"{source or values['id']}: no paragraphs (<al> / <p>) found; "
                         "is this the publication itself and not its metadata?")
    values["url"] = values.get("url") or OFFICIAL_URL.format(values["id"])
    return Letter(source=source, **values)


def letter_from_xml(data: bytes, meta: dict | None = None, source: str = "") -> Letter:
    """An `officiele-publicatie` XML (kamerstuk, aanhangsel, ...) -> Letter.

    The text is the `<al>` paragraphs joined by blank lines. `meta` (e.g. `Record.meta()`) fills in
    and overrides id, title, date, dossier, stuk, url."""
    root = parse_xml(data, source)
    paragraphs = [squash(_text_without(al, "noot")) for al in _all(root, "al")]
    dossier_title = _child_text(root, "dossier", "titel")
    stuk_title = _child_text(root, "stuk", "titel")
    dates = [el.get("isodatum", "") for el in _all(root, "datum") if el.get("isodatum")]
    found = {
        "id": _identifier_from_xml(root),
        "text": "\n\n".join(p for p in paragraphs if p),
        "title": "; ".join(t for t in (dossier_title, stuk_title) if t),
        "date": dates[0] if dates else "",
        "sender": _sender_from_signatures(root),
        "dossier": _first_text(root, "dossiernr"),
        "stuk": _first_text(root, "ondernummer"),
        "kenmerk": _first_text(root, "kenmerk"),
        "url": "",
    }
    return merge_metadata(found, meta, source)
