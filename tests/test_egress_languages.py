"""A text mainly in a language the allow rule cannot vet stays home (egress/languages.py).

The rule knows a word is safe only by a frequency list of the word's language. Proves:
- PII-free texts in languages without a list (Swahili, Yoruba, Basque, Welsh, Kazakh, Marathi,
  Serbian in Cyrillic, Hmong; Georgian, Amharic, Armenian, Khmer) are kept home, the reason
  naming the language or script;
- English feedback (short, with names, with a few foreign words) and texts in listed languages
  go, still masked token by token where needed;
- the share is measured by words, and a text exactly at the threshold goes;
- padding an unvetted text with English to pass the threshold buys nothing but the usual
  masking: the per-text decision never lets out a token the per-token rule denies;
- the run summary counts texts kept home for their language apart from the PII gate's;
- end to end (slow): through `run_pipeline.py --llm openai` and the real openai SDK, a kept-home
  text is in no recorded request, is analysed offline and audited with its language.
"""
from __future__ import annotations

import json

import duckdb
import pytest

from churn_workbench.cli import _llm_lines
from churn_workbench.egress import allow
from churn_workbench.egress.languages import unvetted_language, vetting
from churn_workbench.run_report import LLMHealth
from messy_files import write_rows

UNVETTED = {  # PII-free feedback in languages without a frequency list -> the identifier's code
    "sw": "Huduma yenu ni mbaya sana, mtandao unakatika kila siku na sijapata msaada wowote kutoka kwa wafanyakazi wenu.",
    "yo": "Iṣẹ́ yín kò dára rárá, ẹ̀rọ ayélujára máa ń já lójoojúmọ́, mi ò sì rí ìrànlọ́wọ́ kankan gbà.",
    "eu": "Zuen zerbitzua oso txarra da, internet egunero mozten da eta ez dut inolako laguntzarik jaso.",
    "cy": "Mae eich gwasanaeth yn ofnadwy, mae'r rhyngrwyd yn torri bob dydd ac nid wyf wedi cael unrhyw help.",
    "kk": "Сіздің қызметіңіз өте нашар, интернет күн сайын өшіп қалады.",
    "mr": "तुमची सेवा खूप वाईट आहे, इंटरनेट रोज बंद पडते.",
    "sr": "Чакав сам сат времена на телефону и онда је позив прекинут.",  # Serbian in Cyrillic: no list there
    # a language the identifier does not know (Hmong): nobody is confident and no list knows the words
    "unidentified (LATIN)": "Kuv xav tau kev pab vim kuv lub xov tooj tsis ua haujlwm li.",
    "script GEORGIAN": "თქვენი მომსახურება ძალიან ცუდია, ინტერნეტი ყოველდღე ითიშება.",
    "script ETHIOPIC": "አገልግሎታችሁ በጣም መጥፎ ነው፣ ኢንተርኔቱ በየቀኑ ይቋረጣል።",
    "script ARMENIAN": "Ձեր ծառայությունը շատ վատն է, ինտերնետը ամեն օր անջատվում է։",
    "script KHMER": "សេវាកម្មរបស់អ្នកអាក្រក់ណាស់ អ៊ីនធឺណិតដាច់រាល់ថ្ងៃ",
}
VETTED = [
    "Great service!", "Slow internet", "Billing was wrong again, cancel", "Sven fixed my router, thanks",
    "Mbeki Okonkwo Adebayo called about the invoice",
    "Das Internet ist ständig weg.", "Le service client ne répond jamais, je veux résilier.",
    "Þjónustan ykkar er mjög slæm, netið dettur út á hverjum degi og ég hef enga hjálp fengið.",
    "Ваш сервис очень плохой, интернет отключается каждый день.",
    "आपकी सेवा बहुत खराब है, इंटरनेट हर दिन बंद हो जाता है।",
    "你们的服务太差了，网络每天都断。", "サービスが悪いです。毎日ネットが切れます。",
    "บริการแย่มาก อินเทอร์เน็ตหลุดทุกวัน", "Hizmetiniz çok kötü, internet her gün kesiliyor.",
    # Serbo-Croatian in Latin script, which the identifier spreads over sr, hr and bs: one listed language
    "Čekao sam sat vremena na telefonu i onda je poziv prekinut.",
    # a short German sentence the identifier takes for Frisian: its words are common German ones
    "Karte 49 65 57 27 17 02 14 66 wurde doppelt belastet.",
]


@pytest.mark.parametrize("language", sorted(UNVETTED))
def test_a_text_in_a_language_without_a_list_stays_home_with_the_reason(language):
    v = vetting(UNVETTED[language])
    assert v.kept_home(0.5)
    assert v.share == 0.0
    assert v.unvetted == language
    assert unvetted_language(UNVETTED[language], 0.5) == language


@pytest.mark.parametrize("text", VETTED)
def test_english_and_listed_languages_go(text):
    v = vetting(text)
    assert not v.kept_home(0.5), v
    assert v.share == 1.0
    assert unvetted_language(text, 0.5) is None


def test_an_english_text_with_a_few_foreign_words_goes_masked_where_needed():
    text = ("The router keeps dropping every evening and support never calls back, "
            "my neighbour says wafanyakazi wenu hawajali.")
    v = vetting(text)
    assert not v.kept_home(0.5)
    masked, _ = allow.mask(text)
    assert "wafanyakazi" not in masked and "hawajali" not in masked
    assert "router" in masked
    assert allow.denied(masked) == []


def test_a_text_too_short_to_identify_is_left_to_the_token_rule():
    assert not vetting("Asante sana").kept_home(0.5)
    masked, _ = allow.mask("Asante sana Juma")
    assert allow.denied(masked) == []


def test_the_share_is_by_words_and_a_text_at_the_threshold_goes():
    text = "The router is slow. თქვენი მომსახურება ძალიან ცუდია."  # 4 vetted words, 4 Georgian ones
    v = vetting(text)
    assert v.share == 0.5 and v.words == 8
    assert not v.kept_home(0.5)
    assert v.kept_home(0.51)
    assert v.unvetted == "script GEORGIAN"
    mostly = "The router is slow. თქვენი მომსახურება ძალიან ცუდია, ინტერნეტი ყოველდღე ითიშება."
    assert vetting(mostly).kept_home(0.5)


def test_sentences_are_judged_apart():
    english = "The router keeps dropping the connection every evening and nobody ever calls me back."
    swahili = "Huduma yenu ni mbaya sana na sijapata msaada."
    one_each = vetting(f"{english} {swahili}")
    assert 0.5 < one_each.share < 1.0 and one_each.unvetted == "sw"
    assert vetting(f"{swahili} {swahili} {english}").kept_home(0.5)


def test_padding_with_english_passes_the_threshold_but_not_the_token_rule():
    swahili = UNVETTED["sw"]
    padding = "The service is bad and the internet is down every day and I want to cancel my contract now."
    padded = f"{padding} {padding} {swahili}"
    assert not vetting(padded).kept_home(0.5)  # the attacker's aim: the text goes ...
    masked, _ = allow.mask(padded)
    # ... but every token of the Swahili part the rule cannot vouch for is still masked
    assert allow.denied(masked) == []
    for word in ("wafanyakazi", "unakatika", "sijapata", "msaada"):
        assert word not in masked


def test_the_per_text_decision_never_unmasks_a_token():
    for text in [*UNVETTED.values(), *VETTED]:
        masked, _ = allow.mask(text)
        assert allow.denied(masked) == [], text


def test_the_run_summary_counts_language_apart_from_the_pii_gate():
    health = LLMHealth(stage="feedback", provider="openai", requests=3, items=10, model_items=6, blocked=3,
                       unvetted=2, unvetted_languages="script GEORGIAN, sw")
    line, = _llm_lines("openai", [health])
    assert "; 1 kept home by the PII gate" in line
    assert "; 2 kept home and analysed offline (language not vetted: script GEORGIAN, sw)" in line
    assert "analysed offline (no external_llm consent)" in line  # 10 - 6 - 3 = 1
    only_language = LLMHealth(stage="feedback", provider="openai", items=4, model_items=2, blocked=2, unvetted=2,
                              unvetted_languages="sw")
    line, = _llm_lines("openai", [only_language])
    assert "PII gate" not in line and "no external_llm consent" not in line


# ---------------------------------------------------------------------------- end to end


PLAIN = ["The router keeps dropping the connection every evening, please fix it.",
         "Great support today, thanks for the quick help with my bill.",
         "Too expensive for what I get, I will cancel next month."]
HOME = {"F000": ("sw", "mtandao"), "F001": ("script GEORGIAN", "მომსახურება"), "F002": ("script ETHIOPIC", "አገልግሎታችሁ"),
        "F003": ("eu", "zerbitzua")}
HOME_TEXTS = {"F000": UNVETTED["sw"], "F001": UNVETTED["script GEORGIAN"], "F002": UNVETTED["script ETHIOPIC"],
              "F003": UNVETTED["eu"]}


@pytest.mark.slow
def test_a_kept_home_text_is_in_no_request(tmp_path):
    from conftest import Workspace
    from fake_llm_server import FakeLLMServer
    from workspaces import run_pipeline

    ws = Workspace(tmp_path, tmp_path / "data", tmp_path / "data" / "workbench.duckdb", tmp_path / "audit")
    ws.data_dir.mkdir(parents=True)
    customers = [dict(customer_id=f"C{i:03d}", name=f"Person{i} Example", email=f"p{i}@example.com",
                      phone=f"+44 7700 9{i:05d}", tenure_months=i % 50 + 1, monthly_charges=20 + i % 70,
                      churned="" if i < 20 else str(i % 2)) for i in range(60)]
    consent = [dict(customer_id=c["customer_id"], purpose=p, granted="true", recorded_at="2024-01-01T00:00:00",
                    source="form") for c in customers for p in ("profiling", "external_llm", "marketing")]
    texts = list(HOME_TEXTS.values()) + PLAIN * 4
    feedback = [dict(customer_id=f"C{k:03d}", text=t, feedback_id=f"F{k:03d}") for k, t in enumerate(texts)]
    args = ["--customers", str(write_rows(tmp_path / "customers.csv", customers)),
            "--feedback", str(write_rows(tmp_path / "feedback.csv", feedback)),
            "--consent", str(write_rows(tmp_path / "consent.csv", consent))]
    with FakeLLMServer(seed=5) as server:
        result = run_pipeline(ws, *args, "--llm", "openai", "--stages", "ingest,feedback",
                              env=dict(server.env(), WORKBENCH_LLM_RPM=100000, WORKBENCH_LLM_TPM=10000000))
        requests = list(server.chat_requests())
    assert result.returncode == 0, result.stdout + result.stderr
    assert any("feedback" in r.json["messages"][0]["content"] for r in requests), "nothing was sent at all"
    sent = "\n".join(r.body for r in requests)
    decoded = "\n".join(json.dumps(r.json, ensure_ascii=False) for r in requests)
    for _, word in HOME.values():
        assert word not in sent and word not in decoded, word
    assert "router" in decoded  # the English texts did go

    con = duckdb.connect(str(ws.db_path), read_only=True)
    try:
        status = dict(con.execute("SELECT feedback_id, status FROM feedback_analysis").fetchall())
        provider = dict(con.execute("SELECT feedback_id, provider FROM feedback_analysis").fetchall())
        events = [json.loads(d) for (d,) in con.execute(
            "SELECT details FROM audit_log WHERE event_type = 'egress_blocked' ORDER BY seq").fetchall()]
        egress = "\n".join(p for (p,) in con.execute("SELECT payload FROM llm_egress").fetchall())
    finally:
        con.close()
    for fid, (language, word) in HOME.items():
        assert status[fid] == "blocked" and provider[fid] == "local", fid
        assert word not in egress
    assert {status[f"F{k:03d}"] for k in range(4, len(texts))} == {"ok"}
    reasons = {e["reason"]: e["n_items"] for e in events if e.get("scope") == "text"}
    assert reasons == {f"language not vetted: {lang}": 1 for lang, _ in HOME.values()}
    assert "4 kept home and analysed offline (language not vetted: eu, script ETHIOPIC, script GEORGIAN, sw)" \
        in result.stdout, result.stdout
