"""What is never quoted as an answer: a letter's furniture (references, letterhead, signatures, member lists,
tables of contents), what members of the Kamer ask, questions; and the letterhead or heading a sentence
starts with, which a quote leaves out. Regular expressions with hand-worked examples in tests/test_answers.py;
reading every quote of the dev and unanswerable questions on the default and the large index found them."""
from __future__ import annotations

import re

FURNITURE = re.compile(  # never an answer: references, letterhead, signatures, lists, contents
    r"Kamerstuk(ken)?\s+(I+\s+)?\d\d\s?\d\d\d|\bnr\.\s*\d+\b.*\b(vergaderjaar|zitting)\b|\bvergaderjaar\s+\d{4}|"
    r"\bHandelingen\b|\bkst-\d|\bISSN|\bNedergelegd ter griffie|\bTer inzage gelegd\b|"
    r"(?-i:\bVragen (gesteld door|van) (de |het )?(leden|lid)\b)|\bLIJST VAN V+RAGEN\b|\bAldus vastgesteld\b|"
    r"^\s*Vastgesteld \d{1,2}\s+\w+\s+\d{4}|zullen zien of horen lezen|\bsaluut\b|^\s*Zie\s|"
    r"\bbij de gratie Gods\b|\benz\.\s*enz\.|(?-i:^\s*De Voorzitter:|VOORLOO?PIG VERSLAG VAN\b)|"
    r"(?-i:(\b\d+(\.\d+)+\.?\s+[A-Z][^.]{3,60}){2,})|\s\d{1,3},\d\d\s*$|"
    r"https?://|www\.|\bPostbus\b|\bOns kenmerk\b|\bUw (brief|kenmerk)\b|"
    r"^\s*(Datum|Onderwerp|Bijlage\(?n?\)?|Kenmerk|Contactpersoon|Telefoon)\b|\.{5,}|"
    r"(\((VVD|CDA|PvdA|D66|GL|SP|PVV|CU|SGP|PPR|PSP|CPN|GPV|RPF|DS'70)\).*){2,}|"
    r"^\s*\d{1,2}\s+(Zie|Kamerstuk|Bron|Ter inzage)\b", re.I | re.S)
SIGNATURE = re.compile(r"^\s*(Hoogachtend|De\s+(Minister|Staatssecretaris)(-President)?\s+(van|voor)\s+[A-Z][^.;]{0,80},)")
TITLE_WORDS = 8  # a sentence this short that the title holds is the title (none of the dev questions' answers is)
# a sentence that asks (Kamervragen): of the dev questions' candidates on the large index, 377 ask, none answers
ASKS = re.compile(r"\?\s*[»”\"')]*\s*$")
MEMBERS_SAY = re.compile(  # what members of the Kamer ask or state (a report, or a reply quoting it): not the answer
    r"^\s*(Enkele|Verscheidene|Vele|Sommige|Andere|Eenige|Enige|Een der|Eén der|Een van de|Zeer vele|Tal van|Nog andere|"
    r"Weer andere)\s+(leden|lid)\b|"
    r"^\s*(De|Deze|Ook de|Tevens) leden( van de [\w'’-]+(\s|-)?fractie\w*)?\s+(vragen|vroegen|constateren|hebben|lezen|"
    r"merken|willen|zijn|verzoeken|wijzen|achten|stellen|begrijpen|menen|vinden|onderschrijven|informeren|kunnen)\b")


LETTERHEAD = re.compile(  # what a sentence can start with that is not the letter's words: it is left out of a quote
    r"\s*(Aan de (Heer )?Voorzitters?\s+van\s+de\s+(Eerste|Tweede)\b[^.]{0,80}?Staten[- ]?Generaal\s*|"
    r"De Voorzitter van de Tweede Kamer der Staten[- ]?Generaal\s*|"
    r"Ter griffie\b[^.]{0,120}?ontvangen op \d{1,2}\s+\w+\s+\d{4}\s*|"
    r"((ANTWOORD|Antwoord)\s+)*(van\s+(de|den|de heer|den heer)?\s*[^()]{0,200}?(\([^()]{0,60}\)[^()]{0,200}?)?)?"
    r"\((Ontvangen|Ingezonden)\b[^()]{0,60}\)\.?\s*(\d+(\s*(en|-)\s*\d+)?\.?\s+)?|"
    r"(MEMORIE VAN (TOELICHTING|ANTWOORD)|NOTA NAAR AANLEIDING VAN HET (EIND)?VERSLAG|NOTA VAN WIJZIGING|EINDVERSLAG)\s+|"
    r"(['’]s-Gravenhage|Den Haag|Zoetermeer|Rijswijk|Leidschendam|Voorburg),?\s+\d{1,2}\s+\w+\s+\d{4}\s*|"
    r"\d+(\.\d+)*\.?[ \t]+[A-Z][^\s.,;:]*([ \t]+[^\s.,;:]+){0,4}[ \t]*\n\s*(?=[A-Z]))")


def after_letterhead(text: str, span: tuple[int, int]) -> tuple[int, int]:
    """The sentence's span without the letterhead, addressee, place and date, or numbered section heading it
    starts with ("Aan de Voorzitter van de Tweede Kamer ... 's-Gravenhage, 3 mei 1991 Tijdens het debat ...",
    "1. Inleiding\nDe leden ..."): the sentence splitter leaves them glued to the first sentence after them."""
    start, end = span
    while (m := LETTERHEAD.match(text, start, end)) and m.end() > start and end - m.end() > 20:
        start = m.end()
    return start, end


def is_furniture(text: str) -> bool:
    """True for a reference, letterhead line, signature, member list or table of contents, and for what
    members of the Kamer ask ("De leden van de VVD-fractie vragen ..."), a question (Kamervragen, a question the
    letter quotes or asks), and a line that is only an addressee, place and date or heading: never the answer."""
    letterhead = LETTERHEAD.match(text)
    return bool(FURNITURE.search(text) or SIGNATURE.search(text) or MEMBERS_SAY.search(text) or ASKS.search(text)
                or (letterhead and len(text) - letterhead.end() <= 20))


def is_title(text: str, title: str) -> bool:
    """True for a sentence of a few words that is the letter's title or a part of it ("Heroverweging steun
    bedrijfsleven"): it names the subject, it does not answer."""
    words = " ".join(re.findall(r"\w+", text.lower()))
    return bool(words) and len(words.split()) <= TITLE_WORDS and words in " ".join(re.findall(r"\w+", title.lower()))
