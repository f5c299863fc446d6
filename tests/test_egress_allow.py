"""The egress allow rule (churn_workbench.egress): what is not known to be safe does not leave.

Unit tests of the rule itself, its tokenisation in every script, harmless vs dangerous numbers,
special categories, the request gate's independence from the PII finder, and the check of what
a model writes. (A whole pipeline against a recording server: tests/test_egress_pipeline.py.)
"""
from __future__ import annotations

import json

import pytest

from churn_workbench import anonymize as anonymize_mod
from churn_workbench.anonymize import anonymize
from churn_workbench.egress import allow, gate, output
from churn_workbench.egress.canonical import canonical
from churn_workbench.egress.tokens import tokens


def masked(text: str) -> str:
    return allow.mask(text)[0]


def labels(text: str) -> set[str]:
    return {d.label for d in allow.denied(text)}


@pytest.fixture(autouse=True)
def default_rules():
    allow.configure(allow.Rules())
    yield
    allow.configure(None)


# ------------------------------------------------------------------ words

@pytest.mark.parametrize("text", [
    "The price is too high and the app keeps crashing, I will cancel next month.",
    "Le réseau est nul depuis trois semaines, je veux résilier.",
    "Das Internet ist seit Tagen langsam und der Kundenservice hilft nicht.",
    "La cobertura es mala y la factura subió otra vez.",
    "Offerta da 9,99 € al mese ottima, ma la copertura 5G è scarsa.",
    "Premium plan renews in March; the router disconnects every evening.",
])
def test_everyday_text_in_several_languages_leaves_unchanged(text):
    assert masked(text) == canonical(text)


@pytest.mark.parametrize(("text", "rare"), [
    ("Mr Okonkwo said the router was fine.", "Okonkwo"),
    ("customer says agent priyanka raghunathan hung up twice", "raghunathan"),
    ("Sven from support was great", "Sven"),            # a listed name, not common enough to be a word
    ("Customer mentions Przybylski about the router.", "Przybylski"),
])
def test_rare_words_and_rare_names_do_not_leave(text, rare):
    out = masked(text)
    assert rare not in out and "<" in out


def test_common_word_that_is_also_a_name_stays_a_word():
    assert masked("Grace period ended and Will the bill be lower?") == "Grace period ended and Will the bill be lower?"


def test_product_vocabulary_and_owner_words_pass():
    assert masked("My eSIM and the hotspot fail") == "My eSIM and the hotspot fail"
    assert "Fritzbox" not in masked("The Fritzbox reboots")
    from churn_workbench.egress import vocabulary

    vocabulary.set_owner_words(["Fritzbox"])
    try:
        assert masked("The Fritzbox reboots") == "The Fritzbox reboots"
    finally:
        vocabulary.set_owner_words([])


# ------------------------------------------------------------------ scripts

@pytest.mark.parametrize(("text", "name"), [
    ("私は田中太郎です。請求書が間違っています。", "田中"),
    ("제 이름은 김민수입니다. 인터넷이 너무 느려요", "김민수"),
    ("王秀英的账单错了", "王秀英"),
    ("สวัสดีครับ ผมชื่อสมชาย อินเทอร์เน็ตช้ามาก", "สมชาย"),
])
def test_names_inside_text_without_blanks_are_masked(text, name):
    out = masked(text)
    assert name not in out and "<" in out


@pytest.mark.parametrize("text", [
    "请求书错了，网络信号很差，我要取消合同",
    "インターネットがとても遅いです",
    "인터넷이 너무 느려요",
    "อินเทอร์เน็ตช้ามาก",
    "האינטרנט איטי מאוד והחשבון יקר",
    "الإنترنت بطيء جدا والفاتورة مرتفعة",
    "इंटरनेट बहुत धीमा है और बिल ज़्यादा है",
    "Интернет очень медленный, счёт слишком большой",
])
def test_everyday_text_in_other_scripts_is_tokenised_and_kept(text):
    assert masked(text) == canonical(text)


def test_tokenisation_splits_chinese_and_thai_into_words():
    words = [t.text for _, t in tokens("网络信号很差") if t.kind == "word"]
    assert len(words) >= 3 and "".join(words) == "网络信号很差"
    thai = [t.text for _, t in tokens("อินเทอร์เน็ตช้ามาก") if t.kind == "word"]
    assert thai == ["อินเทอร์เน็ต", "ช้า", "มาก"]


def test_a_script_without_a_word_list_is_never_known_safe():
    assert labels("ဝန်ထမ်း ကျော်ဇင်ထွန်း") == {"WORD"}  # Burmese: nothing in it is known


# ------------------------------------------------------------------ numbers

@pytest.mark.parametrize("text", [
    "I pay £49.99 a month, 20% more than in 2019.",
    "Signal drops at 10:30pm, 5G is bad, 3 times a week for 2 hours.",
    "The 1,299.00 EUR handset and 100Mbps fibre, 24/7 support, 3rd call.",
])
def test_harmless_numbers_leave(text):
    assert masked(text) == text


@pytest.mark.parametrize(("text", "secret"), [
    ("my VIN is 1HGCM82633A004352", "1HGCM82633A004352"),
    ("plate AB12 CDE please", "AB12"),
    ("wallet bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh", "bc1q"),
    ("one-time code 482915", "482915"),
    ("PIN 4821", "4821"),
    ("call 0791 123 456", "123 456"),
    ("SIN 046 454 286", "454"),
    ("GPS 51.5074, -0.1278", "5074"),
    ("MAC 00:1A:2B:3C:4D:5E", "2B"),
    ("my PAN is ABCDE1234F", "ABCDE1234F"),
    ("it is four eight two one five", "eight two"),
    ("zéro un quatre deux dix", "un quatre"),
    ("password Tr0ub4dor&3", "Tr0ub4dor"),
])
def test_identifying_numbers_and_codes_do_not_leave(text, secret):
    assert secret not in masked(text)


def test_a_run_of_three_small_numbers_is_a_number_read_out():
    assert "<NUMBER_1>" in masked("my pin is 4 8 2")
    assert masked("between 2 and 3 days") == "between 2 and 3 days"


# ------------------------------------------------------------------ shapes of identifiers

@pytest.mark.parametrize(("text", "label"), [
    ("write to anna@example.com", "EMAIL"),
    ("reversed: moc.liamg@nhoj", "EMAIL"),
    ("see hxxps://evil[.]example[.]com now", "URL"),
    ("visit evil.example.com", "URL"),
    ("user john_smith on the forum", "ID"),
    ("&#106;ohn&#64;example&#46;com", "EMAIL"),
])
def test_identifier_shapes_are_codes(text, label):
    assert label in labels(text)


def test_canonical_form_is_idempotent_and_strips_disguises():
    raw = "A\u200bnna &amp; Co \uff14\uff12 \u0663"
    once = canonical(raw)
    assert canonical(once) == once
    assert "\u200b" not in once and "& Co" in once and "42 3" in once


# ------------------------------------------------------------------ special categories

@pytest.mark.parametrize(("text", "label"), [
    ("I am on dialysis and HIV positive", "HEALTH"),
    ("Ich bin Dialysepatient", "HEALTH"),
    ("je suis séropositif", "HEALTH"),
    ("我有艾滋病", "HEALTH"),
    ("as a Muslim I pray at the mosque", "RELIGION"),
    ("my husband and I are gay", "SEXUAL_ORIENTATION"),
    ("I have a criminal record", "CRIMINAL"),
    ("I am a union rep at work", "TRADE_UNION"),
    ("the fingerprint login fails", "BIOMETRIC"),
    ("I voted for the Greens", "POLITICAL_OPINION"),
    ("as a refugee I cannot get a contract", "ETHNICITY"),
])
def test_special_categories_are_typed_placeholders(text, label):
    out = masked(text)
    assert f"<{label}_1>" in out


def test_a_special_category_leaves_only_when_the_setting_allows_it():
    allow.configure(allow.Rules(special_allowed=frozenset({"health"})))
    assert "dialysis" in masked("I am on dialysis")
    assert "<RELIGION_1>" in masked("I pray every day")


def test_unknown_special_category_setting_is_a_usage_error():
    from churn_workbench.errors import UsageError

    with pytest.raises(UsageError, match="unknown category"):
        allow.parse_categories("health, hobbies")


# ------------------------------------------------------------------ the anonymizer's last pass

def test_anonymizer_output_always_passes_the_gate():
    texts = ["Hi, I'm Xiomara Przybylski, VIN 1HGCM82633A004352, I'm on dialysis.",
             "Mi DNI es 12345678Z y vivo en Calle Mayor 12", "王秀英的账单错了，电话 13812345678",
             "Ring me on +44 7700 900123 or at jane.doe@example.com re ticket #A-99812."]
    for text in texts:
        out = anonymize(text).text
        assert gate.denials(json.dumps([{"ref": "r1", "text": out}], ensure_ascii=False), {"r1"}) == [], out


def test_allow_rule_masks_what_the_detectors_miss(monkeypatch):
    """With every detector switched off, the allow rule alone still keeps a VIN, a rare name
    and a wallet at home."""
    from churn_workbench.pii import engine

    monkeypatch.setattr(engine, "detect", lambda view, known_spans=(): [])
    out = anonymize("Xiomara Przybylski, VIN 1HGCM82633A004352, wallet bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh").text
    assert "Przybylski" not in out and "1HGCM" not in out and "bc1q" not in out


# ------------------------------------------------------------------ the request gate

SKELETON = {"model": "m-1", "messages": [{"role": "system", "content": "You analyse feedback. Return JSON."},
                                        {"role": "user", "content": "[]"}], "max_tokens": 1537}


def _body(*texts: str) -> str:
    items = [{"ref": f"r{i + 1}", "text": t} for i, t in enumerate(texts)]
    body = json.loads(json.dumps(SKELETON))
    body["messages"][1]["content"] = json.dumps(items, ensure_ascii=False)
    return json.dumps(body)


def test_gate_is_independent_of_the_pii_finder(monkeypatch):
    """The gate never calls the finder: with find_pii and the detectors made to explode, it
    still refuses a raw VIN, a rare name and a wallet, and passes a clean payload."""
    from churn_workbench.pii import engine

    def explode(*args, **kwargs):
        raise AssertionError("the gate called the PII finder")

    monkeypatch.setattr(engine, "detect", explode)
    monkeypatch.setattr(anonymize_mod, "find_pii", explode)
    trusted = gate.trusted_strings(SKELETON, ["r1", "r2"])
    assert gate.denials(_body("The router is slow", "Billing is wrong again"), trusted) == []
    for secret, label in [("VIN 1HGCM82633A004352", "ID"), ("ask Xiomara Przybylski", "WORD"),
                          ("bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh", "ID")]:
        assert [r.entity_type for r in gate.denials(_body("fine", secret), trusted)] == [label]


def test_gate_reads_numbers_inside_the_items_but_not_the_request_settings():
    trusted = gate.trusted_strings(SKELETON, ["r1"])
    assert gate.denials(_body("fine"), trusted) == []  # max_tokens 1537 is the request's own
    items = json.dumps([{"ref": "r1", "text": "fine", "n": 4111111111111111}])
    body = json.dumps({"messages": [{"role": "user", "content": items}]})
    assert [r.entity_type for r in gate.denials(body, trusted)] == ["NUMBER"]


def test_untrusted_strings_outside_the_user_message_are_judged_too():
    body = json.dumps({"model": "m-1", "messages": [{"role": "system", "content": "call 0791 123 456"}]})
    assert gate.denials(body, gate.trusted_strings("m-1")) != []


# ------------------------------------------------------------------ what the model writes

@pytest.mark.parametrize("summary", [
    "Customer wants the refund form at hxxps://refund-claim[.]example[.]com/verify resent.",
    "Customer reference aHR0cHM6Ly9ldmlsLmV4YW1wbGUuY29tL2NsYWlt noted for the refund.",
    "customer says agent priyanka raghunathan hung up twice.",
    "Customer wants a call on zero one seven six two three four five six seven eight nine.",
    "J3nn1f3r Wh1t3h34d wants to cancel the contract.",
    "Customer is on dialysis and wants a cheaper plan.",
])
def test_model_output_with_unknown_tokens_is_refused(summary):
    assert "not_allowed" in output.violations(summary, "The router is slow")


def test_placeholders_in_output_must_come_from_its_own_input():
    assert output.violations("<PERSON_1> complains about billing.", "<PERSON_1> says the bill is wrong") == []
    assert output.violations("<PERSON_2> complains about billing.", "<PERSON_1> says the bill is wrong") == [
        "foreign_placeholder"]


def test_copies_of_another_items_words_are_found_across_the_whole_stage():
    index = output.CopyIndex({"a": "The router keeps dropping the connection every evening around nine",
                              "b": "My bill doubled this month without any warning"})
    assert index.copies_other("Customer wrote: the router keeps dropping the connection every evening", "b")
    assert not index.copies_other("Customer wrote: the router keeps dropping the connection every evening", "a")
    assert not index.copies_other("Customer reports an unexpected price rise.", "b")


def test_the_data_owner_extends_the_allow_list_in_the_data_config(tmp_path):
    from churn_workbench.errors import InputError
    from churn_workbench.inputs.dataconfig import load_data_config

    good = tmp_path / "good.toml"
    good.write_text('allow_words = ["Fritzbox", "Speedport"]\n', encoding="utf-8")
    assert load_data_config(good).allow_words == ("Fritzbox", "Speedport")
    bad = tmp_path / "bad.toml"
    bad.write_text("allow_words = 3\n", encoding="utf-8")
    with pytest.raises(InputError, match="allow_words"):
        load_data_config(bad)
