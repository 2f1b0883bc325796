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
_BRIEF_VAN = re.compile(  # OCR reads "VAN DE MINISTER" as "VAIM DE", "VAN OE", "DE MIMSTER" too
    r"BRIEF VA(?:N|IM|M) (?:DE|OE|HET|DEN)\s+((?:MINISTERS?|MIMSTERS?|STAATSSECRETARIS|MINISTER-PRESIDENT|STAATS-SECRETARIS)"
    r"[A-ZÀ-Ý ,\-]{0,120})",
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
        office = title_case(re.sub(r"(\s+[A-Z])?\s*$", "", re.sub(r"\s+", " ", m.group(1).replace("MIMSTER", "MINISTER"))))
    signatures = list(_SIGNATURE.finditer(text)) or list(_SIGNATURE_ONE_LINE.finditer(text))
    if signatures:
        sig = signatures[-1]
        office = office or re.sub(r"\s+", " ", sig.group(1)).strip()
        name = sig.group(2).strip().strip("*").strip()
        if len(name.split()) > 8 or re.search(r"\d", name):
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


# ---- senders: an office and, where known, a name; OCR noise dropped ----------------------------------

_ROLE = re.compile(r"^(Minister-President|Eerste Minister|Ministers|Minister|Staatssecretarissen|Staatssecretaris)\b\.?,?\s*",
                   re.IGNORECASE)  # a signature in modern XML reads "minister van ..."
_GOVERNMENT = re.compile(r"^\s*(De\s+)?(Ministerie|Minister-President|Eerste Minister|Ministers?|Staatssecretaris(sen)?)\b",
                         re.IGNORECASE)
# the words of Dutch ministry names since 1814 (office titles are built from these and connectives)
MINISTRY_WORDS = frozenset("""
algemene zaken buitenlandse buitenlandsche binnenlandse binnenlandsche justitie financien financiën defensie
oorlog marine kolonien koloniën onderwijs wetenschappen wetenschap cultuur kunsten recreatie maatschappelijk
maatschappelijke werk volkshuisvesting ruimtelijke ordening milieubeheer verkeer waterstaat landbouw visserij
natuurbeheer voedselkwaliteit economische sociale werkgelegenheid volksgezondheid welzijn sport
ontwikkelingssamenwerking nijverheid handel arbeid scheepvaart wederopbouw koninkrijksrelaties asiel
migratie veiligheid infrastructuur milieu klimaat energie innovatie zorg medische jeugd portefeuille
overzeese rijksdelen hoger emancipatie openbare werken eredienst posterijen telegrafie media bedrijfsleven
europese zaken natuur stikstof armoedebeleid participatie pensioenen toeslagen douane fiscaliteit
belastingdienst wonen ruimte primair voortgezet integratie vreemdelingenzaken bouwnijverheid
""".split())
_CONNECTIVES = frozenset("van voor en de het der zonder".split())


def _ministry_word(word: str) -> str | None:
    """The ministry word `word` spells, OCR hyphens and small misreadings forgiven; None otherwise."""
    from rapidfuzz import process

    folded = word.replace("-", "").replace("­", "").strip(",.").lower()
    if folded in MINISTRY_WORDS:
        return folded
    match = process.extractOne(folded, MINISTRY_WORDS, score_cutoff=88) if len(folded) >= 6 else None
    return match[0] if match else None


def _office(text: str) -> str:
    """'Minister van Volkshuisvesting en Ruimtelijke Ordening, Las: ...' -> 'Minister van Volkshuisvesting
    en Ruimtelijke Ordening': the role, then ministry words and connectives only."""
    text = re.sub(r"\b(Minister|Staatssecretaris)(van|voor)\b", r"\1 \2", text)
    role = _ROLE.match(text)
    if not role:
        return ""
    title = role.group(1)[0].upper() + role.group(1)[1:]
    words, kept = text[role.end():].split(), [title + ("," if "," in role.group(0) else "")]
    for word in words:
        bare = word.strip(",.;:")
        if bare.lower() in _CONNECTIVES:
            kept.append(bare.lower())
        elif (found := _ministry_word(bare)) is not None:
            if not kept or kept[-1].rstrip(",").lower() != found:  # "Volksge Zondheid": one word, read twice
                kept.append(found.capitalize() + ("," if word.endswith(",") else ""))
        elif _ROLE.match(bare):
            kept.append(bare + ("," if word.endswith(",") else ""))
        else:
            break
        if word.endswith((";", ":")):
            break
    while len(kept) > 1 and kept[-1].rstrip(",").lower() in _CONNECTIVES | {"minister", "staatssecretaris", "ministers"}:
        kept.pop()
    return " ".join(kept).rstrip(",")


_NAME = re.compile(r"^(?:[A-Z]\.\s?)*(?:(?:van|de|der|den|ten|ter|tot|baron|jhr\.|mr\.|dr\.|d'|[A-Z][\w'’]*(?:-[A-Z][\w'’]*)*)\s*)+$")


_NOT_A_NAME = re.compile(r"\d|\b(Ter|inzage|gelegd|bibliotheek|Aan|Kamer|Staten|Generaal|Voorzitter|Minister|Secretaris)\b", re.I)


def _name(text: str) -> str:
    """The signer's name inside a sender's brackets, or '' when it is not a name."""
    name = text.split(",")[-1].strip(" .*")
    if not name or len(name.split()) > 8 or _NOT_A_NAME.search(name):
        return ""
    if name.isupper():
        name = " ".join(w if len(w) <= 2 and w.endswith(".") else w.capitalize() for w in name.split())
    return name if _NAME.match(name) and re.search(r"[A-Za-z]{3}", name) else ""


def clean_sender(sender: str) -> str:
    """A sender as an office and, where known, a name: 'Minister van Financiën (P. Lieftinck)'; the OCR'd
    text that followed the office in the letterhead is dropped. '' when no office can be read."""
    sender = re.sub(r"\s+", " ", sender or "").strip()
    bracket = re.search(r"\(([^()]*)\)\s*$", sender)
    office = _office(sender[:bracket.start()] if bracket else sender)
    if not office:
        return ""
    name = _name(bracket.group(1)) if bracket else ""
    return f"{office} ({name})" if name else office


def from_minister(sender: str) -> bool:
    """Whether `sender` (as `tidy_sender` leaves it) is a minister, state secretary or ministry, not e.g. the
    Rekenkamer, the Kamer or its members."""
    return bool(_GOVERNMENT.match(sender))


def tidy_sender(sender: str) -> str:
    """`clean_sender`, or a short sender that names no office as it is (e.g. 'Gemeente Delft'); a long one
    without an office is OCR text, dropped."""
    return clean_sender(sender) or (sender if len(sender.split()) <= 8 else "")
