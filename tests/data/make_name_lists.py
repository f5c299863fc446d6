"""Build the lexicon files the person-name recognizer ships with (a development-time tool).

Outputs, under ``lib/churn_workbench/data/``:

* ``person_names.txt`` – first names and surnames, ``name<TAB>first|last|first,last``, taken
  from the person providers bundled with Faker (MIT licence), every locale whose names are
  written in a cased script (Latin, Cyrillic, Greek).  Multi-word entries are split into parts.
* ``common_words.txt`` – lower-case English words from SCOWL size 50 (Debian ``wamerican``),
  used to tell an unknown capitalised word ("Yesterday") from an unknown name ("Kowalczyk").
* ``ambiguous_names.txt`` – names that are also everyday words or places ("Will", "Grace",
  "Sydney"): the recognizer accepts them only with context.  Derived from SCOWL size 35
  (Debian ``wamerican-small``) plus the curated lists below.

Nothing here runs at install time or at run time: the outputs are committed data.

Usage (needs ``pip install faker`` and ``apt-get install wamerican wamerican-small``)::

    python tests/data/make_name_lists.py
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import unicodedata
from pathlib import Path

OUT = Path(__file__).resolve().parents[2] / "lib" / "churn_workbench" / "data"
SCOWL_50 = Path("/usr/share/dict/american-english")
SCOWL_35 = Path("/usr/share/dict/american-english-small")

# Frequent given names that SCOWL-35 also lists as words, but which in customer feedback are
# nearly always names: treating them as ambiguous would cost recall for little precision.
NOT_AMBIGUOUS = {
    "maria", "martin", "peter", "mike", "harry", "matt", "nick", "victor", "sally", "carol",
    "ken", "lee", "jay", "dolly", "eddy", "gene", "ray", "drew", "sue", "rob", "pat", "patty",
    "dean", "bob", "jack", "buddy", "chuck", "earl", "heather", "hazel", "ivy", "iris",
    "daisy", "holly", "ruby", "crystal", "dawn", "amber", "jade", "lily", "rose", "olive",
    "roman", "eve", "tom", "terry", "tony", "john", "rick", "wade", "lance", "duke",
    "penny", "sandy", "rusty", "woody", "cliff", "glen", "hank", "troy", "josh", "roger",
}

# Names that are also words, places, brands or acronyms seen in telecom/retail feedback, not in
# SCOWL-35: alone they need context ("my advisor Paris"), in a full name they are fine.
EXTRA_AMBIGUOUS = {
    # places
    "paris", "sydney", "london", "austin", "dallas", "houston", "phoenix", "jordan", "georgia",
    "virginia", "carolina", "florence", "victoria", "chelsea", "brooklyn", "madison", "orlando",
    "denver", "lincoln", "washington", "chester", "kent", "york", "adelaide", "darwin", "india",
    "china", "kenya", "israel", "asia", "america", "europe", "africa", "berlin", "vienna",
    "milan", "roma", "rome", "sofia", "lima", "quito", "santiago", "valencia", "alicante",
    "hamburg", "bremen", "essen", "dresden", "lyon", "nice", "cannes", "brest", "lille",
    "delft", "leiden", "breda", "utrecht", "ede", "hove", "bath", "wells", "ely", "derby",
    "preston", "reading", "bristol", "norwich", "lancaster", "clifton", "dover", "camden",
    "hyde", "holland", "lagos", "cairo", "delhi", "mumbai", "dubai", "madrid", "lisbon",
    "dublin", "manchester", "leeds", "glasgow", "edinburgh", "cardiff", "belfast", "toronto",
    "vancouver", "chicago", "boston", "seattle", "atlanta", "miami", "nairobi", "accra",
    "durban", "pune", "chennai", "kolkata", "karachi", "lahore", "dhaka", "manila", "jakarta",
    "bangkok", "hanoi", "seoul", "tokyo", "osaka", "istanbul", "ankara", "athens", "warsaw",
    "krakow", "prague", "budapest", "zurich", "geneva", "munich", "cologne", "frankfurt",
    "rotterdam", "amsterdam", "antwerp", "brussels", "marseille", "toulouse", "bordeaux",
    "naples", "turin", "venice", "porto", "seville", "barcelona", "bilbao", "oslo", "stockholm",
    "copenhagen", "helsinki", "moscow", "kyiv", "riga", "tallinn", "france", "england", "scotland", "wales", "ireland", "germany", "spain",
    "italy", "brazil", "canada", "mexico", "peru", "chile", "cuba", "congo", "ghana", "mali",
    "niger", "chad", "oman", "iran", "iraq", "japan", "korea", "nepal", "texas", "florida",
    "arizona", "nevada", "dakota", "montana", "indiana", "kansas", "vermont", "maine",
    # brands, products, services
    "alexa", "siri", "cortana", "mercedes", "tesla", "porsche", "ferrari", "lamborghini",
    "audi", "toyota", "honda", "nissan", "mazda", "subaru", "skoda", "seat", "fiat", "opel",
    "volvo", "dacia", "kia", "dell", "lenovo", "asus", "acer", "nokia", "sony", "philips",
    "bosch", "siemens", "miele", "vodafone", "orange", "virgin", "sky", "vivo", "claro",
    "oppo", "xiaomi", "huawei", "samsung", "apple", "google", "amazon", "netflix", "disney",
    "hulu", "spotify", "paypal", "visa", "maestro", "amex", "discover", "revolut", "monzo",
    "costa", "starbucks", "tesco", "aldi", "lidl", "asda", "boots", "argos", "currys",
    "lloyds", "barclays", "santander", "ing", "rabobank", "zara", "mango", "uber", "bolt",
    "lyft", "max", "mini", "ultra", "prime", "premium", "gold", "platinum", "titan", "nova", "fusion", "galaxy",
    "pixel", "echo", "kindle", "roku", "chromecast", "nest", "ring", "arlo", "hive",
    # languages and nationalities
    "english", "german", "dutch", "irish", "scottish", "welsh", "british", "american",
    "italian", "spanish", "polish", "swiss", "turkish", "greek", "indian", "chinese",
    "japanese", "korean", "african", "arabic", "russian", "ukrainian", "brazilian",
    "portuguese", "mexican", "canadian", "australian", "european", "asian", "latin",
    # acronyms and words from other languages frequent in feedback
    "mac", "doc", "pc", "len", "meta", "ios",
    "iban", "bic", "swift", "sim", "esim", "pin", "puk", "wifi", "fibre", "fiber", "dsl",
    "adsl", "vdsl", "lte", "gsm", "sms", "mms", "app", "tv", "dvd", "usb", "hdmi", "ip",
    "dns", "vpn", "modem", "router", "senior", "junior", "sir", "madam", "herr", "frau",
    "signor", "signora", "senhor", "senhora", "don", "dona", "santa", "san", "saint", "st",
    "bon", "bella", "bello", "bueno", "buena", "gracias", "merci", "danke", "grazie", "obrigado",
    "hola", "ciao", "hallo", "salut", "ola", "amigo", "amor", "vida", "sol", "luna", "mar",
    "cielo", "paz", "fe", "luz", "flor", "lucky", "happy", "sunny", "angel", "baby",
    "honey", "sugar", "candy", "precious", "bliss", "joy", "hope", "faith", "grace", "mercy",
    "charity", "patience", "prudence", "harmony", "melody", "destiny", "trinity", "liberty",
    "justice", "summer", "winter", "autumn", "spring", "storm", "river", "ocean",
    "star", "sunshine", "rain", "snow", "ice", "fire", "stone", "rock", "hill", "wood",
    "ok", "okay", "yes", "no", "hi", "hello", "hey", "bye", "thanks", "thank", "please",
    "sorry", "dear", "best", "kind", "regards", "cheers", "love", "hugs", "xoxo", "lol",
}

_CASED_SCRIPTS = ("LATIN", "CYRILLIC", "GREEK")
_NAME_PART_RE = re.compile(r"^[^\W\d_]+(?:['’\-][^\W\d_]+)*$")


def _cased_script(name: str) -> bool:
    """True when every letter of `name` is Latin, Cyrillic or Greek (the capitalisation
    heuristics of the recognizer need a script with upper and lower case)."""
    return all(
        unicodedata.name(ch, "").startswith(_CASED_SCRIPTS) for ch in name if ch.isalpha()
    )


def faker_names() -> dict[str, set[str]]:
    """Return {"first": {...}, "last": {...}} from every Faker person provider."""
    import faker.providers.person as person

    out: dict[str, set[str]] = {"first": set(), "last": set()}
    for module in pkgutil.iter_modules(person.__path__):
        provider = importlib.import_module(f"{person.__name__}.{module.name}").Provider
        for attr in dir(provider):
            if not _is_name_list(attr):
                continue
            values = getattr(provider, attr)
            if not isinstance(values, (list, tuple, dict)):  # skip methods and properties
                continue
            kind = "last" if "last" in attr else "first"
            for entry in values:
                for part in _name_parts(entry):
                    out[kind].add(part)
    return out


def _is_name_list(attr: str) -> bool:
    """Attributes of a Faker person provider that hold given names or surnames."""
    if attr.startswith("_") or "name" not in attr:
        return False
    return not any(skip in attr for skip in ("format", "language", "kana", "pairs"))


def _name_parts(entry: object) -> list[str]:
    """Split a Faker entry ("Jean-Pierre", "van Dijk", "García Márquez") into usable parts."""
    if not isinstance(entry, str):
        return []
    parts = []
    for part in unicodedata.normalize("NFKC", entry).split():
        part = part.strip(".,")
        if part.isupper():  # some locales list romanised names in capitals ("CHEN")
            part = part.title()
        if len(part) >= 2 and _NAME_PART_RE.match(part) and _cased_script(part):
            if not part.islower():  # lower-case parts are particles ("van", "de"): code knows them
                parts.append(part)
    return parts


def scowl_words(path: Path) -> set[str]:
    """Lower-case alphabetic words (no possessives, no proper nouns) from a SCOWL list."""
    words = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        word = line.strip()
        if word.islower() and word.isalpha() and len(word) >= 2:
            words.add(word)
    return words


def main() -> None:
    """Write the three lexicon files."""
    names = faker_names()
    kinds: dict[str, set[str]] = {}
    for kind, values in names.items():
        for value in values:
            kinds.setdefault(value, set()).add(kind)
    names_lower = {n.casefold() for n in kinds}

    common = scowl_words(SCOWL_50)
    ambiguous = (names_lower & scowl_words(SCOWL_35)) - NOT_AMBIGUOUS
    ambiguous |= EXTRA_AMBIGUOUS

    header = [
        "# Person names (given names and surnames) for churn_workbench's PII recognizer.",
        "# Derived from the person providers bundled with Faker (https://github.com/joke2k/faker),",
        "# Copyright (c) 2012 Daniele Faraglia, MIT licence. Built by tests/data/make_name_lists.py.",
        "# Format: name<TAB>first|last|first,last",
    ]
    rows = [f"{n}\t{','.join(sorted(kinds[n]))}" for n in sorted(kinds)]
    (OUT / "person_names.txt").write_text("\n".join(header + rows) + "\n", encoding="utf-8")

    scowl_notice = [
        "# Derived from SCOWL (Spell Checker Oriented Word Lists) via Debian's wamerican packages.",
        "# Copyright 2000-2011 by Kevin Atkinson. Permission to use, copy, modify, distribute and",
        "# sell these word lists, the associated scripts, the output created from the scripts, and",
        "# its documentation for any purpose is hereby granted without fee, provided that the above",
        "# copyright notice appears in all copies and that both that copyright notice and this",
        "# permission notice appear in supporting documentation. Kevin Atkinson makes no",
        "# representations about the suitability of this array for any purpose. It is provided",
        '# "as is" without express or implied warranty.',
        "# Built by tests/data/make_name_lists.py.",
    ]
    (OUT / "common_words.txt").write_text(
        "\n".join(["# Lower-case English words (SCOWL size 50)."] + scowl_notice + sorted(common))
        + "\n",
        encoding="utf-8",
    )
    (OUT / "ambiguous_names.txt").write_text(
        "\n".join(
            ["# Names that are also common words, places or brands: accepted only with context.",
             "# SCOWL size 35 intersected with person_names.txt, plus curated lists."]
            + scowl_notice
            + sorted(ambiguous)
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"{len(kinds)} names, {len(common)} common words, {len(ambiguous)} ambiguous")


if __name__ == "__main__":
    main()
