"""The categories behind issue 12 (what leaked to a recording server), for make_pii_corpus.py.

Every category has two disjoint sets of sentence templates: "dev" ones, which the detectors
were developed against, and "holdout" ones, written at the same time but only run once the
detectors were done (the first-run figures are in docs/pii_evaluation.md). Templates are in
English, French, German, Spanish, Italian and Dutch. Values come from generators with a fixed
seed; national ids carry valid check digits.
"""

from __future__ import annotations

import random
import string

from stdnum.de import idnr
from stdnum.fr import nir

RNG = random.Random(20261201)

MONTHS = {
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"],
    "fr": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
           "octobre", "novembre", "décembre"],
    "de": ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
           "Oktober", "November", "Dezember"],
    "es": ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre",
           "octubre", "noviembre", "diciembre"],
    "it": ["gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto",
           "settembre", "ottobre", "novembre", "dicembre"],
    "nl": ["januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september",
           "oktober", "november", "december"],
}


def date_value(lang: str) -> str:
    d, m, y = RNG.randint(1, 28), RNG.randint(1, 12), RNG.randint(1940, 2005)
    month = MONTHS[lang][m - 1]
    forms = {
        "en": [f"{d} {month} {y}", f"{month} {d}, {y}", f"{m}/{d}/{str(y)[2:]}", f"{y}-{m:02d}-{d:02d}",
               f"{d}th of {month} {y}"],
        "fr": [f"{d} {month} {y}", f"{d:02d}/{m:02d}/{y}", f"1er {month} {y}"],
        "de": [f"{d}. {month} {y}", f"{d:02d}.{m:02d}.{y}", f"{d}.{m}.{str(y)[2:]}"],
        "es": [f"{d} de {month} de {y}", f"{d:02d}/{m:02d}/{y}", f"{d}-{m}-{y}"],
        "it": [f"{d} {month} {y}", f"{d:02d}/{m:02d}/{y}"],
        "nl": [f"{d} {month} {y}", f"{d:02d}-{m:02d}-{y}"],
    }
    return RNG.choice(forms[lang])


STREETS = {
    "en": ["Orchard", "Mill", "Church", "Station", "Victoria", "Kingsway", "Elm", "Maple", "Highfield"],
    "fr": ["de la Paix", "Victor Hugo", "des Lilas", "du Moulin", "Jean Jaurès", "de la République"],
    "de": ["Haupt", "Goethe", "Schiller", "Bahnhof", "Linden", "Berliner "],
    "es": ["Mayor", "de Alcalá", "del Prado", "Gran Vía", "de la Constitución"],
    "it": ["Roma", "Garibaldi", "dei Mille", "Mazzini", "Cavour"],
    "nl": ["Kerk", "Molen", "Dorps", "Prinsen", "Heren"],
}
EN_TYPES = ["Street", "Road", "Lane", "Avenue", "Close", "Drive", "Crescent", "Way"]


def address_value(lang: str) -> str:
    n = RNG.randint(1, 240)
    s = RNG.choice(STREETS[lang])
    if lang == "en":
        flat = RNG.choice(["", f"Flat {RNG.randint(1, 20)}, ", f"Apt {RNG.randint(1, 9)}B, "])
        return f"{flat}{n} {s} {RNG.choice(EN_TYPES)}"
    if lang == "fr":
        return f"{n}{RNG.choice(['', ' bis'])} {RNG.choice(['rue', 'avenue', 'boulevard', 'allée'])} {s}"
    if lang == "de":
        return f"{s}{RNG.choice(['straße', 'str.', 'weg', 'allee'])} {n}{RNG.choice(['', 'a'])}" if not s.endswith(" ") \
            else f"{s}Straße {n}"
    if lang == "es":
        return f"{RNG.choice(['Calle', 'Avenida', 'Plaza'])} {s} {n}, {RNG.randint(1, 9)}º {RNG.choice(['izq', 'dcha', 'B'])}"
    if lang == "it":
        return f"{RNG.choice(['Via', 'Viale', 'Piazza', 'Corso'])} {s} {n}"
    return f"{s}{RNG.choice(['straat', 'laan', 'weg', 'plein'])} {n}"


def postcode_value(country: str) -> str:
    if country == "UK":
        return RNG.choice(["SW1A 1AA", "M1 1AE", "EC1A 1BB", "B33 8TH", "CR2 6XH", "DN55 1PT", "LS1 4AP", "G2 3AB"])
    if country == "US":
        return RNG.choice([f"{RNG.randint(10000, 99999)}", f"{RNG.randint(10000, 99999)}-{RNG.randint(1000, 9999)}"])
    if country == "NL":
        return f"{RNG.randint(1000, 9999)} {RNG.choice(['AB', 'GC', 'KL', 'TR', 'XN'])}"
    if country == "CA":
        return RNG.choice(["K1A 0B1", "M5V 3L9", "H2X 1Y4"])
    return f"{RNG.randint(10000, 95999):05d}"  # FR, DE, ES, IT


def ssn() -> str:
    return f"{RNG.choice([RNG.randint(1, 665), RNG.randint(667, 899)]):03d}-{RNG.randint(1, 99):02d}-{RNG.randint(1, 9999):04d}"


def nino() -> str:
    first, second = RNG.choice("ABCEGHJKLMNPRSTWXYZ"), RNG.choice("ABCEGHJKLMNPRSTWXYZ")
    if first + second in ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ"):
        first = "A"
    digits = f"{RNG.randint(0, 999999):06d}"
    sep = RNG.choice(["", " "])
    return f"{first}{second}{sep}{digits[:2]}{sep}{digits[2:4]}{sep}{digits[4:]}{sep}{RNG.choice('ABCD')}"


def french_nir() -> str:
    body = f"{RNG.choice('12')}{RNG.randint(40, 99):02d}{RNG.randint(1, 12):02d}{RNG.randint(1, 95):02d}{RNG.randint(1, 999):03d}{RNG.randint(1, 999):03d}"
    key = nir.calc_check_digits(body)
    return f"{body[0]} {body[1:3]} {body[3:5]} {body[5:7]} {body[7:10]} {body[10:13]} {key}"


def dni() -> str:
    n = RNG.randint(10_000_000, 99_999_999)
    return f"{n}{'TRWAGMYFPDXBNJZSQVHLCKE'[n % 23]}"


def tax_id_de() -> str:
    while True:
        digits = [RNG.randint(1, 9)] + [RNG.randint(0, 9) for _ in range(9)]
        if len(set(digits)) == 9:  # one digit twice, as the German rules want
            break
    body = "".join(map(str, digits))
    for check in "0123456789":
        if idnr.is_valid(body + check):
            value = body + check
            return f"{value[:2]} {value[2:5]} {value[5:8]} {value[8:]}"
    return tax_id_de()


def national_id() -> tuple[str, str]:
    kind = RNG.choice(["ssn", "nino", "nir", "dni", "idnr"])
    return kind, {"ssn": ssn, "nino": nino, "nir": french_nir, "dni": dni, "idnr": tax_id_de}[kind]()


def passport() -> str:
    return RNG.choice([
        f"{RNG.choice('CFGHJKLMNPRTVWXYZ')}{RNG.randint(1000000, 9999999)}",
        "".join(RNG.choice(string.ascii_uppercase + string.digits) for _ in range(9)),
        f"{RNG.randint(100000000, 999999999)}",
        f"{RNG.choice(['YA', 'XB', 'AA'])}{RNG.randint(1000000, 9999999)}",
    ])


def reference() -> str:
    return RNG.choice([f"{RNG.randint(1000, 9999)}-{RNG.randint(100, 999)}",
                       f"REF{RNG.randint(100000, 999999)}", f"AB-{RNG.randint(10000, 99999)}",
                       f"{RNG.randint(100, 999)}/{RNG.randint(1000, 9999)}", f"K{RNG.randint(1000, 99999)}X"])


def luhn_card(sep: str) -> str:
    body = "4" + "".join(str(RNG.randint(0, 9)) for _ in range(14))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    number = body + str((10 - total % 10) % 10)
    if sep == "pairs":
        return " ".join(number[i : i + 2] for i in range(0, 16, 2))
    return sep.join(number[i : i + 4] for i in range(0, 16, 4))


def iban_value(grouping: str, bad_checksum: bool = False) -> str:
    bban = "".join(str(RNG.randint(0, 9)) for _ in range(18))
    numeric = int(bban + "131400")
    check = 98 - numeric % 97
    if bad_checksum:
        check = (check + RNG.randint(1, 50)) % 100
    raw = f"DE{check:02d}{bban}"
    if grouping == "pairs":
        return " ".join(raw[i : i + 2] for i in range(0, len(raw), 2))
    if grouping == "homoglyph":
        return "D\u0415" + raw[2:]  # Cyrillic Е
    return grouping.join(raw[i : i + 4] for i in range(0, len(raw), 4))


NON_LATIN = ["王伟", "李娜", "张敏", "刘洋", "陈静", "김민수", "이지은", "박서준", "최유나", "محمد علي",
             "فاطمة الزهراء", "أحمد حسن", "Иван Петров", "Ольга Смирнова", "Дмитрий Соколов", "Анна Кузнецова"]
DIACRITIC_NAMES = ["Zoë Łukasiewicz", "Ægir Þórsson", "Søren Kierkegård", "Çağla Öztürk", "Đorđe Petrović",
                   "Małgorzata Wąsik", "Ådne Ødegård", "Ștefan Țurcanu", "Ľubica Šťastná", "Eñaut Ibáñez"]
HOMOGLYPH_NAMES = ["\u0410nna Schmidt", "J\u043ehn Smith", "Mari\u0430 Rossi", "P\u0435ter Novak",
                   "\u0421laire Dubois", "Tom\u0430s Silva"]
DIGIT_SCRIPTS = [str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"), str.maketrans("0123456789", "०१२३४५६७८९"),
                 str.maketrans("0123456789", "０１２３４５６７８９")]


def slot(kind: str, value: str, own: bool = False) -> str:
    return "{%s%s:%s}" % (kind, "*" if own else "", value)


# (category tag, split, template, value maker) - {V} is the slot.
def _date(lang):
    return lambda: slot("DATE", date_value(lang))


def _addr(lang):
    return lambda: slot("ADDRESS", address_value(lang))


TEMPLATES = {
    "dob": {
        "dev": [("Date of birth: {V}, please update my file.", _date("en")),
                ("I was born on {V} and your form rejects it.", _date("en")),
                ("Je suis née le {V}, merci de corriger.", _date("fr")),
                ("Geboren am {V}, bitte ändern Sie das.", _date("de")),
                ("Fecha de nacimiento {V}, el contrato dice otra cosa.", _date("es")),
                ("Nato il {V}, il vostro sistema sbaglia.", _date("it")),
                ("Geboortedatum {V} staat fout in mijn account.", _date("nl"))],
        "holdout": [("b. {V} - that is what my ID says, not what your letter says.", _date("en")),
                    ("DOB {V}!!! why does the app think I'm 12", _date("en")),
                    ("né le {V} à Lyon, client depuis toujours", _date("fr")),
                    ("Mein Geburtsdatum ({V}) ist falsch hinterlegt.", _date("de")),
                    ("nacida el {V}, soy la titular de la línea", _date("es")),
                    ("data di nascita {V}, vi prego di verificare", _date("it")),
                    ("ik ben geboren op {V} en de leeftijdscheck faalt", _date("nl"))],
    },
    "address": {
        "dev": [("Send the new router to {V}, London.", _addr("en")),
                ("I moved to {V} last month.", _addr("en")),
                ("Nouvelle adresse : {V}, 69003 Lyon.", _addr("fr")),
                ("Bitte an {V} liefern, nicht an die alte Adresse.", _addr("de")),
                ("Mi dirección es {V}, Madrid.", _addr("es")),
                ("Abito in {V}, il tecnico non è mai venuto.", _addr("it")),
                ("Mijn adres is {V}, Utrecht.", _addr("nl"))],
        "holdout": [("the engineer went to {V} instead of my place", _addr("en")),
                    ("Parcel left outside {V} in the rain.", _addr("en")),
                    ("j'habite au {V}, le signal est nul", _addr("fr")),
                    ("Wir wohnen jetzt in der {V}, der Anschluss fehlt.", _addr("de")),
                    ("vivo en {V} y no hay cobertura", _addr("es")),
                    ("consegna a {V} per favore", _addr("it")),
                    ("verhuisd naar de {V}, graag aanpassen", _addr("nl"))],
    },
    "postcode": {
        "dev": [("My postcode is {V} and the checker says no fibre.", lambda: slot("POSTCODE", postcode_value("UK"))),
                ("ZIP {V}, the outage map shows nothing.", lambda: slot("POSTCODE", postcode_value("US"))),
                ("Code postal {V}, toujours pas de fibre.", lambda: slot("POSTCODE", postcode_value("FR"))),
                ("PLZ {V}, kein Empfang im Keller.", lambda: slot("POSTCODE", postcode_value("DE"))),
                ("Postcode {V} Amsterdam heeft storing.", lambda: slot("POSTCODE", postcode_value("NL")))],
        "holdout": [("coverage in {V} is a joke", lambda: slot("POSTCODE", postcode_value("UK"))),
                    ("we are in {V} (Texas) and roaming kicks in", lambda: slot("POSTCODE", postcode_value("US"))),
                    ("à {V} le débit est catastrophique", lambda: slot("POSTCODE", postcode_value("FR"))),
                    ("Wohnort {V} München, seit Tagen offline", lambda: slot("POSTCODE", postcode_value("DE"))),
                    ("C.P. {V} Sevilla, sin servicio", lambda: slot("POSTCODE", postcode_value("ES"))),
                    ("the mail went to {V} Ottawa by mistake", lambda: slot("POSTCODE", postcode_value("CA")))],
    },
    "national_id": {
        "dev": [("My SSN is {V}, why do you need it?", lambda: slot("NATIONAL_ID", ssn())),
                ("National Insurance number {V} for the contract.", lambda: slot("NATIONAL_ID", nino())),
                ("Numéro de sécurité sociale : {V}", lambda: slot("NATIONAL_ID", french_nir())),
                ("Mi DNI es {V}.", lambda: slot("NATIONAL_ID", dni())),
                ("Steuer-ID {V} steht auf der Rechnung, bitte entfernen!", lambda: slot("NATIONAL_ID", tax_id_de()))],
        "holdout": [("they asked for my social security number ({V}) on the phone?!", lambda: slot("NATIONAL_ID", ssn())),
                    ("NI no. {V} - please delete it from your records", lambda: slot("NATIONAL_ID", nino())),
                    ("mon n° de sécu est {V}", lambda: slot("NATIONAL_ID", french_nir())),
                    ("el titular, con DNI {V}, soy yo", lambda: slot("NATIONAL_ID", dni())),
                    ("meine Steueridentifikationsnummer lautet {V}", lambda: slot("NATIONAL_ID", tax_id_de())),
                    ("{V} is my SSN, it was printed on the bill", lambda: slot("NATIONAL_ID", ssn()))],
    },
    "passport": {
        "dev": [("Passport number {V} was used to open the account.", lambda: slot("PASSPORT", passport())),
                ("Numéro de passeport : {V}", lambda: slot("PASSPORT", passport())),
                ("Reisepass Nr. {V} liegt Ihnen vor.", lambda: slot("PASSPORT", passport()))],
        "holdout": [("I showed my passport {V} in the shop", lambda: slot("PASSPORT", passport())),
                    ("pasaporte {V}, lo tienen ustedes", lambda: slot("PASSPORT", passport())),
                    ("il mio passaporto n. {V} è scaduto", lambda: slot("PASSPORT", passport())),
                    ("paspoort: {V}", lambda: slot("PASSPORT", passport()))],
    },
    "reference": {
        "dev": [("My reference number is {V} and nobody can find it.", lambda: slot("ACCOUNT_NUMBER", reference())),
                ("Kundennummer {V}, bitte zurückrufen.", lambda: slot("ACCOUNT_NUMBER", reference())),
                ("Référence dossier {V}, toujours sans réponse.", lambda: slot("ACCOUNT_NUMBER", reference()))],
        "holdout": [("ref {V} - third time I'm writing", lambda: slot("ACCOUNT_NUMBER", reference())),
                    ("número de cliente {V}, llevo un mes esperando", lambda: slot("ACCOUNT_NUMBER", reference())),
                    ("klantnummer: {V}", lambda: slot("ACCOUNT_NUMBER", reference())),
                    ("case no. {V} was closed without asking me", lambda: slot("ACCOUNT_NUMBER", reference()))],
    },
    "card_separators": {
        "dev": [("Card {V}, refund it.", lambda: slot("CREDIT_CARD", luhn_card("/"))),
                ("charged on {V} twice", lambda: slot("CREDIT_CARD", luhn_card("_"))),
                ("Karte {V} wurde doppelt belastet.", lambda: slot("CREDIT_CARD", luhn_card("pairs")))],
        "holdout": [("my visa is {V}", lambda: slot("CREDIT_CARD", luhn_card("pairs"))),
                    ("carte bancaire {V} débitée deux fois", lambda: slot("CREDIT_CARD", luhn_card("/"))),
                    ("tarjeta {V}", lambda: slot("CREDIT_CARD", luhn_card("_"))),
                    ("use {V} for the refund", lambda: slot("CREDIT_CARD", luhn_card(".")))],
    },
    "iban_grouping": {
        "dev": [("IBAN {V} please.", lambda: slot("IBAN", iban_value("pairs"))),
                ("Direct debit from {V}", lambda: slot("IBAN", iban_value(" ", bad_checksum=True))),
                ("Konto {V}", lambda: slot("IBAN", iban_value("homoglyph")))],
        "holdout": [("refund into {V} thanks", lambda: slot("IBAN", iban_value("-", bad_checksum=True))),
                    ("mon IBAN : {V}", lambda: slot("IBAN", iban_value("pairs"))),
                    ("rimborso su {V}", lambda: slot("IBAN", iban_value("homoglyph"))),
                    ("rekening {V}", lambda: slot("IBAN", iban_value("/")))],
    },
    "non_latin_name": {
        "dev": [("My advisor {V} was very helpful.", lambda: slot("PERSON", RNG.choice(NON_LATIN))),
                ("Thanks to {V} for fixing the line.", lambda: slot("PERSON", RNG.choice(NON_LATIN)))],
        "holdout": [("spoke with {V} yesterday, no solution", lambda: slot("PERSON", RNG.choice(NON_LATIN))),
                    ("merci à {V} pour son aide", lambda: slot("PERSON", RNG.choice(NON_LATIN))),
                    ("{V} from your shop lied to me", lambda: slot("PERSON", RNG.choice(NON_LATIN)))],
    },
    "diacritics_name": {
        "dev": [("My neighbour {V} recommended you.", lambda: slot("PERSON", RNG.choice(DIACRITIC_NAMES))),
                ("I spoke to {V} in the shop.", lambda: slot("PERSON", RNG.choice(DIACRITIC_NAMES)))],
        "holdout": [("the installer {V} was late again", lambda: slot("PERSON", RNG.choice(DIACRITIC_NAMES))),
                    ("bitte Herrn {V} ausrichten: danke", lambda: slot("PERSON", RNG.choice(DIACRITIC_NAMES)))],
    },
    "homoglyph_name": {
        "dev": [("Ask {V} about my case.", lambda: slot("PERSON", RNG.choice(HOMOGLYPH_NAMES)))],
        "holdout": [("your agent {V} hung up on me", lambda: slot("PERSON", RNG.choice(HOMOGLYPH_NAMES))),
                    ("{V} promised a refund", lambda: slot("PERSON", RNG.choice(HOMOGLYPH_NAMES)))],
    },
    "script_digits": {
        "dev": [("Call me on {V}.", lambda: slot("PHONE", "07911 123456".translate(RNG.choice(DIGIT_SCRIPTS))))],
        "holdout": [("my number {V} is new", lambda: slot("PHONE", "+44 7700 900461".translate(RNG.choice(DIGIT_SCRIPTS)))),
                    ("card {V}", lambda: slot("CREDIT_CARD", luhn_card(" ").translate(RNG.choice(DIGIT_SCRIPTS))))],
    },
    "line_break": {
        "dev": [("call me on {V} today", lambda: slot("PHONE", "+44 7911\n123456")),
                ("mail {V}", lambda: slot("EMAIL", "jane.doe@\nexample.com"))],
        "holdout": [("IBAN {V}\nthanks", lambda: slot("IBAN", "DE89 3704 0044\n0532 0130 00")),
                    ("Regards,\n{V}", lambda: slot("PERSON", "Anna\nSchmidt")),
                    ("card {V} please", lambda: slot("CREDIT_CARD", "4111 1111\n1111 1111"))],
    },
    "letter_spaced_email": {
        "dev": [("write to {V} please", lambda: slot("EMAIL", " ".join("jane.doe@example.com")))],
        "holdout": [("my mail: {V}", lambda: slot("EMAIL", " ".join(RNG.choice(["tom.b@gmail.com", "kasia99@wp.pl", "l.moreau@orange.fr"]))))],
    },
}


def own_variant_records(split: str) -> list[tuple[str, dict, list[str]]]:
    """The customer's own identifiers written another way; (template, known, tags)."""
    people = [("Jane", "Doe-Whitfield", "jane.doe87@example.com", "+44 7911 123456", "C000123"),
              ("Marek", "Kowalczyk", "mkowal@wp.pl", "+48 512 345 678", "CUST-55120"),
              ("Sofia", "Bernardini", "sofia.bern@libero.it", "+39 347 123 4567", "A77-1042"),
              ("Lukas", "Hoffmann", "l.hoffmann@web.de", "+49 151 23456789", "K4471229")]
    out = []
    for first, last, email, phone, cid in people:
        known = {"name": f"{first} {last}", "email": email, "phone": phone, "extra": [cid]}
        short_last = last.split("-")[-1]
        local = email.split("@")[0]
        typo = short_last[:2] + short_last[3] + short_last[2] + short_last[4:]  # swap two letters
        spaced_id = " ".join(cid.replace("-", ""))
        if split == "dev":
            rows = [
                (f"This is {slot('PERSON', f'{short_last.upper()}, {first}', True)} again.", ["own_name_variant"]),
                (f"Signed {slot('PERSON', f'{first}{short_last}', True)}", ["own_name_variant"]),
                (f"my login is {slot('EMAIL', local, True)}", ["own_email_local"]),
                (f"customer {slot('CUSTOMER_ID', cid.lower().replace('-', ''), True)} here", ["own_id_variant"]),
                (f"{slot('PERSON', f'{first[0]}. {short_last}', True)} writing about the bill", ["own_name_variant"]),
            ]
        else:
            rows = [
                (f"it's {slot('PERSON', f'{first} {typo}', True)}, no internet", ["own_name_variant"]),
                (f"kind regards {slot('PERSON', f'{first[0]}.{short_last[0]}.', True)}", ["own_name_variant"]),
                (f"you can find me as {slot('EMAIL', local + '_home', True)} on the forum", ["own_email_local"]),
                (f"id: {slot('CUSTOMER_ID', spaced_id, True)}", ["own_id_variant"]),
                (f"{slot('PERSON', f'{first.lower()}{short_last.lower()}', True)} on your app", ["own_name_variant"]),
                (f"write to {slot('EMAIL', ' '.join(email), True)}", ["own_email_local"]),
            ]
        out += [(t, known, tags) for t, tags in rows]
    return out


# Issue 13: the gaps an outside tester found. A separate generator with its own seed, so the
# records above keep their values. Holdout templates were written before they were run.
RNG_GAPS = random.Random(20261202)


def _pick(kind: str, values: list[str]):
    return lambda: slot(kind, RNG_GAPS.choice(values))


def passport_gap() -> str:
    return RNG_GAPS.choice([f"NX{RNG_GAPS.randint(1000000, 9999999)}",
                            "".join(RNG_GAPS.choice(string.ascii_uppercase + string.digits) for _ in range(5))
                            + str(RNG_GAPS.randint(1000, 9999)),  # real passport numbers hold digits
                            f"C01X{RNG_GAPS.randint(10000, 99999)}"])


def nino_lower() -> str:
    """A UK NI number in lower case, prefix letters not checked (typed as the customer wrote it)."""
    letters = "abceghjklmnpqrstwxyz"
    d = f"{RNG_GAPS.randint(0, 999999):06d}"
    return f"{RNG_GAPS.choice(letters)}{RNG_GAPS.choice(letters)} {d[:2]} {d[2:4]} {d[4:]} {RNG_GAPS.choice('abcd')}"


def grouped_ref() -> str:
    """A reference in blank-separated digit groups ("884 213", "41 772 093")."""
    return RNG_GAPS.choice([f"{RNG_GAPS.randint(100, 999)} {RNG_GAPS.randint(100, 999)}",
                            f"{RNG_GAPS.randint(100, 999)} {RNG_GAPS.randint(100, 999)} {RNG_GAPS.randint(10, 99)}",
                            f"{RNG_GAPS.randint(1000, 9999)} {RNG_GAPS.randint(1000, 9999)}"])


GAP_ADDRESSES_DEV = ["Apt 12C, 350 W 42nd St, New York, NY 10036", "350 West 42nd Street",
                     "Unit 7, 14-16 Church Lane, Bristol BS1 5TR", "Gran Vía 28, 5º dcha",
                     "Am Markt 5, 2. OG links, 04109 Leipzig", "Unter den Linden 77, 10117 Berlin"]
GAP_ADDRESSES_HOLDOUT = ["1200 E 3rd Ave", "Suite 4, 77 North 5th Street, Austin, TX 78701",
                         "8-10 Mill Road, Leeds LS1 4AP", "Gran Vía 12, 2º izq",
                         "An der Alster 12, 20099 Hamburg", "Auf dem Berg 3, 3. OG rechts, 80331 München"]
GAP_TEMPLATES = {
    "address": {
        "dev": [("I live at {V} and the signal is awful.", _pick("ADDRESS", GAP_ADDRESSES_DEV)),
                ("vivo en la {V}, no hay fibra", _pick("ADDRESS", ["Gran Vía 28, 5º dcha", "Gran Vía 3, 1º izq"])),
                ("Lieferung bitte an {V}.", _pick("ADDRESS", ["Am Markt 5, 2. OG links, 04109 Leipzig",
                                                               "Unter den Linden 77, 10117 Berlin"])),
                ("Ich wohne {V} und habe kein Netz.", _pick("ADDRESS", ["am Markt 5", "Jungfernstieg 1"]))],
        "holdout": [("the box was delivered to {V} instead", _pick("ADDRESS", GAP_ADDRESSES_HOLDOUT)),
                    ("Meine Anschrift: {V}, bitte ändern", _pick("ADDRESS", ["Am Wall 9", "Zur Mühle 14"])),
                    ("nos mudamos a {V} en mayo", _pick("ADDRESS", ["Gran Vía 40, 3º dcha", "Calle Nueva 5, 1º B"]))],
    },
    "postcode": {
        "dev": [("I'm in {V} and the signal drops every night", _pick("POSTCODE", ["ec1a1bb", "sw1a1aa", "m1 1ae"])),
                ("postcode {V}, geen bereik", _pick("POSTCODE", ["1017gc", "3511ab", "2513aa"])),
                ("my area is {V}, any outage?", _pick("POSTCODE", ["ls14ap", "b33 8th"]))],
        "holdout": [("we live near {V} and 4G is dead", _pick("POSTCODE", ["cr2 6xh", "g23ab", "dn551pt"])),
                    ("mijn postcode is {V} en de storing duurt al dagen", _pick("POSTCODE", ["1012ab", "9711kl"]))],
    },
    "passport": {
        "dev": [("mijn paspoortnummer is {V}", lambda: slot("PASSPORT", passport_gap())),
                ("Paspoortnummer: {V}", lambda: slot("PASSPORT", passport_gap())),
                ("Reisepassnummer {V}, bitte löschen", lambda: slot("PASSPORT", passport_gap())),
                ("passeport n° {V}", lambda: slot("PASSPORT", passport_gap()))],
        "holdout": [("meine Passnummer lautet {V}", lambda: slot("PASSPORT", passport_gap())),
                    ("el número de pasaporte es {V}", lambda: slot("PASSPORT", passport_gap())),
                    ("numero di passaporto {V}, scaduto", lambda: slot("PASSPORT", passport_gap()))],
    },
    "national_id": {
        "dev": [("ni no. {V}", lambda: slot("NATIONAL_ID", nino_lower())),
                ("my NI number is {V}, why do you keep it?", lambda: slot("NATIONAL_ID", nino_lower()))],
        "holdout": [("national insurance no {V} - delete it", lambda: slot("NATIONAL_ID", nino_lower())),
                    ("they asked for my nino ({V}) on the phone", lambda: slot("NATIONAL_ID", nino_lower()))],
    },
    "reference": {
        "dev": [("numéro client : {V}", lambda: slot("ACCOUNT_NUMBER", grouped_ref())),
                ("customer number {V}, please call back", lambda: slot("ACCOUNT_NUMBER", grouped_ref())),
                ("Kundennummer {V}", lambda: slot("ACCOUNT_NUMBER", grouped_ref()))],
        "holdout": [("my account number is {V} and the bill is wrong", lambda: slot("ACCOUNT_NUMBER", grouped_ref())),
                    ("número de cliente {V}, sin respuesta", lambda: slot("ACCOUNT_NUMBER", grouped_ref()))],
    },
    "letter_spaced_email": {
        "dev": [("mail me: {V}", lambda: slot("EMAIL", spelled_spaced_email(
                    ["marko77@web.de", "johnsmith@gmail.com", "peter.muller@gmx.de"], RNG_GAPS.choice(["spelled", "brackets"]))))],
        "holdout": [("my address is {V} thanks", lambda: slot("EMAIL", spelled_spaced_email(
                        ["lena.k@posteo.de", "tom_b91@yahoo.co.uk", "sara@orange.fr"], "spelled"))),
                    ("écrivez à {V}", lambda: slot("EMAIL", spelled_spaced_email(
                        ["jules.r@free.fr", "ana22@hotmail.es"], "brackets")))],
    },
    "lowercase_name": {
        "dev": [("my name is {V} and my bill is wrong", _pick("PERSON", ["mark o'brien", "mark obrien", "xiomara nwosu"])),
                ("je m'appelle {V}, la box ne marche pas", _pick("PERSON", ["pierre dupont", "camille martin"])),
                ("ich heiße {V} und habe kein Netz", _pick("PERSON", ["jan müller", "lena schmidt"]))],
        "holdout": [("hi, i'm {V}, still no refund", _pick("PERSON", ["sean o'connor", "tom mcgregor", "kevin obrien"])),
                    ("me llamo {V} y no tengo internet", _pick("PERSON", ["ana garcía", "jorge ruiz"])),
                    ("mi chiamo {V}, il modem è rotto", _pick("PERSON", ["giulia rossi", "marco bianchi"]))],
    },
    "social_handle": {
        "dev": [("DM {V} on twitter, I posted the screenshots", _pick("HANDLE", ["@janewhit84", "@marko_77", "@lena.k"])),
                ("my insta is {V} if you need proof", _pick("HANDLE", ["@tessa.vdb", "@j_smith_1990"]))],
        "holdout": [("je suis {V} sur X, répondez-moi", _pick("HANDLE", ["@jules_r", "@camille.m92"])),
                    ("schreibt mir auf Instagram ({V})", _pick("HANDLE", ["@lukas.h", "@anna_s84"]))],
    },
    "spelled_digits": {
        "dev": [("{V} is my mobile, call me", lambda: slot("NUMBER", spelled_digits("en"))),
                ("call me on {V} after six", lambda: slot("NUMBER", spelled_digits("en"))),
                ("ruf mich an: {V}", lambda: slot("NUMBER", spelled_digits("de")))],
        "holdout": [("my number is {V}, thanks", lambda: slot("NUMBER", spelled_digits("en"))),
                    ("rappelez-moi au {V} svp", lambda: slot("NUMBER", spelled_digits("fr"))),
                    ("mi número es {V}", lambda: slot("NUMBER", spelled_digits("es")))],
    },
    "native_script_name": {
        "dev": [("أنا {V} والإنترنت بطيء جدا", _pick("PERSON", ["محمد العلي", "أحمد حسن", "فاطمة الزهراء"])),
                ("{V} 고객입니다. 인터넷이 너무 느려요.", _pick("PERSON", ["김민준", "이지은", "박서준"])),
                ("{V}的账单错了", _pick("PERSON", ["王秀英", "李娜", "张伟"])),
                ("我是{V}，网络太慢了", _pick("PERSON", ["刘洋", "陈静"]))],
        "holdout": [("اسمي {V} والخدمة سيئة", _pick("PERSON", ["خالد يوسف", "سارة"])),
                    ("저는 {V}입니다. 요금이 너무 비싸요.", _pick("PERSON", ["최유나", "정하늘"])),
                    ("我叫{V}，每天晚上都断线", _pick("PERSON", ["赵磊", "孙丽"])),
                    ("{V}的网络又断了。", _pick("PERSON", ["杨帆", "吴敏"]))],
    },
}

def spelled_spaced_email(addresses: list[str], style: str) -> str:
    """An address letter-spaced with "at"/"dot" spelled ("m a r k o 7 7 at w e b dot d e")
    or only the local part spaced and "(at)"/"(dot)" around plain domain words."""
    local, domain = RNG_GAPS.choice(addresses).split("@")
    labels = domain.split(".")
    if style == "spelled":
        return " ".join(local) + " at " + " dot ".join(" ".join(x) for x in labels)
    return " ".join(local) + " (at) " + " (dot) ".join(labels)


SPELLED = {"en": "zero one two three four five six seven eight nine".split(),
           "fr": "zéro un deux trois quatre cinq six sept huit neuf".split(),
           "de": "null eins zwei drei vier fünf sechs sieben acht neun".split(),
           "es": "cero uno dos tres cuatro cinco seis siete ocho nueve".split()}


def spelled_digits(lang: str) -> str:
    """A phone number read aloud: 7-11 digit words, English sometimes with "oh" and a comma."""
    digits = [RNG_GAPS.randint(0, 9) for _ in range(RNG_GAPS.randint(7, 11))]
    words = [SPELLED[lang][d] for d in digits]
    if lang == "en" and digits[0] == 0 and RNG_GAPS.random() < 0.5:
        words[0] = "oh"
    cut = RNG_GAPS.randint(3, len(words) - 3)
    return " ".join(words[:cut]) + RNG_GAPS.choice([" ", ", "]) + " ".join(words[cut:])


def gap_own_records() -> list[tuple[str, str, dict]]:
    """(split, template, known): surnames with particles written joined or surname first."""
    out = []
    for first, particles, last in [("Tessa", "van den", "Berg"), ("Pieter", "de", "Vries")]:
        known = {"name": f"{first} {particles} {last}"}
        joined = particles.replace(" ", "") + last
        out += [("dev", f"{slot('PERSON', f'{first} {joined}', True)} here, still no signal", known),
                ("dev", f"signed {slot('PERSON', first + joined, True)}", known),
                ("dev", f"{slot('PERSON', f'{particles.upper()} {last.upper()}, {first}', True)} - cancel please", known)]
    for first, particles, last in [("Lotte", "van der", "Meer"), ("Jan", "de", "Jong"), ("Sanne", "van", "Dijk")]:
        known = {"name": f"{first} {particles} {last}"}
        joined = particles.replace(" ", "") + last
        out += [("holdout", f"my username is {slot('PERSON', joined.lower(), True)}", known),
                ("holdout", f"regards, {slot('PERSON', f'{first}{joined}', True)}", known)]
    return out


NEGATIVES_GAPS = [
    "Ich wohne in Berlin seit 10 Jahren und zahle 40 Euro.",
    "Windows 10 update broke the router app again.",
    "I bought a ps4 2nd hand and the wifi drops.",
    "We moved in 2nd week of May, the area has no fibre.",
    "Ich brauche einen neuen Pass, dauert 3 Wochen.",
    "Waited 2 days for order support, 45 minutes on hold each time.",
    "I got a 5 G signal at home but at work it drops to 3 G.",
    "I'm sure my name is on the contract, I'm still waiting.",
    "I am really angry, my name is not on the bill.",
    "Bought 3 @ 20 EUR each, see you @ 5pm.",
    "I waited one, two, three weeks and nobody came, one or two calls a day.",
    "Zwei oder drei Mal pro Woche fällt das Netz aus.",
    "Between 2019-2021 the service was excellent.",
    "Your app says ошибка 503 every morning.",
    "From 1998 - 2004 I never had an outage.",
    "The router shows Ошибка сети and then σφάλμα, every night.",
    "网络太慢了，每天晚上都断线。",
    "الإنترنت بطيء جدا",
    "اینترنت خیلی کند است",
    "我是老客户了，高速的网络很贵。",
    "저는 정말 화가 났어요. 인터넷이 너무 느려요.",
    "أنا غاضب جدا من الخدمة",
    "今天的网络很慢，每周的账单都错了。",
    "Ошибка 503 снова, интернет не работает.",
]

NEGATIVES_MULTI = [
    "Le débit est très lent depuis trois semaines, je veux résilier.",
    "Der Kundenservice war freundlich, aber das Problem bleibt.",
    "El precio subió un 10% y la velocidad sigue igual.",
    "Il servizio clienti non risponde mai, pessimo.",
    "De internetverbinding valt elke avond weg.",
    "Roaming in Spain cost me 25.50 EUR for 2 GB.",
    "Waited 45 minutes on hold, then the call dropped.",
    "Upgrade to 500 Mbps was worth it.",
    "I paid 1,299.00 EUR and still no refund.",
    "Since 2019 the price went up every year, 5% each time.",
    "Street works on the corner, so no signal all week.",
    "Merci pour la rapidité, tout fonctionne.",
    "Die Rechnung für März ist doppelt so hoch wie im Februar.",
    "Llamé el lunes y nadie me ayudó.",
    "Ottimo rapporto qualità prezzo.",
    "Prima service, snelle levering.",
]


def records(record) -> list[dict]:
    """All issue-12 records, built with make_pii_corpus.record()."""
    out = []
    for category, splits in TEMPLATES.items():
        for split, templates in splits.items():
            per_template = max(2, -(-12 // len(templates))) if split == "holdout" else 3
            for template, make in templates:
                for _ in range(per_template):
                    rec = record(template.replace("{V}", make()))
                    rec["split"], rec["tags"] = split, [category]
                    out.append(rec)
    for split in ("dev", "holdout"):
        for template, known, tags in own_variant_records(split):
            rec = record(template, known)
            rec["split"], rec["tags"] = split, tags
            out.append(rec)
    for i, line in enumerate(NEGATIVES_MULTI):
        rec = record(line)
        rec["split"], rec["tags"] = ("holdout" if i % 2 else "dev"), ["negative"]
        out.append(rec)
    for category, splits in GAP_TEMPLATES.items():
        for split, templates in splits.items():
            for template, make in templates:
                for _ in range(3):
                    rec = record(template.replace("{V}", make()))
                    rec["split"], rec["tags"] = split, [category]
                    out.append(rec)
    for split, template, known in gap_own_records():
        rec = record(template, known)
        rec["split"], rec["tags"] = split, ["own_name_variant"]
        out.append(rec)
    for i, line in enumerate(NEGATIVES_GAPS):
        rec = record(line)
        rec["split"], rec["tags"] = ("holdout" if i % 2 else "dev"), ["negative"]
        out.append(rec)
    return out
