"""Default-deny egress: only what is known to be safe leaves the machine.

One allow rule (allow.py) over one canonical tokenisation (canonical.py, tokens.py) decides,
token by token, what may leave: a common word of its language (wordfreq, threshold a setting),
a term of the product's own vocabulary (offer catalogue, topics, the data owner's allow-list),
a placeholder, or a number in a harmless form. Everything else is unknown, and unknown is
replaced (in the anonymizer's last pass) or refused (by the request gate and the output check).

Nothing here imports the PII finder: the gate judges the exact payload against the allow rule
alone, so a miss of the detectors cannot pass both.

Modules: canonical (normalisation), scripts (segmenters for text without blanks), tokens (the
one tokenisation), lexicons (frequency lists, names, number words), special (GDPR Art. 9/10
terms), numbers (harmless number forms), vocabulary (product terms and the owner's list),
allow (the rule, masking and checking), gate (request payloads), output (model-written text),
languages (a text mainly in a language no list vets stays home).
"""
