"""The boundary: every value that comes from outside passes one function for its kind before use.

- `run_ids`: run ids (command line, notebook parameters) -- a strict pattern, because a run id
  names a folder and appears in printed commands.
- `paths`: artefact paths proven inside their workspace folder before anything is written, and
  output files written without following links, never over an existing file unless asked.
- `customer_ids`: the one canonical form of a customer id, and the looser match key that
  withdrawals, objections and erasure use (fail closed).
- `data_config`: a data config checked against the file's header before anything runs.

Each function raises `UsageError` (exit 2, one line) naming the value and what to do.
"""
