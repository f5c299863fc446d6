import numpy as np
import pandas as pd
import pytest

import messy_files as mf
from churn_workbench import features, inputs


@pytest.fixture
def feedback():
    return pd.DataFrame({
        "feedback_id": ["F1", "F2", "F3", "F4"],
        "customer_id": ["A1", "A1", "A3", "A5"],
        "created_at": pd.to_datetime(["2026-01-01", "2026-01-11", "2026-01-06", None]),
    })


@pytest.fixture
def analysis():
    return pd.DataFrame({
        "feedback_id": ["F1", "F2", "F3", "F4"],
        "customer_id": ["A1", "A1", "A3", "A5"],
        "sentiment": [-0.5, 0.25, np.nan, 0.8],
        "topics": ['["Billing", "network"]', '["billing"]', "not json", None],
    })


def test_feedback_features(analysis, feedback):
    fb = features.feedback_features(analysis, feedback, topics=["billing", "network", "Price / Value"])
    assert fb.index.name == "customer_id" and list(fb.index) == ["A1", "A3", "A5"]
    assert list(fb.columns) == [*features.FEEDBACK_COLUMNS, "topic_billing", "topic_network", "topic_price_value"]
    a1 = fb.loc["A1"]
    assert a1["fb_count"] == 2 and a1["fb_sentiment_mean"] == pytest.approx(-0.125) and a1["fb_sentiment_min"] == -0.5
    assert a1["fb_days_since_last"] == 0 and fb.loc["A3", "fb_days_since_last"] == 5
    assert np.isnan(fb.loc["A3", "fb_sentiment_mean"])  # analysed item failed: unknown, not neutral
    assert np.isnan(fb.loc["A5", "fb_days_since_last"])  # no date
    assert fb["topic_billing"].tolist() == [1.0, 0.0, 0.0] and fb["topic_network"].tolist() == [1.0, 0.0, 0.0]
    assert fb["topic_price_value"].sum() == 0


def test_topics_default_to_those_seen(analysis, feedback):
    fb = features.feedback_features(analysis, feedback)
    assert [c for c in fb.columns if c.startswith("topic_")] == ["topic_billing", "topic_network"]


def test_unanalysed_feedback_still_counts(feedback):
    fb = features.feedback_features(pd.DataFrame(columns=["feedback_id", "sentiment", "topics"]), feedback, topics=[])
    assert fb["fb_count"].sum() == 4 and fb["fb_sentiment_mean"].isna().all()


def test_feature_frame_never_contains_identifiers(tmp_path, analysis, feedback):
    table = inputs.read_customers(mf.messy_customers_csv(tmp_path / "c.csv"))
    fb = features.feedback_features(analysis, feedback, topics=["billing", "network"])
    X = features.feature_frame(table.frame, table.roles, fb)
    assert X.index.name == "customer_id" and list(X.index) == table.frame["customer_id"].tolist()
    for column in ("name", "email", "phone", "churned", "customer_id", "notes_constant"):
        assert column not in X.columns
    assert list(X.columns) == ["balance", "discount", "region", "signup_date", "autopay",
                               *features.FEEDBACK_COLUMNS, "topic_billing", "topic_network"]
    no_feedback = X.loc["A2"]
    assert no_feedback["fb_count"] == 0 and no_feedback["topic_billing"] == 0
    assert np.isnan(no_feedback["fb_sentiment_mean"]) and np.isnan(no_feedback["fb_days_since_last"])
    assert X.loc["A1", "fb_count"] == 2


def test_feature_frame_without_feedback_has_the_same_columns(tmp_path):
    table = inputs.read_customers(mf.messy_customers_csv(tmp_path / "c.csv"))
    X = features.feature_frame(table.frame, table.roles, None)
    assert list(X.columns[-4:]) == list(features.FEEDBACK_COLUMNS) and (X["fb_count"] == 0).all()


def test_feature_frame_rejects_name_clash(tmp_path, analysis, feedback):
    path = mf.write(tmp_path / "c.csv", "customer_id,churned,fb_count\nA1,0,3\nA2,1,4\n")
    table = inputs.read_customers(path)
    with pytest.raises(ValueError, match="fb_count"):
        features.feature_frame(table.frame, table.roles, features.feedback_features(analysis, feedback))


def test_sensitive_columns_are_suggested_by_name():
    columns = ["Gender", "date_of_birth", "SeniorCitizen", "customer_age", "Age", "Nationality", "religion",
               "ethnicity", "sex", "page_views", "usage", "tenure", "Partner", "message", "coverage", "storage_gb"]
    assert features.suggest_sensitive(columns) == [
        "Gender", "date_of_birth", "SeniorCitizen", "customer_age", "Age", "Nationality", "religion", "ethnicity", "sex"]
