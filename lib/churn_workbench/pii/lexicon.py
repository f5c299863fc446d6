"""Word lists behind the person-name recognizer, loaded once from the package data.

Files (see tests/data/make_name_lists.py for provenance and licences):
person_names.txt (given names and surnames), common_words.txt (English words), and
ambiguous_names.txt (names that are also words, places or brands: "Will", "Sydney", "Alexa").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from churn_workbench.pii.lazy import build_once

# A word: letters, optionally joined by an apostrophe or hyphen to a further 2+ letters, so
# "O'Brien" and "Jean-Luc" are one word but "Anna's" is "Anna" + "s".
WORD_RE = re.compile(r"[^\W\d_]+(?:['’\-][^\W\d_]{2,})*")

# Lower-case connectors inside a full name ("Maria van der Berg", "Ana de la Cruz").
PARTICLES = frozenset(
    "van von der den de del della dei di da do dos das du la le ter ten bin binti ibn al el af zu".split()
)

# Titles that announce a name ("Mr Smith", "Frau Müller").
HONORIFICS = frozenset(
    """mr mrs ms miss mx mister missus dr prof professor sir dame madam madame mme mlle
    monsieur herr frau sr sra srta senor senora señor señora sig signor signora sgra dott
    dhr mevr mevrouw meneer pan pani sri shri smt rev""".split()
)

# Capitalised words that are never a name on their own, even if a name list holds them:
# function words, greetings, calendar words. They may still announce a name ("Thanks Anna").
# Sentence-initial articles of French, Spanish, Italian, German and Dutch ("Le", "El", "De")
# are here too; those that are also common surnames or given names ("Ma", "Son", "Du", "Al",
# "Mia", "Su", "Des") are deliberately left out.
STOPWORDS = frozenset(
    """a an the and or but if so no not yes ok okay i me my mine we us our you your yours he
    him his she her hers it its they them their this that these those there here what which
    who whom whose when where why how all any some each every both either neither none one
    two three is am are was were be been being do does did done have has had will would
    shall should can could may might must to of in on at by for from with without about
    into onto over under after before since until as than then too very just also only
    hi hello hey dear thanks thank please sorry regards cheers best kind sincerely welcome
    grüße grüsse gruß gruss grüßen grüssen grusse grussen liebe lieben viele herzliche herzlichen freundliche freundlichen mfg lg vg
    salutations cordialement amitiés amities bises saludos atentamente abrazos saluti cordiali distinti
    groeten groetjes vriendelijke hartelijke cumprimentos abraços abracos
    good great bad nice fine well poor excellent terrible awful happy sad
    monday tuesday wednesday thursday friday saturday sunday today tomorrow yesterday
    january february march april june july august september october november december
    christmas easter xmas new god lord jesus allah
    mon tue tues wed thu thur thurs fri sat sun jan feb mar apr jun jul aug sep sept oct nov dec
    customer customers service support team manager agent advisor adviser staff account
    bill billing invoice payment plan contract price refund router internet broadband
    mobile phone app online shop store office company bank card email website
    im ive id ill youre theyre thats whats theres lets dont didnt doesnt cant wont isnt
    wasnt arent werent havent hasnt hadnt couldnt wouldnt shouldnt
    ich du er sie es wir ihr mich mir dich dir uns euch mein meine sein seine und oder aber
    nicht kein keine bitte danke hallo herren damen sehr gut mit für ist sind war hat haben
    je tu il elle nous vous ils elles moi toi et ou mais pas merci bonjour salut très bien
    yo tú él ella usted nosotros ellos ellas gracias hola muy bien pero con por para
    io lui lei noi voi loro grazie ciao molto bene con per
    ik jij hij zij wij jullie het een niet geen bedankt dank hoi heel goed met voor
    eu ele ela nós vocês obrigado obrigada olá muito bem com
    le la les un une au aux ce cet cette ces mon mes ton ta sa nos vos leur leurs
    el los las lo del una unos unas mi mis sus este esta
    il gli uno dei degli delle della dello nel nella questo questa mio suo sua prima dopo
    der die das den dem des ein eine einen dieser diese dieses
    de het een deze dit die mijn zijn haar ons onze""".split()
)

# Words that make the capitalised words before them a place or building ("Baker Street").
PLACE_WORDS = frozenset(
    """street st road rd avenue ave lane ln drive dr boulevard blvd way square sq place park
    gardens crescent close court terrace hill village town city county station airport
    hospital school university college academy church chapel cathedral hall centre center
    mall bridge tower house stadium arena library museum theatre theater hotel market
    strasse straße weg platz laan straat rue avenida calle via piazza""".split()
)

BUILDING_WORDS = frozenset(
    """street road avenue square church chapel cathedral station airport hospital school
    university college academy centre center mall stadium arena library museum theatre
    theater hotel""".split()
)

# Tokens that give a following capitalised word away as a name (with how sure we are).
STRONG_CONTEXT = frozenset({"signed"}) | HONORIFICS
# "an agent called Tobi": a name follows unless the verb's subject is a pronoun ("I called Sky").
NAMING_VERBS = frozenset({"named", "called", "nicknamed", "nommé", "nommée", "llamado", "llamada", "genannt"})
ROLE_CONTEXT = frozenset(
    """advisor adviser agent rep representative consultant manager supervisor technician tech
    engineer operator colleague assistant clerk employee staff salesperson salesman saleswoman
    seller driver courier installer specialist lady guy gentleman man woman girl boy person
    wife husband son daughter mother mom mum mommy mummy father dad daddy brother sister
    partner friend neighbour neighbor boss uncle aunt auntie cousin grandson granddaughter
    grandmother grandfather grandma grandpa granny nephew niece child kid boyfriend girlfriend
    fiance fiancee fiancé fiancée flatmate roommate landlord landlady tenant spouse
    hi hello hey dear thanks thank thx cheers regards sincerely cc attn attention ask
    contact contacted""".split()
)
# Role and relation nouns: a lower-case unknown word right after one is a name too
# ("my son arash"), which greetings and verbs in ROLE_CONTEXT do not justify.
RELATION_NOUNS = ROLE_CONTEXT - frozenset(
    """hi hello hey dear thanks thank thx cheers regards sincerely cc attn attention ask contact
    contacted""".split()
)
# "spoke to X", "helped by X": the preposition only counts after one of these verbs.
VERBS_BEFORE_PREPOSITION = frozenset(
    """spoke speak speaking talked talk talking chatted chat dealt deal dealing helped served
    assisted contacted called visited emailed phoned transferred passed sent connected
    referred escalated""".split()
)
PREPOSITIONS = frozenset({"to", "with", "by"})


@dataclass(frozen=True)
class Lexicon:
    """Folded (casefolded, accent-stripped) word sets, plus the names merely casefolded."""

    first: frozenset[str]
    last: frozenset[str]
    ambiguous: frozenset[str]
    common: frozenset[str]
    exact_names: frozenset[str]  # "bašić": lets "Basic" stay a word, not the folded "Bašić"


def fold(word: str) -> str:
    """Casefold and strip accents: "José" -> "jose", "ÖZTÜRK" -> "ozturk"."""
    return _fold_cached(word)


@lru_cache(maxsize=1 << 18)
def _fold_cached(word: str) -> str:
    low = word.casefold()
    if low.isascii():
        return low
    decomposed = unicodedata.normalize("NFKD", low)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _data_lines(name: str) -> list[str]:
    """Non-comment, non-empty lines of a package data file."""
    text = resources.files("churn_workbench").joinpath("data", name).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line and not line.startswith("#")]


@build_once
def load_lexicon() -> Lexicon:
    """Load and fold the shipped word lists (about 0.1 s, once per process)."""
    first: set[str] = set()
    last: set[str] = set()
    exact: set[str] = set()
    for line in _data_lines("person_names.txt"):
        name, _, kinds = line.partition("\t")
        key = fold(name)
        exact.add(name.casefold())
        if "first" in kinds:
            first.add(key)
        if "last" in kinds:
            last.add(key)
    ambiguous = {fold(w) for w in _data_lines("ambiguous_names.txt")}
    common = {fold(w) for w in _data_lines("common_words.txt")}
    return Lexicon(
        frozenset(first), frozenset(last), frozenset(ambiguous), frozenset(common), frozenset(exact)
    )
