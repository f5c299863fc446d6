"""PII finding and replacement internals; the public API is churn_workbench.anonymize.

Modules: types (value types), text (the normalised detection view: invisible characters,
NFKC, any-script digits, split line breaks, JSON escapes), confusables (look-alike letters),
words (a text's word set for cheap gates), lexicon (name and word lists), names
(person-name rules), scripts (names in other scripts), recognizers (Presidio recognizers,
account/reference numbers, letter-spaced e-mails), phones, numbers (cards, IBANs, long digit
groups), dates, addresses (streets and postcodes), national_ids (national ids, passports),
known and variants (the customer's own identifiers), engine (gates, overlap resolution),
replace (placeholders).
"""
