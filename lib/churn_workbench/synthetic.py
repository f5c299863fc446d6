"""Synthetic customers, feedback and consent with a documented hidden churn process.

The churn label is drawn from `true_churn_probability`, a logistic function of observable
columns and of the tone of the customer's feedback, so a model's AUC can be compared with the
AUC of the generating process itself (the ceiling). Deterministic per (n, seed).

Hidden process (logit of churn):
    -1.2
    + 1.1 * [contract == month-to-month] - 0.6 * [contract == two-year]
    - 0.9 * log1p(tenure_months) / log(73)          (loyalty grows with tenure, saturating)
    + 0.018 * (monthly_charges - 65)
    + 0.35 * complaints_90d                           (capped at 4)
    + 1.3 * min(days_since_last_activity, 90) / 90
    + 0.5 * [payment_method == electronic_check] - 0.3 * [autopay]
    + 0.6 * [plan == basic and monthly_charges > 70] (paying too much for too little)
    + 0.9 * [has negative feedback] - 0.4 * [has positive feedback]
Feedback tone itself depends on complaints and inactivity, so text and table agree.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .audit import sha256_hex

FIRST_NAMES = [
    "Anna", "Ben", "Carlos", "Daria", "Emma", "Farid", "Grace", "Hiroshi", "Ines", "Jamal",
    "Katarzyna", "Liam", "Maria", "Noah", "Olga", "Pedro", "Priya", "Quentin", "Rosa", "Samir",
    "Tomas", "Uma", "Victor", "Wei", "Yusuf", "Zoe", "Lucas", "Sofia", "Mohammed", "Chloe",
    "Mateo", "Aisha", "Elena", "David", "Fatima", "Jonas", "Laura", "Ahmed", "Nina", "Oliver",
]
LAST_NAMES = [
    "Schmidt", "Garcia", "Nowak", "Okafor", "Rossi", "Tanaka", "Dubois", "Jansen", "Kowalski",
    "Silva", "Patel", "Nguyen", "Smith", "Johnson", "Müller", "Fischer", "Martin", "Bernard",
    "Moreau", "Haddad", "Larsen", "Novak", "Horvat", "Costa", "Santos", "Kim", "Chen", "Singh",
    "Ivanova", "Andersen", "Brown", "Wilson", "Taylor", "O'Brien", "Murphy", "De Vries",
]
ADVISORS = ["Sarah Connor", "Tom Becker", "Lena Hoffmann", "Raj Mehta", "Julie Martin", "Marco Bianchi"]
RELATIVES = ["my wife Helen", "my husband Peter", "my son Jack", "my daughter Mia", "my mother Rita"]
PLANS = np.array(["basic", "standard", "premium", "unlimited"])
PLAN_PRICE = np.array([45.0, 62.0, 80.0, 99.0])
CONTRACTS = np.array(["month-to-month", "one-year", "two-year"])
PAYMENTS = np.array(["credit_card", "bank_transfer", "electronic_check", "paypal"])
REGIONS = np.array(["north", "south", "east", "west", "central"])
CHANNELS = np.array(["email", "app", "call_center", "survey", "chat"])
EMAIL_DOMAINS = np.array(["example.com", "mail.example.org", "inbox.example.net"])

NEGATIVE = [
    "The internet keeps dropping every evening and nobody fixes it. I am seriously thinking of leaving.",
    "I was charged twice this month. Call me on {phone} or write to {email}, this is unacceptable.",
    "Your competitor offered me a much cheaper plan. Unless the price goes down I will cancel.",
    "Support was useless. I spoke to {advisor} three times and the problem is still there.",
    "Billing error again! Refund it to my card {card} immediately.",
    "I am {name}, customer for years, and the service has become terrible. Very disappointed.",
    "Please stop the direct debit from {iban}, I want to cancel my contract.",
    "Slow speeds, bad coverage at home, and {relative} cannot even make calls. Awful.",
    "Way too expensive for what I get. My account {account} shows hidden fees.",
]
NEUTRAL = [
    "Can you tell me when my contract ends? My number is {phone}.",
    "I moved to a new address, please update it. Regards, {name}.",
    "How do I change my plan in the app? {advisor} said it was possible.",
    "Question about the invoice for account {account}, what is the extra line?",
    "Please send the documents to {email}.",
]
POSITIVE = [
    "Great service, {advisor} solved my problem quickly. Thanks!",
    "Very happy with the speed since the upgrade. Keep it up.",
    "Excellent support, friendly staff. {name} here, I recommend you to everyone.",
    "Love the new app, paying my bill is easy now.",
]


@dataclass
class SyntheticData:
    customers: pd.DataFrame
    feedback: pd.DataFrame
    consent: pd.DataFrame
    true_probability: pd.Series  # indexed by customer_id; never a column of `customers`


def _luhn_card(rng: np.random.Generator) -> str:
    digits = [4] + list(rng.integers(0, 10, 14))
    total = 0
    for i, d in enumerate(reversed(digits)):
        d = int(d)
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    digits.append((10 - total % 10) % 10)
    s = "".join(map(str, digits))
    return " ".join(s[i:i + 4] for i in range(0, 16, 4))


def _iban(rng: np.random.Generator) -> str:
    bban = "".join(map(str, rng.integers(0, 10, 18)))  # German-style: 8-digit bank code + 10-digit account
    numeric = int(bban + "131400")  # "DE" -> 13 14, then check digits 00
    check = 98 - numeric % 97
    raw = f"DE{check:02d}{bban}"
    return " ".join(raw[i:i + 4] for i in range(0, len(raw), 4))


def _phone_variant(digits: str, style: int) -> str:
    """The same UK mobile number written the way people write it."""
    local = digits  # 10 digits, e.g. 7700900123
    if style == 0:
        return f"+44 {local[:4]} {local[4:]}"
    if style == 1:
        return f"0{local[:4]} {local[4:7]} {local[7:]}"
    if style == 2:
        return f"(0{local[:4]}) {local[4:]}"
    return f"0044-{local[:4]}-{local[4:]}"


def true_churn_probability(customers: pd.DataFrame, tone: np.ndarray) -> np.ndarray:
    """The hidden process (see module docstring). `tone`: -1 negative, 0 none/neutral, +1 positive."""
    c = customers
    logit = (
        -1.2
        + 1.1 * (c["contract"] == "month-to-month") - 0.6 * (c["contract"] == "two-year")
        - 0.9 * np.log1p(c["tenure_months"]) / np.log(73)
        + 0.018 * (c["monthly_charges"] - 65)
        + 0.35 * np.minimum(c["complaints_90d"], 4)
        + 1.3 * np.minimum(c["days_since_last_activity"], 90) / 90
        + 0.5 * (c["payment_method"] == "electronic_check") - 0.3 * c["autopay"].astype(float)
        + 0.6 * ((c["plan"] == "basic") & (c["monthly_charges"] > 70))
        + 0.9 * (tone < 0) - 0.4 * (tone > 0)
    )
    return 1.0 / (1.0 + np.exp(-logit.to_numpy(dtype=float)))


def generate(n: int = 1000, seed: int = 42, labelled_share: float = 0.8) -> SyntheticData:
    """Generate `n` customers with feedback for ~60% of them and a consent register with history."""
    if n < 1:
        raise ValueError("n must be at least 1")
    rng = np.random.default_rng(seed)
    ids = np.char.add("C", np.char.zfill(np.arange(1, n + 1).astype(str), 7))
    first = rng.choice(FIRST_NAMES, n)
    last = rng.choice(LAST_NAMES, n)
    plan_idx = rng.choice(4, n, p=[0.3, 0.35, 0.25, 0.1])
    tenure = rng.integers(0, 73, n)
    complaints = rng.poisson(0.6, n)
    inactivity = np.minimum(rng.exponential(18, n) + complaints * 5, 365).round().astype(int)
    phone_digits = np.char.add("7700", np.char.zfill(rng.integers(0, 10**6, n).astype(str), 6))
    local_part = np.char.lower(np.char.add(np.char.add(first, "."), np.char.replace(np.char.replace(last, " ", ""), "'", "")))
    customers = pd.DataFrame({
        "customer_id": ids,
        "name": np.char.add(np.char.add(first, " "), last),
        "email": np.char.add(np.char.add(np.char.add(local_part, rng.integers(1, 99, n).astype(str)), "@"), rng.choice(EMAIL_DOMAINS, n)),
        "phone": ["+44 " + d for d in phone_digits],
        "age": np.clip(rng.normal(44, 14, n).round(), 18, 90).astype(int),
        "region": rng.choice(REGIONS, n),
        "plan": PLANS[plan_idx],
        "contract": rng.choice(CONTRACTS, n, p=[0.5, 0.3, 0.2]),
        "payment_method": rng.choice(PAYMENTS, n),
        "autopay": rng.random(n) < 0.55,
        "tenure_months": tenure,
        "monthly_charges": np.round(PLAN_PRICE[plan_idx] + rng.normal(0, 12, n), 2),
        "complaints_90d": complaints,
        "days_since_last_activity": inactivity,
        "data_usage_gb": np.round(rng.gamma(2.0, 8.0, n), 1),
        "num_products": rng.integers(1, 5, n),
    })

    has_feedback = rng.random(n) < 0.6
    # Tone follows the customer's situation, so feedback carries real signal about churn.
    p_negative = 1 / (1 + np.exp(-(-1.0 + 0.8 * complaints + 0.02 * inactivity)))
    draw = rng.random(n)
    tone = np.where(~has_feedback, 0, np.where(draw < p_negative, -1, np.where(draw < p_negative + 0.25, 0, 1)))
    p_true = true_churn_probability(customers, tone)
    churned = (rng.random(n) < p_true).astype(int)
    label = pd.array(churned, dtype="Int64")
    label[rng.random(n) >= labelled_share] = pd.NA
    customers["churned"] = label

    feedback = _feedback(rng, customers, has_feedback, tone, phone_digits)
    consent = _consent(rng, ids)
    return SyntheticData(customers, feedback, consent, pd.Series(p_true, index=ids, name="true_probability"))


def _feedback(rng, customers, has_feedback, tone, phone_digits) -> pd.DataFrame:
    idx = np.flatnonzero(has_feedback)
    counts = rng.choice([1, 2, 3], len(idx), p=[0.6, 0.3, 0.1])
    rows = np.repeat(idx, counts)
    m = len(rows)
    pools = {-1: NEGATIVE, 0: NEUTRAL, 1: POSITIVE}
    picks = rng.random(m)
    styles = rng.integers(0, 4, m)
    advisors = rng.choice(ADVISORS, m)
    relatives = rng.choice(RELATIVES, m)
    accounts = rng.integers(10**7, 10**8, m)
    start = np.datetime64("2026-01-01")
    created = start + rng.integers(0, 300 * 24 * 60, m).astype("timedelta64[m]")
    names = customers["name"].to_numpy()
    emails = customers["email"].to_numpy()
    # Only templates that use {card}/{iban} need the (slower) generators, so draw those lazily.
    texts = []
    for j, i in enumerate(rows):
        pool = pools[int(tone[i])]
        template = pool[int(picks[j] * len(pool))]
        values = {"name": names[i], "email": emails[i].upper() if styles[j] == 3 else emails[i],
                  "phone": _phone_variant(phone_digits[i][0:], int(styles[j])),
                  "advisor": advisors[j], "relative": relatives[j], "account": f"ACC-{accounts[j]}"}
        if "{card}" in template:
            values["card"] = _luhn_card(rng)
        if "{iban}" in template:
            values["iban"] = _iban(rng)
        texts.append(template.format(**values))
    return pd.DataFrame({
        "feedback_id": [f"F{k:08d}" for k in range(1, m + 1)],
        "customer_id": customers["customer_id"].to_numpy()[rows],
        "text": texts,
        "created_at": pd.to_datetime(created),
        "channel": rng.choice(CHANNELS, m),
    })


def _consent(rng, ids) -> pd.DataFrame:
    """A register with history: grants, refusals, withdrawals (a later `granted=false`), and gaps."""
    frames = []
    base = np.datetime64("2025-01-01")
    for purpose, p_record, p_grant in (("profiling", 0.97, 0.95), ("external_llm", 0.9, 0.75), ("marketing", 0.92, 0.8)):
        n = len(ids)
        recorded = rng.random(n) < p_record  # the rest have no record at all: no consent
        granted = rng.random(n) < p_grant
        first_at = base + rng.integers(0, 200, n).astype("timedelta64[D]")
        first = pd.DataFrame({"customer_id": ids[recorded], "purpose": purpose, "granted": granted[recorded],
                              "recorded_at": first_at[recorded], "source": "signup_form"})
        withdraw = recorded & granted & (rng.random(n) < 0.06)
        later = pd.DataFrame({"customer_id": ids[withdraw], "purpose": purpose, "granted": False,
                              "recorded_at": first_at[withdraw] + np.timedelta64(120, "D"), "source": "preference_center"})
        frames += [first, later]
    consent = pd.concat(frames, ignore_index=True)
    consent["recorded_at"] = pd.to_datetime(consent["recorded_at"])
    return consent.sort_values(["customer_id", "purpose", "recorded_at"], ignore_index=True)


# --------------------------------------------------------------------------------------------
# Outcomes of retention actions, with a known heterogeneous treatment effect
# --------------------------------------------------------------------------------------------
# Whether an action moves a customer depends on who they are (Ascarza, "Retention Futility",
# 2018): the customers at highest risk are often not the ones an action moves. Each synthetic
# customer has one response type, a deterministic function of observable columns, so an uplift
# model can learn it and a test can compare it with the truth:
#
#   lost_cause    days_since_last_activity >= 45 or complaints_90d >= 3: already gone, high
#                 risk, no action changes that (effect 0)
#   sleeping_dog  two-year contract, tenure >= 48 months, on autopay: loyal and inattentive;
#                 being contacted reminds them to shop around (churn log-odds +SLEEPING_DOG_SHIFT)
#   persuadable   month-to-month contract (and not a lost cause): nothing ties them to us, and
#                 the action works (log-odds PERSUADABLE_SHIFT x the action type's strength)
#   sure_thing    everyone else: they stay or leave whatever we do (effect 0)
#
# Without action a customer churns with `true_churn_probability` (p0); with action type a, with
# p1 = sigmoid(logit(p0) + shift(type, a)). The individual effect is p0 - p1 (> 0: fewer churn).
RESPONSE_TYPES = ("persuadable", "sure_thing", "lost_cause", "sleeping_dog")
PERSUADABLE_SHIFT = -2.5
SLEEPING_DOG_SHIFT = 1.2
# How well each action type of the offer catalogue works on a persuadable customer (1 = fully).
ACTION_STRENGTH = {"discount": 1.0, "support_callback": 0.9, "technical_support": 0.7, "billing_review": 0.7,
                   "plan_upgrade": 0.6, "loyalty_reward": 0.4, "check_in": 0.4}
DEFAULT_ACTION_STRENGTH = 0.5  # an action type the table does not know (a custom catalogue)


def response_type(customers: pd.DataFrame) -> np.ndarray:
    """The response type of each customer (RESPONSE_TYPES), from the columns `generate` creates."""
    c = customers
    lost = (c["days_since_last_activity"].to_numpy() >= 45) | (c["complaints_90d"].to_numpy() >= 3)
    dog = ~lost & (c["contract"].to_numpy() == "two-year") & (c["tenure_months"].to_numpy() >= 48) \
        & c["autopay"].to_numpy(dtype=bool)
    persuadable = ~lost & ~dog & (c["contract"].to_numpy() == "month-to-month")
    return np.select([lost, dog, persuadable], ["lost_cause", "sleeping_dog", "persuadable"], default="sure_thing")


def treated_probability(p0: np.ndarray, types: np.ndarray, action_types) -> np.ndarray:
    """Churn probability if contacted with `action_types` (one per customer; any value for others)."""
    strength = np.array([ACTION_STRENGTH.get(a, DEFAULT_ACTION_STRENGTH) for a in action_types], dtype=float)
    shift = np.where(types == "persuadable", PERSUADABLE_SHIFT * strength,
                     np.where(types == "sleeping_dog", SLEEPING_DOG_SHIFT, 0.0))
    p0 = np.clip(np.asarray(p0, dtype=float), 1e-9, 1 - 1e-9)
    return 1.0 / (1.0 + np.exp(-(np.log(p0 / (1 - p0)) + shift)))


@dataclass
class SimulatedOutcomes:
    """Per customer of an experiment: the truth behind the outcomes and the outcomes themselves."""
    frame: pd.DataFrame   # customer_id, treated, action_type, response_type, p_untreated, p_treated, effect, churned

    def true_effect(self, mask=None) -> float:
        """Mean individual effect (reduction in churn probability) over the rows in `mask`."""
        effect = self.frame["effect"] if mask is None else self.frame.loc[mask, "effect"]
        return float(effect.mean())


def simulate_outcomes(data: SyntheticData, experiment: pd.DataFrame, seed: int) -> SimulatedOutcomes:
    """Observed churn for the customers of one run's experiment.

    experiment: customer_id, treated (bool), action_type (the action sent, or for the control
    group the one that would have been sent). Every customer's outcome is drawn from p1 if
    treated else p0; `effect` = p0 - p1 for the action in the row, treated or not, so the mean
    effect over any group is what a perfect experiment on that group would measure.
    """
    customers = data.customers.set_index("customer_id")
    ids = experiment["customer_id"].astype(str).to_numpy()
    missing = ~pd.Index(ids).isin(customers.index)
    if missing.any():
        raise ValueError(f"{int(missing.sum())} customer(s) of the experiment are not in the synthetic data")
    rows = customers.loc[ids]
    p0 = data.true_probability.reindex(ids).to_numpy(dtype=float)
    types = response_type(rows)
    p1 = treated_probability(p0, types, experiment["action_type"].to_numpy())
    treated = experiment["treated"].to_numpy(dtype=bool)
    rng = np.random.default_rng(seed)
    churned = rng.random(len(ids)) < np.where(treated, p1, p0)
    return SimulatedOutcomes(pd.DataFrame({
        "customer_id": ids, "treated": treated, "action_type": experiment["action_type"].to_numpy(),
        "response_type": types, "p_untreated": p0, "p_treated": p1, "effect": p0 - p1,
        "churned": churned.astype(int)}))


def true_effect_of(data: SyntheticData, customer_ids, action_type: str = "discount") -> pd.Series:
    """The oracle: each customer's true effect (reduction in churn probability) of `action_type`."""
    ids = pd.Index(customer_ids).astype(str)
    rows = data.customers.set_index("customer_id").loc[ids]
    p0 = data.true_probability.reindex(ids).to_numpy(dtype=float)
    p1 = treated_probability(p0, response_type(rows), [action_type] * len(ids))
    return pd.Series(p0 - p1, index=ids, name="true_effect")


def source_fingerprint(n_customers: int, seed: int) -> dict:
    """What a synthetic run's inputs are, by content: the generator's parameters (the ingest's
    input fingerprint of a synthetic run; outcomes re-derive it to find the run's data)."""
    return {"synthetic": {"customers": int(n_customers), "seed": int(seed),
                          "sha256": sha256_hex(f"synthetic:{n_customers}:{seed}:v1")}}
