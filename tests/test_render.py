"""Letters are shown as text: markup rendered, every piece escaped, only sentences highlighted."""
from __future__ import annotations

from corpus.models import Hit, Letter, Passage
from qa.render import display_text, highlighted, letter_view, tidy

MD = ("**Ons kenmerk**  \n2298637\n\nOndanks de herziening van het GEAS<sup>1</sup>, is het van belang. "
      "Het GEAS moet secundaire migratie voorkomen.\n\nDe Staatssecretaris,\n\nMark Harbers\n\n---\n\n"
      "<sup>1</sup> Zie Kamerstuk 32 317 nr. 516.")


def test_markup_is_rendered_and_words_kept():
    assert display_text("het GEAS<sup>1</sup>, is") == "het GEAS¹, is"
    assert display_text("**Ons kenmerk**  \n2298637") == "Ons kenmerk\n2298637"
    assert display_text("zie [www.rijksoverheid.nl](https://www.rijksoverheid.nl) en *dit*") == "zie www.rijksoverheid.nl en dit"
    assert display_text("> Retouradres Postbus 20301") == "Retouradres Postbus 20301"
    assert display_text("a < b en c > d; 3 * 4 * 5") == "a < b en c > d; 3 * 4 * 5"  # not markup
    assert tidy("be\u00adtoog  over\nregels") == "betoog over regels"


def test_only_sentences_are_marked_and_scripts_stay_text():
    text = "Eerste zin. <script>alert(1)</script> Tweede zin."
    passage = Passage("x", 1, 0, len(text), text, text, ((0, 11), (38, 50)))
    out = highlighted(Hit(passage, 1.0, Letter("x", text)), ((38, 50),))
    assert out == "Eerste zin. &lt;script&gt;alert(1)&lt;/script&gt; <mark>Tweede zin.</mark>"


def test_letter_view_keeps_signature_and_footnote_outside_the_cited_passage():
    start = MD.index("Ondanks")
    s1 = (start, MD.index("Het GEAS moet") - 1)
    s2 = (MD.index("Het GEAS moet"), MD.index("voorkomen.") + len("voorkomen."))
    passage = Passage("seed", 2, start, len(MD), MD[start:], MD[start:], (s1, s2))  # span runs to the end
    view = letter_view(Hit(passage, 1.0, Letter("seed", MD, title="Migratie")), s2)
    cited = view[view.index('id="kq-cited"'):view.index("</span>")]
    assert "GEAS¹" in cited and "<mark>Het GEAS moet secundaire migratie voorkomen.</mark>" in cited
    assert "Harbers" not in cited and "Zie Kamerstuk" not in cited
    assert "Mark Harbers" in view and "¹ Zie Kamerstuk 32 317 nr. 516." in view and "**" not in view
