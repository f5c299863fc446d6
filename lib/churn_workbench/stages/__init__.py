"""One module per pipeline stage. Each exposes `run(...) -> dict` (a summary) and writes its
outputs in one transaction, replacing any rows a previous attempt of the same run wrote."""
