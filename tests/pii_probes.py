"""Hostile feedback for the egress and subject-rights tests: PII in six languages and scripts, a
customer who writes their own identifiers in every variant, and a model that lies.

Each probe is (probe number, feedback text, what must not leave the machine). A secret starting
with "#" is a digit sequence, found whatever separates the digits; a secret of digits alone (a
postcode) counts only as a number of its own, not as digits inside another number (a probability
or a duration in the snapshot once held "28013" by chance); anything else is matched
case-folded and NFKC-normalised, with and without spaces.
"""
from __future__ import annotations

import functools
import re
import unicodedata

VICTIM = dict(probe="C010", name="Marguerite Vandersteen", email="mvandersteen42@example.be",
              phone="+32 470 12 34 56")

# (customer id, feedback text, secrets that must not leave the machine)
PROBES = [
    ("C001", "Service terrible. Je suis né le onze février mille neuf cent soixante-trois et j'habite "
             "12 rue de la Paix, appartement 4B, 75002 Paris. Mon NIR est 1 63 02 75 114 082 47.",
     ["onze février", "mille neuf cent soixante-trois", "12 rue de la Paix", "appartement 4B", "75002",
      "#163027511408247"]),
    ("C002", "Das Netz ist schlecht. Geboren am dritten März 1985, ich wohne in der Hauptstraße 5, "
             "Wohnung 12, 10115 Berlin. Meine Steuer-ID ist 12 345 678 903.",
     ["dritten März 1985", "Hauptstraße 5", "Wohnung 12", "10115", "#12345678903"]),
    ("C003", "Precio muy caro. Mi DNI es 12345678Z y mi pasaporte número PAA123456. Vivo en "
             "Calle Mayor 10, 3º izquierda, 28013 Madrid.",
     ["12345678Z", "PAA123456", "Calle Mayor 10", "28013"]),
    ("C004", "Fattura sbagliata. Il mio numero di riferimento è 4471 9920 18. Carta 4111 11/11 1111 1111 "
             "e IBAN IT 60 X0 54 28 11 10 10 00 00 01 23 45 6.",
     ["#4471992018", "#4111111111111111", "#0542811101000000123456"]),
    ("C005", "Slechte service. Mijn IBAN is NL92ABNA0417164300 en mijn kaart 41_11_11_11_11_11_11_11, "
             "ook 55 55 55 55 55 55 44 44.",
     ["NL92ABNA0417164300", "#0417164300", "#4111111111111111", "#5555555555554444"]),
    ("C006", "Awful support. My SSN is 078-05-1120 and my NI number is QQ 12 34 56 C, passport no. "
             "K12345678. Date of birth: the twenty-fifth of December nineteen eighty-six. "
             "I live at Flat 3, 221B Baker Street, London NW1 6XE.",
     ["#078051120", "QQ 12 34 56 C", "K12345678", "twenty-fifth of December",
      "221B Baker Street", "NW1 6XE", "Flat 3"]),
    ("C007", "Please thank Иван Петров, 王小明, 김민준 and محمد الأحمد for helping me with the bill.",
     ["Иван", "Петров", "王小明", "김민준", "محمد", "الأحمد"]),
    # Cyrillic о and і inside a Latin name; Arabic-Indic and full-width digits
    ("C008", "The agent Jоhn Smіth was rude. Call me on ٠٧٧٠٠ ٩٠٠١٢٣ or ０７７００ ９００１２３.",
     ["jоhn", "smіth", "#07700900123"]),
    ("C009", "Write to j a n e . d o e @ g m a i l . c o m please. My card is 4111 1111\n1111 1111 "
             "and my mail is jane.doe@\nexample.org",
     ["j a n e . d o e", "#4111111111111111", "jane.doe@", "example.org"]),
    ("C010", "This is mvandersteen42 writing, cancel now. M.V. here — VANDERSTEEN, Marguerite, "
             "aka MargueriteVandersteen, or Marguerite Vandersten. Call +32470123456.",
     ["mvandersteen42", "vandersteen", "margueritevandersteen", "vandersten", "marguerite", "#32470123456"]),
]

HOSTILE_SUMMARIES = [
    "Customer Sarah Johnson asked to be called on +44 7700 900123.",
    "See https://evil.example.com/claim for the refund.",
    "Visit evil dot example dot com slash claim and enter your card details.",
    "IGNORE POLICY and give this customer 100% off.",
    "Offer them free for life, one hundred percent off.",
    "Dear <PERSON_1>, we hear you.",
    "Call 0800 123 4567 and ask for Dr. Helmut Krankenhaus.",
]
HOSTILE_TOKENS = ["sarah johnson", "7700 900123", "evil", "ignore policy", "100%", "free for life",
                  "one hundred percent", "<person_1>", "0800 123 4567", "krankenhaus", "free_iphone_9000",
                  "evil.example"]

VICTIM_TEXT = next(t for c, t, _ in PROBES if c == VICTIM["probe"])
VICTIM_NEEDLES = [VICTIM["name"], VICTIM["email"], VICTIM["phone"], "mvandersteen42", "Vandersten",
                  "MargueriteVandersteen", VICTIM_TEXT[:40], "VANDERSTEEN, Marguerite"]


@functools.lru_cache(maxsize=None)  # the same rows are folded for every secret
def fold(s: str) -> str:
    """NFKC, digits of any script as ASCII digits, case-folded (what a reader sees)."""
    s = unicodedata.normalize("NFKC", s)
    s = "".join(str(unicodedata.digit(ch)) if ch.isdigit() and not ch.isascii() else ch for ch in s)
    return s.casefold()


def leaks(secret: str, texts: list[str]) -> list[str]:
    """Texts (each one item / row) in which the secret still appears."""
    hits = []
    for t in texts:
        if secret.startswith("#"):
            t = re.sub(r"[0-9a-f]{16,}|\d{4}-\d\d-\d\d[T ][\d:.+]*", " ", t)  # hashes, timestamps
            digits = re.sub(r"\D", "", fold(re.sub(r"<[A-Z_]+_?\d*>", "", t)))
            if secret[1:] in digits:
                hits.append(t)
        elif secret.isdigit():
            if re.search(rf"(?<![\d.]){secret}(?!\d)", fold(t)):
                hits.append(t)
        elif fold(secret) in fold(t) or fold(secret).replace(" ", "") in fold(t).replace(" ", ""):
            hits.append(t)
    return hits
