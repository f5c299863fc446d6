#!/usr/bin/env python
"""Build lib/churn_workbench/data/language_top_words.json: for every language wordfreq has a
list for, its script and its most frequent words. The allow rule (churn_workbench.egress) tells
the language of a text's words from these (function words), then loads that one language's
full list from wordfreq; without this file it would have to load every list to detect one.

    python tests/data/make_language_words.py     # needs wordfreq (a dependency of the project)

Source: wordfreq's "small" lists (wordfreq by Robyn Speer, code Apache-2.0, data CC-BY-SA 4.0).
"""
from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

from wordfreq import available_languages, get_frequency_list

from churn_workbench.egress.scripts import script_of

OUT = Path(__file__).resolve().parents[2] / "lib" / "churn_workbench" / "data" / "language_top_words.json.gz"
TOP = 2000


def main() -> None:
    languages = {}
    for lang in sorted(available_languages("small")):
        words = []
        for bucket in get_frequency_list(lang, "small"):
            words.extend(w for w in bucket if len(w) > 1 and any(ch.isalpha() for ch in w))
            if len(words) >= TOP:
                break
        scripts = Counter(script_of(ch) for w in words for ch in w if ch.isalpha())
        scripts.pop("OTHER", None)
        languages[lang] = {"script": scripts.most_common(1)[0][0], "top": words[:TOP]}
    text = json.dumps({"source": "wordfreq small lists, top %d words" % TOP, "languages": languages},
                      ensure_ascii=False, sort_keys=True)
    OUT.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
    print(f"{OUT}: {len(languages)} languages")


if __name__ == "__main__":
    main()
