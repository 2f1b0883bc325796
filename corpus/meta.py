"""Find a letter's metadata in its text: date, sender, subject, dossier and stuk number, kenmerk."""
from __future__ import annotations

import re

MONTHS = {
    "januari": 1, "februari": 2, "maart": 3, "april": 4, "mei": 5, "juni": 6, "juli": 7,
    "augustus": 8, "september": 9, "oktober": 10, "november": 11, "december": 12,
    "january": 1, "february": 2, "march": 3, "may": 5, "june": 6, "july": 7, "august": 8, "october": 10,
}
_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
DATE_RE = re.compile(rf"\b(\d{{1,2}})\s+({_MONTH})\s+(1[89]\d\d|20\d\d)\b", re.IGNORECASE)
_PLACE_DATE = re.compile(
    rf"(?:Den Haag|'s-Gravenhage|’s-Gravenhage|Datum|Brussel|Amsterdam)[,:\s]+(\d{{1,2}}\s+(?:{_MONTH})\s+\d{{4}})",
    re.IGNORECASE,
)
_DOSSIER = re.compile(r"^\s*(\d{2}\s?\d{3}(?:\s?[A-Z]{1,3})?)\s*(?:,\s*nr\.?\s*(\d+))?\s*$", re.MULTILINE)
_DOSSIER_FOOTER = re.compile(
    r"(?:Tweede|Eerste) Kamer, (?:zitting|vergaderjaar) \d{4}\s*[-–—]\s*\d{4},?\s*(\d{2}\s?\d{3})\s*,\s*nr\.?\s*(\d+)",
    re.IGNORECASE,
)
_NR = re.compile(r"^\s*Nr\.?\s*(\d+)\s*$", re.MULTILINE | re.IGNORECASE)
_KENMERK = re.compile(r"(?:Ons\s+)?kenmerk\**\s*[:\n]?\s*(?:\n\s*)?([A-Z0-9][\w./-]{3,40})", re.IGNORECASE)
_ONDERWERP = re.compile(r"^\s*\**Onderwerp\**[:\s]+(.{3,200})$", re.MULTILINE | re.IGNORECASE)
_BRIEF_VAN = re.compile(
    r"BRIEF VAN (?:DE|HET|DEN)\s+((?:MINISTER|STAATSSECRETARIS|MINISTER-PRESIDENT|STAATS-SECRETARIS)[A-ZÀ-Ý ,\-]{0,120})",
)
_SIGNATURE = re.compile(
    r"^[ \t]*De\s+((?:Minister|Staatssecretaris|Minister-President|Eerste Minister)[^\n,]{0,100}),?\s*\n"
    r"(?:[ \t]*\n){0,6}\s*([A-Z][^\n]{2,60})$",
    re.MULTILINE,
)
_SIGNATURE_ONE_LINE = re.compile(
    r"^[ \t]*De\s+((?:Minister|Staatssecretaris|Minister-President)[^\n,]{0,100}),\s*([A-Z][^\n,]{2,60})$",
    re.MULTILINE,
)
_SMALL = {"van", "voor", "en", "de", "het", "der", "den", "op", "in", "met", "bij"}


def iso_date(text: str) -> str:
    """'21 juni 2018' -> '2018-06-21'; '' when there is no date."""
    m = DATE_RE.search(text)
    if not m:
        return ""
    day, month, year = int(m.group(1)), MONTHS[m.group(2).lower()], int(m.group(3))
    return f"{year:04d}-{month:02d}-{day:02d}" if 1 <= day <= 31 else ""


def title_case(office: str) -> str:
    """'MINISTER VAN VERKEER EN WATERSTAAT' -> 'Minister van Verkeer en Waterstaat'."""
    words = office.strip(" ,").split()
    return " ".join(
        w.lower() if (i and w.lower() in _SMALL) else "-".join(p.capitalize() for p in w.split("-"))
        for i, w in enumerate(words)
    )


def find_date(text: str) -> str:
    head = text[:4000]
    m = _PLACE_DATE.search(head)
    return iso_date(m.group(1)) if m else iso_date(head)


def find_sender(text: str) -> str:
    """'Staatssecretaris voor Justitie en Veiligheid (Mark Harbers)'-style; '' when unknown."""
    office, name = "", ""
    m = _BRIEF_VAN.search(text[:4000])
    if m:
        office = title_case(re.sub(r"(\s+[A-Z])?\s*$", "", re.sub(r"\s+", " ", m.group(1))))
    signatures = list(_SIGNATURE.finditer(text)) or list(_SIGNATURE_ONE_LINE.finditer(text))
    if signatures:
        sig = signatures[-1]
        office = office or re.sub(r"\s+", " ", sig.group(1)).strip()
        name = sig.group(2).strip().strip("*").strip()
        if len(name.split()) > 6 or re.search(r"\d", name):
            name = ""
    if not office:
        return ""
    return f"{office} ({name})" if name else office


def find_dossier(text: str) -> tuple[str, str]:
    """(dossier, stuk), e.g. ('29 515', '496'); empty strings when not found."""
    m = _DOSSIER_FOOTER.search(text)
    if m:
        return _dossier_format(m.group(1)), m.group(2)
    head = text[:1500]
    d = _DOSSIER.search(head)
    nr = _NR.search(head)
    if d:
        return _dossier_format(d.group(1)), d.group(2) or (nr.group(1) if nr else "")
    return "", ""


def _dossier_format(d: str) -> str:
    digits = re.sub(r"\s", "", d)
    m = re.match(r"(\d{2})(\d{3})(.*)", digits)
    return f"{m.group(1)} {m.group(2)}{(' ' + m.group(3)) if m.group(3) else ''}" if m else d


def find_title(text: str) -> str:
    """The subject line, else the dossier title printed under the dossier number."""
    m = _ONDERWERP.search(text[:4000])
    if m:
        return m.group(1).strip(" *")
    lines = [line.strip() for line in text[:2000].splitlines()]
    for i, line in enumerate(lines):
        if _DOSSIER.match(line) and not _NR.match(line):
            title = []
            for nxt in lines[i + 1:i + 6]:
                if not nxt or _NR.match(nxt) or nxt.upper().startswith("BRIEF VAN"):
                    break
                title.append(nxt)
            if title:
                return " ".join(title)
    return ""


def find_kenmerk(text: str) -> str:
    m = _KENMERK.search(text[:4000])
    return m.group(1) if m and re.search(r"\d", m.group(1)) else ""


def extract(text: str) -> dict:
    """All metadata the text gives; keys as in `Letter`."""
    dossier, stuk = find_dossier(text)
    return {
        "title": find_title(text),
        "date": find_date(text),
        "sender": find_sender(text),
        "dossier": dossier,
        "stuk": stuk,
        "kenmerk": find_kenmerk(text),
    }
