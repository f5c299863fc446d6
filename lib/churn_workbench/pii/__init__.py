"""PII finding and replacement internals; the public API is churn_workbench.anonymize.

Modules: types (value types), text (invisible characters, JSON escapes), lexicon (name and
word lists), names (person-name rules), recognizers (Presidio recognizers), known (the
customer's own identifiers), engine (analyzer, pre-filter, overlap resolution), replace
(placeholders via presidio-anonymizer).
"""
