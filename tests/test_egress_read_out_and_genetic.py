"""Two classes the allow rule closes as classes, not per example:

- a number read out digit by digit in any language a maintained library (num2words) spells digits
  in stays home (data/digit_words.txt, written by tools/digit_words.py), also where a digit is a
  common word elsewhere ("du" and "ok" in Esperanto): those keep a run going as joiners do;
- genetic data (GDPR Art. 9(1)) is masked with the biometric category: genes, carriers,
  hereditary conditions, genetic tests."""
from __future__ import annotations

import pytest

from churn_workbench.anonymize import anonymize
from churn_workbench.egress import lexicons


@pytest.mark.parametrize("text,digits", [
    ("Kennitalan mín er tveir einn núll sex átta níu þrír fjórir, takk", "tveir einn núll sex átta níu þrír fjórir"),
    ("Fy rhif yw un un naw dau pump tri", "un un naw dau pump tri"),
    ("mia numero estas kvar sep du ok tri", "kvar sep du ok tri"),
    ("numărul meu este patru șapte doi opt trei", "patru șapte doi opt trei"),
    ("мой номер четыре семь два восемь три", "четыре семь два восемь три"),
], ids=["is", "cy", "eo", "ro", "ru"])
def test_a_number_read_out_in_another_language_stays_home(text, digits):
    sent = anonymize(text).text
    assert not any(word in sent.split() for word in digits.split()[1:-1]), sent


@pytest.mark.parametrize("text", ["I have one dog and two cats and my bill is forty pounds",
                                  "one to one support, two to three days", "Je veux un et deux forfaits"])
def test_ordinary_counts_still_leave(text):
    assert anonymize(text).text == text


def test_every_language_of_the_generated_list_is_read():
    assert {"núll", "tveir", "pedwar", "kvar", "naŭ", "patru"} <= lexicons.DIGIT_WORDS
    assert not {"et", "du", "ok", "to", "en"} & lexicons.DIGIT_WORDS
    assert {"du", "ok", "et"} <= lexicons.RUN_JOINERS


@pytest.mark.parametrize("text,term", [
    ("I'm a carrier of the cystic fibrosis gene and the clinic uses video calls.", "cystic fibrosis"),
    ("My son has Fragile X syndrome, so calls matter", "Fragile X"),
    ("Ich habe Faktor-V-Leiden laut Arzt", "Leiden"),
    ("je suis porteuse de la mutation et j'attends", "porteuse"),
    ("Ho fatto il test di paternità il mese scorso", "paternità"),
])
def test_genetic_data_is_masked_as_a_special_category(text, term):
    sent = anonymize(text).text
    assert term not in sent and "<BIOMETRIC_" in sent, sent


def test_a_telecom_carrier_is_not_genetic():
    text = "My carrier dropped my calls again, the signal is awful"
    assert anonymize(text).text == text
