"""The fixed vocabularies shared by the analyzers and the model (kept import-light on purpose:
the prediction stage needs the topic list but none of the LLM machinery)."""

TOPICS = (
    "price", "network_quality", "customer_support", "billing", "contract",
    "competitor", "product_features", "cancellation_intent", "praise",
)
SENTIMENT_LABELS = ("negative", "neutral", "positive")
