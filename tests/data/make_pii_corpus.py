"""Generate tests/data/pii_corpus.jsonl, the labelled corpus behind docs/pii_evaluation.md.

Each line: {"text", "known" (the author's identifiers or null), "spans": [{"start", "end",
"type", "own"?}]}. "own": true marks the author's own identifiers (from "known").

Templates are written inline as "Call me on {PHONE:+44 20 7946 0958}" (a labelled span) or
"{PHONE*:...}" (the author's own identifier). Values are drawn with a fixed seed from
hand-written, multicultural pools (deliberately not the recognizer's name lists), phone numbers
are checked valid with phonenumbers, cards pass Luhn, IBANs carry correct check digits.
Negative sentences (no PII at all) measure precision on everyday feedback.

Usage: python tests/data/make_pii_corpus.py   (deterministic; rewrites the jsonl)
"""

from __future__ import annotations

import json
import random
import re
import string
from pathlib import Path

import phonenumbers

import pii_corpus_more  # the issue-12 categories, next to this file

OUT = Path(__file__).with_name("pii_corpus.jsonl")
RNG = random.Random(20241124)

FIRST = """Anna Lukas Sofia Mateo Chloé Aarav Priya Wei Mei Hiroshi Yuki Oluwaseun Chidi Amara
Fatima Omar Youssef Leila Dmitri Olga Agnieszka Piotr Siobhan Ciarán Bjørn Ingrid Mehmet Ayşe
Giulia Alessandro Thanh Kwame Ama Thabo Zanele Rafael Camila João Beatriz Lars Astrid Pierre
Margaux Javier Lucía Raj Ananya Arjun Deepika Hannah Jonas Emma Liam Olivia Noah Isabella Ethan
Mia Lucas Charlotte James Amelia Daniel Harper Sebastián Valentina Tomás Esther Miriam David
Sarah Ibrahim Aisha Kofi Nia Tariq Zainab Sven Freya Matteo Chiara Niamh Eoin Kenji Sakura
Tatiana Ivan Elif Emre Malik Imani Xochitl Tenzin Arash Shirin Kaito Jin Soo-ah Bongani Folake
Gwen Rhys Maeve Oisín Paulo Thiago Ximena Renata Dagny Henrik Ines Klara Jakub Zofia Yusuf""".split()

LAST = """Schmidt Müller García Fernández Rossi Bianchi Kowalski Nowak O'Brien Murphy Johnson
Williams Nguyen Tran Chen Wang Tanaka Suzuki Sato Okafor Adeyemi Mensah Osei Dlamini Nkosi Patel
Sharma Gupta Singh Iyer Khan Hussain Haddad Nasser Petrov Ivanova Novak Horváth Nagy Yılmaz Demir
Andersson Johansson Hansen Nielsen Jansen Dubois Lefebvre Moreau Silva Santos Oliveira Pereira
Rodríguez López Martínez Hernández Cohen Levi Friedman Kaur Reddy Mukherjee Abdullah Rahman
Papadopoulos Georgiou Kovačević Horvat MacLeod Fitzgerald Wójcik Schneider Fischer Weber Becker
Hoffmann Ramírez Torres Flores Gómez Díaz Castillo Mwangi Otieno Achterberg Ferreira Bakker
Visser Zhang Liu Huang Okonkwo Balogun Chaudhry Nakamura Kobayashi Lindqvist Virtanen Eriksen
Schwarz Zimmermann Kuznetsov Popescu Ionescu Costa Moretti Greco Ruiz Alvarez Mendoza Vargas""".split()

COMPOUND_LAST = ["van der Berg", "de Jong", "van Dijk", "de la Cruz", "dos Santos", "da Silva",
                 "Al-Amin", "Ben-David", "Smith-Jones", "Nwosu-Okafor"]

EMAIL_DOMAINS = ["example.com", "mail.example.org", "gmail.com", "outlook.de", "yahoo.co.uk",
                 "web.de", "orange.fr", "libero.it", "uol.com.br", "bigpond.com.au",
                 "rediffmail.com", "students.example.ac.in", "icloud.com", "proton.me",
                 "acme-corp.io", "kpnmail.nl", "telefonica.es", "t-online.de", "free.fr"]


# ----------------------------------------------------------------------------- values

def full_name() -> str:
    last = RNG.choice(COMPOUND_LAST) if RNG.random() < 0.12 else RNG.choice(LAST)
    return f"{RNG.choice(FIRST)} {last}"


def email_for(name: str) -> str:
    first, *rest = re.sub(r"[^A-Za-z ]", "", _ascii(name)).lower().split()
    last = rest[-1] if rest else "x"
    local = RNG.choice([
        f"{first}.{last}", f"{first[0]}{last}", f"{first}_{last}{RNG.randint(1, 99)}",
        f"{first}{RNG.randint(70, 99)}", f"{last}.{first}+billing", f"{first}-{last}",
    ])
    address = f"{local}@{RNG.choice(EMAIL_DOMAINS)}"
    return address.upper() if RNG.random() < 0.08 else address


def _ascii(text: str) -> str:
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


PHONE_STYLES = ("national", "international", "e164", "dashed", "dotted", "compact", "00")


def phone(region: str, style: str | None = None) -> str:
    """A valid number of `region`, written in one of PHONE_STYLES."""
    kind = RNG.choice([phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE])
    example = phonenumbers.example_number_for_type(region, kind)
    base = phonenumbers.national_significant_number(example)
    for _ in range(200):
        keep = max(2, len(base) - 6)
        digits = base[:keep] + "".join(RNG.choice(string.digits) for _ in base[keep:])
        number = phonenumbers.parse(digits, region)
        if phonenumbers.is_valid_number(number):
            break
    else:
        number = example
    style = style or RNG.choice(PHONE_STYLES)
    intl = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    if style == "national":
        return national
    if style == "international":
        return intl
    if style == "e164":
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if style == "dashed":
        return re.sub(r"[\s]+", "-", intl)
    if style == "dotted":
        return re.sub(r"[\s\-]+", ".", national.replace("(", "").replace(")", ""))
    if style == "compact":
        return re.sub(r"[^\d+]", "", national)
    return "00" + intl[1:]


def luhn_complete(prefix: str, length: int) -> str:
    """Random card number with `prefix`, `length` digits, valid Luhn check digit."""
    body = prefix + "".join(RNG.choice(string.digits) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def card() -> str:
    prefix, length = RNG.choice([("4", 16), ("4", 16), ("51", 16), ("55", 16), ("2221", 16),
                                 ("34", 15), ("37", 15), ("6011", 16), ("65", 16)])
    number = luhn_complete(prefix, length)
    style = RNG.choice(["spaced", "dashed", "plain", "spaced"])
    groups = [4, 6, 5] if length == 15 else [4, 4, 4, 4]
    parts, i = [], 0
    for g in groups:
        parts.append(number[i : i + g])
        i += g
    if style == "plain":
        return number
    return (" " if style == "spaced" else "-").join(parts)


IBAN_FORMATS = {  # country -> BBAN layout: n = digit, a = upper letter, c = alphanumeric
    "DE": "n" * 18, "GB": "aaaa" + "n" * 14, "FR": "n" * 10 + "c" * 11 + "nn", "NL": "aaaa" + "n" * 10,
    "ES": "n" * 20, "IT": "a" + "n" * 10 + "c" * 12, "BE": "n" * 12, "AT": "n" * 16, "PL": "n" * 24,
    "PT": "n" * 21, "IE": "aaaa" + "n" * 14, "CH": "n" * 5 + "c" * 12,
}


def iban(country: str | None = None) -> str:
    country = country or RNG.choice(list(IBAN_FORMATS))
    pools = {"n": string.digits, "a": string.ascii_uppercase, "c": string.digits + string.ascii_uppercase}
    bban = "".join(RNG.choice(pools[k]) for k in IBAN_FORMATS[country])
    numeric = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    raw = f"{country}{98 - int(numeric) % 97:02d}{bban}"
    style = RNG.choice(["spaced", "spaced", "compact", "lower"])
    spaced = " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))
    if style == "compact":
        return raw
    return spaced.lower() if style == "lower" else spaced


def ipv4() -> str:
    return ".".join(str(x) for x in [RNG.choice([81, 92, 145, 185, 203, 62, 88, 172, 10, 192]),
                                     RNG.randint(0, 255), RNG.randint(0, 255), RNG.randint(1, 254)])


def ipv6() -> str:
    return RNG.choice(["2001:db8:85a3::8a2e:370:7334", "fe80::1ff:fe23:4567:890a",
                       f"2a02:810d:{RNG.randint(4096, 65535):x}:{RNG.randint(1, 65535):x}::1",
                       "2001:0db8:0000:0000:0000:ff00:0042:8329"])


def url() -> str:
    return RNG.choice([
        "https://www.example.com/account?id=88213", "www.myhomepage.co.uk",
        "https://bit.ly/3xYzAbC", "http://example.org/help/billing", "example.net/u/anna_k",
        "https://www.instagram.com/jonas.photo/", "www.facebook.com/priya.raman.77",
        "https://drive.example.com/file/d/1AbC/view", "blog.example.de/mein-umzug",
        "https://linkedin.com/in/kwame-mensah-12ab", "http://test.example.fr/dossier?x=1",
        "www.ticketsupport.example.com/case/55120",
    ])


def account() -> str:
    return RNG.choice([f"ACC-{RNG.randint(10**7, 10**8 - 1)}", f"{RNG.randint(10**7, 10**9)}",
                       f"CN{RNG.randint(100000, 999999)}", f"C-{RNG.randint(1000, 99999):06d}",
                       f"{RNG.randint(100, 999)}-{RNG.randint(10000, 99999)}-{RNG.randint(10, 99)}"])


# ----------------------------------------------------------------------------- templates

_SLOT_RE = re.compile(r"\{([A-Z_]+)(\*?):((?:[^{}])*)\}")


def record(template: str, known: dict | None = None) -> dict:
    """Turn "text {TYPE:value} text" into {"text", "known", "spans"}."""
    text, spans, pos = [], [], 0
    for m in _SLOT_RE.finditer(template):
        text.append(template[pos : m.start()])
        start = sum(len(t) for t in text)
        value = m.group(3)
        span = {"start": start, "end": start + len(value), "type": m.group(1)}
        if m.group(2):
            span["own"] = True
        spans.append(span)
        text.append(value)
        pos = m.end()
    text.append(template[pos:])
    return {"text": "".join(text), "known": known, "spans": spans}


def slot(kind: str, value: str, own: bool = False) -> str:
    return "{%s%s:%s}" % (kind, "*" if own else "", value)


def third_party_person_records() -> list[dict]:
    """Advisors, family members, friends: names the author does not own."""
    out = []
    templates = [
        "I spoke to {P} three times and the problem is still there.",
        "Great service, {P} solved my problem quickly. Thanks!",
        "Your agent {F} was very rude on the phone.",
        "Thanks to {P} from the shop in town, everything works now.",
        "My wife {F} cannot make calls since Tuesday.",
        "Please ask Mr {L} to call me back about the refund.",
        "Dr. {L} recommended your service to me.",
        "{P} from billing promised a refund that never came.",
        "The technician, {F}, arrived late but fixed the router.",
        "I was transferred to {P} who simply hung up on me.",
        "My neighbour {P} recommended you, big mistake.",
        "I called again and {F} told me to wait another week.",
        "Spoke with an agent named {F}, no help at all.",
        "Contact person: {P}",
        "My daughter {F} and my husband {F2} both use the app daily.",
        "Mrs {L} at the Leeds store was fantastic.",
        "{F} at the help desk was patient and kind.",
        "Ask for {P} if you want someone who actually listens.",
        "The engineer {P} installed the fibre in under an hour.",
        "My mother {F} is 82 and cannot read the tiny bills.",
        "cc: {P}",
        "My son {f} broke his screen, can you help?",
        "we were helped by {P} in the Rotterdam store",
        "Your colleague {F} {I}. promised me a discount.",
        "Sent from the account of my father, {P}.",
        "Please thank {P} for the great support last Friday.",
    ]
    for _ in range(4):
        for template in templates:
            name = full_name()
            first, last = name.split(" ", 1)
            f2 = RNG.choice(FIRST)
            text = (
                template.replace("{P}", slot("PERSON", name))
                .replace("{F2}", slot("PERSON", f2))
                .replace("{F}", slot("PERSON", first))
                .replace("{L}", slot("PERSON", last))
                .replace("{f}", slot("PERSON", first.lower()))
            )
            if "{I}" in text:
                text = text.replace(slot("PERSON", first) + " {I}.", slot("PERSON", first + " " + last.split()[-1][0].upper()) + ".")
            out.append(record(text))
    return out


def own_identifier_records() -> list[dict]:
    """The author's own name, e-mail, phone and ids, written the way people write them."""
    out = []
    regions = ["GB", "US", "DE", "FR", "NL", "ES", "IT", "IN", "BR", "AU"]
    for i in range(60):
        name = full_name()
        first, last = name.split(" ", 1)
        region = regions[i % len(regions)]
        stored_phone = phone(region, "international")
        written_phone = _reformat(stored_phone, region)
        email = email_for(name).lower()
        cid = f"C{RNG.randint(10**6, 10**7 - 1)}"
        known = {"name": name, "email": email, "phone": stored_phone, "extra": [cid]}
        written_email = RNG.choice([email, email.upper(), email.capitalize()])
        name_variant = RNG.choice([name, name.upper(), name.lower(), first, first.lower(), last])
        templates = [
            f"I am {slot('PERSON', name_variant, True)}, customer for years, and the service has become terrible.",
            f"Call me on {slot('PHONE', written_phone, True)} or write to {slot('EMAIL', written_email, True)}, this is unacceptable.",
            f"My customer number is {slot('CUSTOMER_ID', cid.lower() if i % 3 == 0 else cid, True)} and nobody answers.",
            f"Regards, {slot('PERSON', name_variant, True)} ({slot('PHONE', written_phone, True)})",
            f"it's {slot('PERSON', first.lower(), True)} again, still no internet. reach me at {slot('EMAIL', written_email, True)}",
            f"Please update my number to {slot('PHONE', written_phone, True)}. Thanks, {slot('PERSON', first, True)}",
        ]
        out.append(record(templates[i % len(templates)], known))
        out.append(record(templates[(i + 2 + i // 6) % len(templates)], known))
    return out


def _reformat(international: str, region: str) -> str:
    """The stored +CC number as the customer might type it in a message."""
    number = phonenumbers.parse(international, None)
    style = RNG.choice(["national", "e164", "dashed", "00", "spaced_digits", "paren"])
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    if style == "national":
        return national
    if style == "e164":
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if style == "dashed":
        return re.sub(r"\s+", "-", international)
    if style == "00":
        return "00" + international[1:].replace(" ", "")
    if style == "paren":
        cc, _, rest = international.partition(" ")
        return f"{cc} (0){rest}" if region in ("GB", "DE", "NL", "AU") else f"({cc}) {rest}"
    digits = re.sub(r"\D", "", national)
    return " ".join(digits[i : i + 3] for i in range(0, len(digits), 3))


def structured_records() -> list[dict]:
    """E-mails, phones of many countries, cards, IBANs, IPs, URLs, account numbers."""
    out = []
    email_templates = ["Send the invoice to {E} please.", "My new address is {E} (please update it)",
                       "email: {E}", "Contact me at <{E}>, not the old one.", "I wrote to {E} twice.",
                       "You can reach my accountant on {E}."]
    for i in range(24):
        t = email_templates[i % len(email_templates)]
        out.append(record(t.replace("{E}", slot("EMAIL", email_for(full_name())))))
    phone_templates = ["Call me on {T} after 6pm.", "My mobile is {T}.", "tel: {T}",
                       "Please ring {T} instead of the landline.", "The number {T} does not work anymore.",
                       "Reach me at {T} or by email.", "whatsapp {T}", "New number: {T} (work)"]
    regions = ["US", "GB", "DE", "FR", "NL", "ES", "IT", "IN", "BR", "AU", "CA", "IE", "BE", "CH",
               "MX", "PL", "SE", "ZA", "JP", "NG"]
    for i in range(70):
        region = regions[i % len(regions)]
        t = phone_templates[i % len(phone_templates)]
        out.append(record(t.replace("{T}", slot("PHONE", phone(region)))))
    card_templates = ["Refund it to my card {C} immediately.", "charged twice on {C}!!",
                      "card number {C}, exp 04/27", "Use my Visa {C} for the next payment.",
                      "Why was {C} declined?"]
    for i in range(28):
        out.append(record(card_templates[i % len(card_templates)].replace("{C}", slot("CREDIT_CARD", card()))))
    iban_templates = ["Please stop the direct debit from {B}, I want to cancel.", "IBAN: {B}",
                      "Refund to {B} please", "my new bank account is {B}."]
    for i, country in enumerate(list(IBAN_FORMATS) * 2 + ["DE", "GB", "NL", "FR"]):
        out.append(record(iban_templates[i % len(iban_templates)].replace("{B}", slot("IBAN", iban(country)))))
    ip_templates = ["Someone logged in from {A}, that was not me.", "my router shows {A} as WAN address",
                    "Blocked IP {A}?", "The speed test server {A} is slow."]
    for i in range(16):
        address = ipv6() if i % 4 == 3 else ipv4()
        out.append(record(ip_templates[i % len(ip_templates)].replace("{A}", slot("IP_ADDRESS", address))))
    url_templates = ["See my screenshot at {U}", "Your page {U} gives a 404.", "I posted about it on {U} ."]
    for i in range(15):
        out.append(record(url_templates[i % len(url_templates)].replace("{U}", slot("URL", url()))))
    acct_templates = ["Question about the invoice for account {N}, what is the extra line?",
                      "customer ID: {N}", "My contract number is {N}.", "account no. {N} shows hidden fees",
                      "Policy #{N} was cancelled without notice."]
    for i in range(15):
        out.append(record(acct_templates[i % len(acct_templates)].replace("{N}", slot("ACCOUNT_NUMBER", account()))))
    return out


def mixed_records() -> list[dict]:
    """Several kinds of PII in one message, as real complaints mix them."""
    out = []
    for _ in range(12):
        name = full_name()
        text = (f"Hello, my name is {slot('PERSON', name)}. I was charged twice on card "
                f"{slot('CREDIT_CARD', card())}. Call {slot('PHONE', phone(RNG.choice(['GB', 'DE', 'US'])))} "
                f"or mail {slot('EMAIL', email_for(name))}. My advisor {slot('PERSON', RNG.choice(FIRST))} "
                f"knows the case.")
        out.append(record(text))
    return out


NEGATIVES = """The internet keeps dropping every evening and nobody fixes it. I am seriously thinking of leaving.
Your competitor offered me a much cheaper plan. Unless the price goes down I will cancel.
Very happy with the speed since the upgrade. Keep it up.
Love the new app, paying my bill is easy now.
Thanks for the quick fix on Monday!
Premium plan is too expensive for what I get. Will cancel in March.
I have been a customer since 2009 and this is the worst year so far.
Order {NUMBER:123456789} arrived two weeks late.
I paid 1,299.00 EUR on {DATE:12/03/2024} and still no refund.
Ticket #{NUMBER:45678} was opened on {DATE:2024-05-01} at 10:30 and closed without a fix.
The router firmware version 2.3.1 keeps rebooting.
Between 9 and 5 the speed drops to 3 Mbps, 10 times slower than promised.
My 4 kids and 2 dogs have used your service for 10 years.
Invoice {NUMBER:2023-11-0042} has an extra line of 4.99.
Great Customer Service Team, they sorted everything in 20 minutes.
Happy New Year and thanks for the Christmas discount!
The Samsung Galaxy I bought from you stopped charging.
I moved to Sydney last year and roaming is a nightmare.
Alexa no longer connects to the Wi-Fi since your update.
My IBAN changed, how do I update the direct debit?
Dear Sir or Madam, I am writing to complain about the billing.
The SIM card does not work in my new phone.
Good job on the new pricing, finally fair.
Mark my words, I will switch to another provider.
Will someone ever answer the phone?
May I ask why my bill went up by 15%?
Hope you fix this soon, grace period ends tomorrow.
The fibre box in the street has been open for weeks.
Black Friday deal was a scam, the price was the same as in October.
I love the unlimited plan, streaming Netflix in HD on the train.
The app crashes on Android 14 when I open Settings.
Download speed 250 Mbps, upload 20 Mbps, ping 12 ms, fine.
Your website says 99.9% uptime, my experience is different.
Call center wait times are over 45 minutes every single time.
Can you tell me when my contract ends?
Please send the documents by post, I do not use email.
The new TV package has fewer channels than the old one.
Not happy. Not happy at all.
Excellent support, friendly staff, I recommend you to everyone.
Billing error again! Why is there a roaming charge from Spain?
The engineer never showed up on Thursday morning.
I spoke to three different people and got three different answers.
Switching to paperless billing was easy.
Coverage in the countryside near the lake is terrible.
Is there a student discount for the Basic plan?
I want to upgrade to Fibre Max 500 but the website fails.
Apple Watch eSIM activation took 3 days.
Every morning at 7:45 the connection is gone for 5 minutes.
The modem lights are blinking orange, what does that mean?
Still waiting for the 50 pound credit you promised in September.
Best regards and thanks again for the help.
Kind regards from a long time customer.
The shop on Main Street was closed on Saturday.
Hello, is anyone reading these messages?
I called 3 times this week, nobody could help.
Router model TP-4200 keeps overheating.
Prices went up 8.5% in April, again!
Please cancel the add-on for international calls.
The Premium Sports package should include Formula 1.
Streaming on Disney Plus stutters every evening.
The new terms and conditions are impossible to read.
It took 2 hours and 15 minutes to reach a human.
Fast, cheap, reliable. Five stars.
One star. The worst provider in Europe.
Why does my bill show 3 lines when I only have 2 phones?
My order was marked as delivered but nothing arrived.
Network outage in the north region again, third time this month.
The loyalty discount of 10% disappeared after 12 months.
Good value for money, but the app needs work.
Customer since 2015, never had problems until now.
service.It was ok but the wait was long.
I use Google Maps a lot and the data runs out by the 20th.
Works fine in London, useless in the Highlands.
Please stop sending me marketing SMS every day.
The voucher code SAVE20 did not work at checkout.
Can I pause my contract while I travel to India for 3 months?
Roaming in France and Italy worked perfectly, well done.
The Wi-Fi extender is a waste of 59.99.
The last bill was 87.40, normally it is 45.00.
My PIN was reset without my request.
Your chat bot keeps asking the same 5 questions.
Internet down since 08:00, no status update on the site.
Upgrade went smoothly, the new phone arrived the next day.
Reception is weak in the kitchen, fine in the living room.
I would give zero stars if I could.
The Family plan is a great deal for us.
Unlimited data is not unlimited if you throttle it after 100 GB.
I was promised a call back within 24 hours, it has been 72.
How do I change my plan in the app?
Thank you!""".splitlines()


# Written after the recognizers were tuned on everything above and never tuned against:
# the "holdout" split estimates how the figures generalise beyond the generated templates.
HOLDOUT = [
    ("Hey, so your guy {PERSON:Marcus} came round Tuesday and left the cables everywhere. Not impressed.", None),
    ("I rang {PHONE:0161 496 0321} like five times!!! nobody picks up", None),
    ("Bonjour, je m'appelle {PERSON:Élodie Marchand}, mon numéro est le {PHONE:06 45 12 78 90}.", None),
    ("Please forward to {EMAIL:accounts-payable@northwind-traders.co.uk} asap", None),
    ("Hallo, ich bin {PERSON:Jürgen Weiß} und erreiche Sie unter {PHONE:+49 (0)89 12345678}.", None),
    ("you charged my mastercard {CREDIT_CARD:5425 2334 3010 9903} TWICE", None),
    ("Mi nombre es {PERSON:Alejandro Gutiérrez}, llámenme al {PHONE:+34 699 12 34 56}", None),
    ("The lady on the phone, {PERSON:Bernadette}, was a star.", None),
    ("My husband {PERSON:Tomasz} and I have 3 lines with you. Sort it out.", None),
    ("Transfer the refund to {IBAN:NL91ABNA0417164300} (account holder {PERSON:R. Vermeulen})", None),
    ("{PERSON:Ngozi Eze}\n{PHONE:+234 803 555 0199}\n{EMAIL:ngozi.eze@mailbox.example.ng}", None),
    ("Login attempts from {IP_ADDRESS:203.0.113.77} and {IP_ADDRESS:198.51.100.4}, I was asleep.", None),
    ("check {URL:https://status.example.net/incidents/4471} - says all fine, it's NOT", None),
    ("Spoke to {PERSON:Aoife} then {PERSON:Declan}, both said different things.", None),
    ("I'm writing on behalf of my grandmother, Mrs {PERSON:Kalinowska}.", None),
    ("Her card is {CREDIT_CARD:4916-3385-0608-2832}, she authorised me.", None),
    ("US number: {PHONE:(646) 555-0178}, UK: {PHONE:+44 7700 900461}", None),
    ("Thank you {PERSON:Hamza} for your patience yesterday!", None),
    ("My account {ACCOUNT_NUMBER:998877665} has been suspended for no reason.", None),
    ("Sehr geehrte Damen und Herren, bitte buchen Sie von {IBAN:DE44 5001 0517 5407 3249 31} ab.", None),
    ("kind regards\n{PERSON:Priyanka Chaudhary}\n{PHONE:+91 98450 12345}", None),
    ("Engineer {PERSON:Wojciech} was brilliant, please pass this on.", None),
    ("reach me on {PHONE:0412 555 019} (mobile) or {PHONE:(02) 5550 1234} (home)", None),
    ("It is {PERSON*:Grace Whitfield} here, I still have no signal.", {"name": "Grace Whitfield"}),
    ("{PERSON*:grace} again. any news?", {"name": "Grace Whitfield"}),
    ("Contact me: {EMAIL*:G.Whitfield@Example.COM} / {PHONE*:07911 555 123}",
     {"name": "Grace Whitfield", "email": "g.whitfield@example.com", "phone": "+447911555123"}),
    ("This is {PERSON*:DMITRY SOKOLOV}, contract {CUSTOMER_ID*:CUST-00912}.",
     {"name": "Dmitry Sokolov", "extra": ["cust-00912"]}),
    ("{PERSON*:sokolov} here, why no answer", {"name": "Dmitry Sokolov"}),
    ("Phone me at {PHONE*:+1 (415) 555 0132} - {PERSON*:Kai}", {"name": "Kai Nakamura", "phone": "415.555.0132"}),
    ("The manager Mr. {PERSON:Abernathy} refused to help me.", None),
    ("Shoutout to {PERSON:Chiamaka} in Lagos support!", None),
    ("My kids {PERSON:Lena} and {PERSON:Finn} use up all the data by the 10th.", None),
    ("Fax (yes really): {PHONE:+41 22 555 01 23}", None),
    ("Email {EMAIL:jean-baptiste.leclerc@laposte.example.fr} for the paperwork.", None),
    ("{PERSON:Siddharth} at the Pune call centre was great.", None),
    ("AMEX {CREDIT_CARD:3714 496353 98431} please charge this one", None),
    ("Telefon: {PHONE:030 9876543}, Ansprechpartner Herr {PERSON:Schulze}", None),
    ("we spoke with Ms. {PERSON:Okoro} yesterday about the bill", None),
    ("IBAN {IBAN:FR76 3000 6000 0112 3456 7890 189} for the refund please", None),
    ("Hi it's {PERSON:Bea} from flat 4, the router in the hallway is yours?", None),
    ("The October bill was wrong again. Fix it.", None),
    ("Why did Sky Sports disappear from my package?", None),
    ("Paris trip: roaming worked, thanks.", None),
    ("Customer for 12 years. Loyalty means nothing to you.", None),
    ("Order #{NUMBER:A-55123} never shipped, refund please.", None),
    ("The Tuesday appointment slot between 8am and 12pm is useless for workers.", None),
    ("Dropped calls on the M25 near Junction 10 every day.", None),
    ("Your Terms of Service section 4.2 says otherwise.", None),
    ("Victoria Station has no signal underground, obviously, but above ground too?", None),
    ("I gave 5 stars on Trustpilot last year, now 1.", None),
    ("Netflix and Prime Video buffer at 8pm every night.", None),
    ("My iPhone 15 Pro Max will not activate the eSIM.", None),
    ("Just switched from Vodafone, so far so good.", None),
    ("PLEASE CALL ME BACK, NOBODY HELPS", None),
    ("The installer left at 3:15pm without testing the line.", None),
    ("Hope and Faith Church hall has no coverage, we host events there.", None),
    ("Invoice {NUMBER:INV-2024-0077} is duplicated.", None),
    ("Reference {NUMBER:77-4410-2} on your letter makes no sense.", None),
    ("Rated speed 1 Gbps, measured 312 Mbps on 192 tests.", None),
    ("Smart Hub 2 keeps restarting since firmware 3.4.1.", None),
    # second batch, written and labelled before the recognizers ever ran on it
    ("hi its {PERSON:kasia} from the 3rd floor, wifi dead again", None),
    ("Write me at {EMAIL:anna at gmail dot com}, I don't trust your forms.", None),
    ("{PERSON:Rohan}'s phone was swapped without asking!", None),
    ("The rep ({PERSON:Tyrone}) said the outage was fixed. It wasn't.", None),
    ("Please call my wife {PERSON:Ingeborg} on {PHONE:+47 412 34 567}.", None),
    ("{PERSON:Björn Þórsson} has been waiting 3 weeks for the installer.", None),
    ("Pay the refund into {IBAN:GB33-BUKB-2020-1555-5555-55}.", None),
    ("Card: {CREDIT_CARD:4000.0566.5566.5556}", None),
    ("Server {IP_ADDRESS:10.0.0.138}:8080 unreachable from my home network", None),
    ("my brother {PERSON:Yaw Boateng} and I share the family plan", None),
    ("Invoice sent to {EMAIL:Finance.Team+Invoices@sub.example-company.de}", None),
    ("please contact Dr. {PERSON:Nakashima-Lee} re: the medical alarm line", None),
    ("Tel. {PHONE:+33 (0)4 72 10 30 30} / Fax {PHONE:+33 (0)4 72 10 30 31}", None),
    ("Visit {URL:www.example-support.co.za} for the same answer as always", None),
    ("ok so {PERSON:Meredith} told me one thing and {PERSON:Gustavo} another", None),
    ("My number changed to {PHONE:+61 4 1234 5678}, update it please", None),
    ("Cancel the line for my late father {PERSON:Harold Pemberton}.", None),
    ("The shop assistant {PERSON:Leilani} was lovely.", None),
    ("Directeur: M. {PERSON:Lefèvre}. Merci.", None),
    ("Sim swap requested by someone claiming to be me... I never did!", None),
    ("{PHONE:1-800-555-0199} is the number on your letter and it is dead", None),
    ("Greetings from Cork. The signal in Douglas village is awful.", None),
    ("Autumn promo was great value.", None),
    ("Warm regards, the {PERSON:Johnson} family", None),
    ("I'd rate the Unlimited Max plan 4/5.", None),
    ("Amazon Prime bundle keeps failing to activate.", None),
    ("Monday, Tuesday, Wednesday: no internet. Thursday it worked.", None),
    ("Our office at {ADDRESS:42 Baker Street} has had no line since June.", None),
    ("Your advisor said to restart the router. Genius.", None),
    ("We are a small business of 12 people in Leeds.", None),
]


def holdout_records() -> list[dict]:
    out = []
    for template, known in HOLDOUT:
        rec = record(template, known)
        rec["split"] = "holdout"
        out.append(rec)
    return out


def negative_records() -> list[dict]:
    # A few lines carry dates or long numbers, which are masked for minimisation: labelled so.
    return [record(line) for line in NEGATIVES if line.strip()]


# Hand-written items for leaks an outside tester found: dates with words for numbers, flat
# numbers on their own, and ids whose announcing word must stay whole. No random values, so
# adding them changes no other record.
FIXED = (
    ("né le {DATE:onze février mille neuf cent soixante-trois}, client depuis vingt ans", "dob"),
    ("Date of birth: the {DATE:twenty-fifth of December nineteen eighty-six}.", "dob"),
    ("Geboren am {DATE:dritten März 1971}, seitdem Kunde.", "dob"),
    ("Nací el {DATE:veinticinco de diciembre de mil novecientos ochenta y seis}.", "dob"),
    ("Sono nato il {DATE:primo maggio millenovecentosessantatré}.", "dob"),
    ("Geboren op {DATE:vijfentwintig december negentienhonderdzesentachtig}.", "dob"),
    ("Le colis est parti à l'{ADDRESS:appartement 4B} au lieu du 4C.", "address"),
    ("Die {ADDRESS:Wohnung 12} hat seit Tagen kein Internet.", "address"),
    ("The router in {ADDRESS:flat 3} keeps dropping.", "address"),
    ("Please deliver to {ADDRESS:apt. 5C} next time.", "address"),
    ("El técnico fue al {ADDRESS:piso 2º} equivocado.", "address"),
    ("Il tecnico è andato all'{ADDRESS:appartamento 7} sbagliato.", "address"),
    ("Meine Steuer-ID ist {NATIONAL_ID:12 345 678 901}, bitte löschen.", "national_id"),
    ("Mi DNI es {NATIONAL_ID:12345678Z} y mi nombre no importa.", "national_id"),
)


def fixed_records() -> list[dict]:
    out = []
    for template, tag in FIXED:
        rec = record(template)
        rec["split"], rec["tags"] = "dev", [tag]
        out.append(rec)
    return out


def main() -> None:
    records = (own_identifier_records() + third_party_person_records() + structured_records()
               + mixed_records() + negative_records())
    for rec in records:
        rec["split"] = "dev"
    records += holdout_records()
    records += pii_corpus_more.records(record)
    records += fixed_records()
    with OUT.open("w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    n_spans = sum(len(r["spans"]) for r in records)
    print(f"{len(records)} records, {n_spans} spans -> {OUT}")


if __name__ == "__main__":
    main()
