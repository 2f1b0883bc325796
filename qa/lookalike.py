"""Look-alike words across English and Dutch: the lexical evidence an English question has in a Dutch letter.

An English question shares few words with a Dutch letter, but many of its content words are Latin or
French loans that Dutch spells alike: 'migration' ~ 'migratie', 'secondary' ~ 'secundaire', 'subsidy' ~
'subsidie', 'capacity' ~ 'capaciteit'. A word counts as present when it, or its Dutch-looking form
(regular English -> Dutch suffix correspondences), is close (rapidfuzz ratio) to a word of the text or to
the start of one (Dutch inflects: 'militair' ~ 'militaire'). No dictionary: the rules are spelling
correspondences, not translations, so they carry to words no question set has used.
"""
from __future__ import annotations

import re
from collections.abc import Callable

from rapidfuzz import fuzz, process

from index.lexical import STOPWORDS, analyse, fold

LOOKALIKE_RATIO = 80  # rapidfuzz ratio for two words to look alike (set by hand: 'migration' ~ 'migratie' 82)
MIN_LETTERS = 5  # shorter words look alike by chance ('want' ~ 'wat')
# Regular English -> Dutch spelling correspondences of loan words, applied in order.
SUFFIXES = ((r"ication$", "icatie"), (r"ation$", "atie"), (r"ition$", "itie"), (r"tion$", "tie"), (r"sion$", "sie"),
            (r"ity$", "iteit"), (r"ary$", "air"), (r"ical$", "isch"), (r"ic$", "isch"), (r"ism$", "isme"),
            (r"ence$", "entie"), (r"ance$", "antie"), (r"ive$", "ief"), (r"ure$", "uur"), (r"y$", "ie"),
            (r"ph", "f"), (r"th", "t"), (r"qu", "kw"))
# English question words and verbs that carry no topic (beyond index.lexical.STOPWORDS, which is Dutch)
ENGLISH_STOPWORDS = frozenset("""about after again against along among another because before being below
between could doing during every first former given great having their there these those through under
until using where which while whose would should shall might since still other others under within without
what when does done want wants wanted tell told says said according regarding concerning""".split())


def dutch_form(word: str) -> str:
    """`word` (folded, English) spelled by the English -> Dutch correspondences: 'secondary' -> 'secondair'."""
    for pattern, replacement in SUFFIXES:
        word = re.sub(pattern, replacement, word)
    return word


def content_words(question: str) -> tuple[str, ...]:
    """The question's folded content words of at least MIN_LETTERS letters."""
    words = re.findall(r"[a-z]+", fold(question))
    return tuple(dict.fromkeys(w for w in words if len(w) >= MIN_LETTERS and w not in STOPWORDS
                               and w not in ENGLISH_STOPWORDS))


def text_words(text: str) -> list[str]:
    return sorted(set(re.findall(r"[a-z]{4,}", fold(text))))


def looks_alike(word: str, words: list[str]) -> bool:
    """Has `words` a look-alike of `word`: the word or its Dutch form close to a word or its beginning?"""
    for form in dict.fromkeys((word, dutch_form(word))):
        if process.extractOne(form, words, scorer=fuzz.ratio, score_cutoff=LOOKALIKE_RATIO) is not None:
            return True
        starts = [w[:len(form)] for w in words if len(w) > len(form)]
        if process.extractOne(form, starts, scorer=fuzz.ratio, score_cutoff=LOOKALIKE_RATIO + 5) is not None:
            return True
    return False


def lookalike_share(asked: tuple[str, ...], text: str, translate: Callable[[str], frozenset[str]] | None = None) -> float:
    """The share of the `asked` words (`content_words`) that have a look-alike in `text` (0 when none asked);
    with `translate` (word -> analysed Dutch stems, `qa.translate.dutch_stems`), a word whose translation
    occurs in `text` counts too."""
    if not asked:
        return 0.0
    words = text_words(text)
    stems = set(analyse(text)) if translate else set()
    # the translation first: a set lookup, where a look-alike scans every word of the text
    return sum(bool(translate and translate(w) & stems) or looks_alike(w, words) for w in asked) / len(asked)
