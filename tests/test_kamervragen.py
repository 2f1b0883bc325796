"""Kamervragen read as question -> answer pairs (eval/kamervragen.py), on a set written like the OCR'd ones."""
import importlib.util
import json
from pathlib import Path

_SPEC = importlib.util.spec_from_file_location("kamervragen", Path(__file__).resolve().parents[1] / "eval" / "kamervragen.py")
kamervragen = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(kamervragen)

SET = ("Aanhangsel van de Handelingen\nVragen van het lid Jansen (P.v.d.A.) over de dijken. (Ingezonden 3 mei 1985)\n"
       "1 Is het waar dat de dijk bij Kampen in 1984 twee keer is doorgebroken? 2 Hoeveel kost het herstel van "
       "de dijk bij Kampen? 3 Wanneer is het herstel klaar?\nAntwoord Antwoord van minister Smit-Kroes (Verkeer "
       "en Waterstaat). (Ontvangen 20 juni 1985) 1 Neen. De dijk is in 1984 eenmaal doorgebroken, op 12 maart. "
       "2en3 Het herstel kost f 12 miljoen en is in het najaar van 1986 gereed. "
       "Tweede Kamer, vergaderjaar 1984-1985, Aanhangsel 1791")


def test_each_question_gets_its_own_numbered_answer_and_a_joint_answer_counts_for_both():
    [pairs] = kamervragen.question_sets(SET)
    assert [q for q, _ in pairs] == ["Is het waar dat de dijk bij Kampen in 1984 twee keer is doorgebroken?",
                                     "Hoeveel kost het herstel van de dijk bij Kampen?", "Wanneer is het herstel klaar?"]
    assert pairs[0][1] == "Neen. De dijk is in 1984 eenmaal doorgebroken, op 12 maart."  # "1984", "12" are not numbers 2, 3
    assert pairs[1][1] == pairs[2][1] == "Het herstel kost f 12 miljoen en is in het najaar van 1986 gereed."


def test_groups_pair_a_question_with_its_answer_and_the_other_answers_as_negatives(tmp_path):
    path = tmp_path / "kamerstukken.jsonl"
    path.write_text(json.dumps({"id": "sgd-1", "text": SET}) + "\n" + json.dumps({"id": "sgd-2", "text": "Geen vragen."}) + "\n")
    found = kamervragen.groups(path)
    first = found[0]
    assert first["doc"] == "sgd-1" and first["answers"] == ["De dijk is in 1984 eenmaal doorgebroken, op 12 maart."]
    assert first["others"] == ["Het herstel kost f 12 miljoen en is in het najaar van 1986 gereed."]  # "Neen." too short
    assert len(found) == 3 and found[1]["others"] == found[2]["others"] == first["answers"]  # 2 and 3 share one answer


def test_a_set_whose_numbering_cannot_be_followed_is_skipped():
    garbled = SET.replace("1 Is het waar", "Is het waar")  # OCR lost the first number
    assert kamervragen.question_sets(garbled) == []
