"""Settings from the environment or `.env`: every `WORKBENCH_*` knob is declared here, once.

This is the only module that reads `os.environ`. Each `Settings` field names its environment
variable and says what it means; the README's settings table lists the same names (a test keeps
the two in step). Secrets (API keys) are read on demand by `secret()` and never stored in
`Settings`, so a settings object can be printed, logged or passed around without leaking them;
they are never papermill parameters either, because papermill writes parameters into the
executed notebook.
"""
from __future__ import annotations

import dataclasses
import difflib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import load_dotenv

from .boundary.domains import Address, Checked, Choices, Domain, Flag, Names, Number, PathName, Whole, Word
from .boundary.numbers import NUMBER, WHOLE_NUMBER, plain_float, plain_int
from .boundary.paired import check_backend, check_column_list, check_control_share, check_profile
from .boundary.paths import database_file, fits, written_file
from .boundary.text import LINE_BREAKING
from .errors import UsageError
from .profiles import apply_profile
from .pseudonyms import default_store
from .vocab import LLM_BACKENDS, LLM_PROFILES, LLM_RESPONSE_FORMATS, REASONING_EFFORTS

PACKAGE_DIR = Path(__file__).resolve().parent
# A retention period longer than this (100 years) is a typo, and dates before year 1 do not exist.
MAX_RETENTION_DAYS = 36_500
# The project is installed editable from lib/, so the checkout root is two levels up.
PROJECT_ROOT = Path(os.environ.get("WORKBENCH_HOME") or PACKAGE_DIR.parents[1]).resolve()
DEFAULT_DATA_DIR = PROJECT_ROOT / "data"
DEFAULT_SIGNING_KEY_FILE = Path("~/.config/churn-workbench/signing_key.pem")
DEFAULT_HEADS_FILE = Path("~/.local/state/churn-workbench/heads.jsonl")


def load_env() -> None:
    env_file = PROJECT_ROOT / ".env"
    refuse_twice_set(env_file)
    # override=False: a variable set in the real environment always wins over .env.
    load_dotenv(env_file, override=False)


def refuse_twice_set(env_file: Path) -> None:
    """A name set twice in `.env` is refused, naming both lines: python-dotenv would keep the
    last without a word, and whoever edited the first would think it in force (as an option given
    twice on the command line is refused)."""
    try:
        text = env_file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return  # no .env (the usual case), or one python-dotenv reports on itself
    from dotenv.parser import parse_stream
    first_line: dict[str, int] = {}
    offset = 0
    for binding in parse_stream(io.StringIO(text)):
        start, offset = offset, offset + len(binding.original.string)
        if binding.key is None:
            continue
        # The line of the name itself (the parser's own count runs behind after blank lines).
        line = text.count("\n", 0, start + binding.original.string.find(binding.key)) + 1
        if binding.key in first_line:
            raise UsageError(f"{env_file}: {binding.key} is set twice (lines {first_line[binding.key]} and {line}): keep one")
        first_line[binding.key] = line


def secret(name: str) -> str | None:
    """An API key or token from the environment or `.env`; None when unset or blank."""
    load_env()
    value = os.environ.get(name, "").strip()
    return value or None


# A secret the workbench itself protects something with (the dashboard's token, the subject-ref
# key) is refused below this many characters: "x" would be guessed at the first try.
MIN_SECRET_CHARS = 16


def check_secret_strength(name: str, value: str | None) -> str | None:
    """`value` unchanged, or a UsageError naming `name` when it is too short to protect anything."""
    if value is not None and len(value) < MIN_SECRET_CHARS:
        raise UsageError(f"{name} is {len(value)} characters long: a secret that protects customer data needs at "
                         f"least {MIN_SECRET_CHARS} (e.g. python -c \"import secrets; print(secrets.token_urlsafe(24))\")")
    return value


def env_flag(name: str) -> str:
    """The raw value of a non-workbench variable the workbench must react to (e.g. an SDK's log level)."""
    return os.environ.get(name, "")


def environment() -> dict[str, str]:
    """A copy of this process's environment, for a child process started with a few changes."""
    return dict(os.environ)


def pop_env(name: str) -> str | None:
    """Remove a variable from this process's environment (and so from every stage kernel it starts)."""
    return os.environ.pop(name, None)


def _knob(env: str, default, help: str, *, domain: Domain, **kwargs):
    """A setting read from `env`, with the domain its value must lie in (boundary.domains):
    `Settings` checks every one of them at load, so none can be declared without one."""
    return field(default=default, metadata={"env": env, "help": help, "domain": domain}, **kwargs)


def _one_name(value: str, name: str, what: str) -> None:
    if "," in value:
        raise UsageError(f"{name}={value}: expected one {what}, not a list")


def _one_word_secret(value: str, name: str) -> None:
    if any(c.isspace() for c in value):  # its value is never shown
        raise UsageError(f"{name}=(not shown): expected an API key without spaces (a paste of two lines, or of a label?)")


def _special_categories() -> tuple[str, ...]:
    from .egress.special import CATEGORIES  # the egress rules' own list, read only when asked
    return CATEGORIES


# The domains of the settings that are not plain numbers, named once (boundary.domains).
FILE = PathName("a file path (written at its own name, never through a link)")
FOLDER = PathName("a folder path")
SECRET = Checked(f"a secret of at least {MIN_SECRET_CHARS} characters",
                 lambda value, name: check_secret_strength(name, value))
FLAG = Flag()
MODEL_ID = Word("a model id", "openai/gpt-oss-20b")
COLUMN = Checked("one column of the customers table (checked against it when a run starts)",
                 lambda value, name: _one_name(value, name, "column"))
COLUMNS = Checked("feature columns separated by commas (checked against the customers table when a run starts)",
                  check_column_list)
BACKEND = Checked(f"an LLM backend: one of {', '.join(LLM_BACKENDS)} (or one registered in code)", check_backend)
PROFILE = Checked(f"an LLM profile: one of {', '.join(LLM_PROFILES)}", check_profile)
CONTROL_SHARE = Checked("a share from 0 to below 1", check_control_share)
RESPONSE_FORMAT = Choices(("auto", *LLM_RESPONSE_FORMATS))
REASONING_EFFORT = Choices(REASONING_EFFORTS, any_case=False)  # sent as written
SPECIAL_CATEGORIES = Names("special category", "special categories", _special_categories)
# An LLM endpoint speaks HTTP; a Dask scheduler one of the protocols of distributed's comm layer
# that reach another process (inproc:// does not, ucx:// needs a library the workbench lacks).
ENDPOINT = Address(("http", "https"), "http://localhost:8000/v1")
API_KEY = Checked("an API key on one line, without spaces", lambda value, name: _one_word_secret(value, name))
SCHEDULER = Address(("tcp", "tls", "ws", "wss"), "tcp://127.0.0.1:8786", port=True)


@dataclass(frozen=True)
class Settings:
    """Every setting of the workbench. Paths are resolved; `db_path` etc. default under `data_dir`."""

    data_dir: Path | None = _knob("WORKBENCH_DATA_DIR", None,
                                  "folder of the database, models, snapshot and keys (default `data`, or the folder of "
                                  "`WORKBENCH_DB` / `--db`)", domain=FOLDER)
    db_path: Path | None = _knob("WORKBENCH_DB", None, "DuckDB file (default `<data dir>/workbench.duckdb`)", domain=FILE)
    audit_dir: Path | None = _knob("WORKBENCH_AUDIT_DIR", None,
                                   "executed notebooks and manifests (default `<data dir>/audit`; `audit` for the default data dir)", domain=FOLDER)
    subject_key_file: Path | None = _knob("WORKBENCH_SUBJECT_KEY_FILE", None,
                                          "key of the pseudonymous subject refs (default `<data dir>/.subject_key`)", domain=FILE)
    subject_key: str | None = _knob("WORKBENCH_SUBJECT_KEY", None,
                                    "the subject-ref key itself, instead of the key file (not both)", domain=SECRET, repr=False)
    subject_keystore: Path | None = _knob("WORKBENCH_SUBJECT_KEYSTORE", None,
                                          "per-subject secrets of the subject refs, destroyed on erasure "
                                          "(default `.subject_keys.parquet` beside the key file)", domain=FILE)
    retention_feedback_days: int | None = _knob("WORKBENCH_RETENTION_FEEDBACK_DAYS", None,
                                                "days feedback text is kept (by its date; none = no limit)", domain=Whole(hi=MAX_RETENTION_DAYS))
    retention_egress_days: int | None = _knob("WORKBENCH_RETENTION_EGRESS_DAYS", None,
                                              "days LLM request payloads are kept (none = no limit)", domain=Whole(hi=MAX_RETENTION_DAYS))
    retention_analysis_days: int | None = _knob("WORKBENCH_RETENTION_ANALYSIS_DAYS", None,
                                                "days feedback analyses are kept (by their run; none = no limit)", domain=Whole(hi=MAX_RETENTION_DAYS))
    signing_key_file: Path | None = _knob("WORKBENCH_SIGNING_KEY_FILE", None,
                                          "Ed25519 key that signs exported chain heads, created on first use; must be "
                                          "outside the data and audit folders (default `~/.config/churn-workbench/signing_key.pem`)", domain=FILE)
    heads_file: Path | None = _knob("WORKBENCH_HEADS_FILE", None,
                                    "append-only file of signed chain heads, meant to live elsewhere (another disk, a "
                                    "bucket with object lock); public key next to it as `.pub` "
                                    "(default `~/.local/state/churn-workbench/heads.jsonl`)", domain=FILE)
    llm_provider: str = _knob("WORKBENCH_LLM", "local", "LLM backend: local, groq or openai", domain=BACKEND)
    analysis_model: str | None = _knob("WORKBENCH_ANALYSIS_MODEL", None, "model id for feedback analysis", domain=MODEL_ID)
    action_model: str | None = _knob("WORKBENCH_ACTION_MODEL", None, "model id for retention actions", domain=MODEL_ID)
    openai_model: str | None = _knob("WORKBENCH_OPENAI_MODEL", None, "model id on the OpenAI-compatible endpoint", domain=MODEL_ID)
    segment_high_share: float = _knob("WORKBENCH_SEGMENT_HIGH_SHARE", 0.10,
                                      "\"High\" = this top share of customers by expected loss", domain=Number(hi=1))
    segment_medium_share: float = _knob("WORKBENCH_SEGMENT_MEDIUM_SHARE", 0.20, "\"Medium\" = the next share", domain=Number(hi=1))
    segment_high_budget: int = _knob("WORKBENCH_SEGMENT_HIGH_BUDGET", 0, "at most this many \"High\" customers (0 = no cap)", domain=Whole())
    model_min_auc: float = _knob("WORKBENCH_MODEL_MIN_AUC", 0.60,
                                 "quality floor: a model whose ROC-AUC interval lies wholly below this is never "
                                 "promoted (nor is one whose interval reaches chance, 0.5)", domain=Number(hi=1))
    model_gate_tolerance: float = _knob("WORKBENCH_MODEL_GATE_TOLERANCE", 0.005,
                                        "a new model is refused when the interval of its ROC-AUC difference to the "
                                        "deployed model of the same data contract lies wholly below minus this", domain=Number(hi=1))
    retrain_max_change: float = _knob("WORKBENCH_RETRAIN_MAX_CHANGE", 0.05,
                                      "a run keeps the deployed model while less than this share of the labelled rows "
                                      "it was trained on changed, none of its customers left and its ROC-AUC on the "
                                      "changed rows holds (0 = retrain on any change; `--retrain always` forces it)", domain=Number(hi=1))
    model_min_labelled: int = _knob("WORKBENCH_MODEL_MIN_LABELLED", 40,
                                    "fewest labelled customers (who may be profiled) to train on; below it the run "
                                    "trains nothing and says so", domain=Whole(lo=1))
    model_min_per_class: int = _knob("WORKBENCH_MODEL_MIN_PER_CLASS", 10,
                                     "fewest churned, and fewest not churned, among them", domain=Whole(lo=1))
    model_nested_max_rows: int = _knob("WORKBENCH_MODEL_NESTED_MAX_ROWS", 600,
                                       "up to this many labelled customers the model's figures come from a nested "
                                       "cross-validation (about six times the training time; 0 = never nested, the "
                                       "selection-corrected figures instead, a less strict gate on small tables)", domain=Whole(lo=0))
    leakage_allow: str = _knob("WORKBENCH_LEAKAGE_ALLOW", "", "comma-separated columns the leakage guard must keep", domain=COLUMNS)
    control_share: float = _knob("WORKBENCH_CONTROL_SHARE", 0.10, "share of contactable customers held out as control", domain=CONTROL_SHARE)
    min_control: int = _knob("WORKBENCH_MIN_CONTROL", 30,
                             "fewest control (and treated) customers with outcomes before an effect is reported", domain=Whole())
    value_column: str = _knob("WORKBENCH_VALUE_COLUMN", "",
                              "customers column with each customer's value: segments rank by probability x value, "
                              "uplift targeting by effect x value (empty: 1 each)", domain=COLUMN)
    llm_batch_size: int = _knob("WORKBENCH_LLM_BATCH_SIZE", 8, "feedback items per LLM request", domain=Whole(lo=1))
    llm_requests_per_minute: int = _knob("WORKBENCH_LLM_RPM", 30, "client-side request limit (0 = none)", domain=Whole())
    llm_tokens_per_minute: int = _knob("WORKBENCH_LLM_TPM", 6000, "client-side token limit (0 = none)", domain=Whole())
    llm_concurrency: int = _knob("WORKBENCH_LLM_CONCURRENCY", 4, "parallel LLM requests", domain=Whole(lo=1))
    llm_max_requests: int = _knob("WORKBENCH_LLM_MAX_REQUESTS", 2000, "LLM request budget per stage", domain=Whole())
    llm_max_tokens: int = _knob("WORKBENCH_LLM_MAX_TOKENS", 500_000, "LLM token budget per stage", domain=Whole())
    llm_timeout_s: float = _knob("WORKBENCH_LLM_TIMEOUT", 30.0, "seconds per LLM request", domain=Number(lo=0.1))
    # Tuning values of the LLM request engine (docs/llm.md).
    llm_max_attempts: int = _knob("WORKBENCH_LLM_MAX_ATTEMPTS", 4,
                                  "attempts of one request on errors (5xx, timeout, connection, bad reply)", domain=Whole(lo=1))
    llm_max_rate_limited: int = _knob("WORKBENCH_LLM_MAX_RATE_LIMITED", 8,
                                      "429s tolerated for one request (a 429 means \"later\", not \"broken\")", domain=Whole())
    llm_item_tries: int = _knob("WORKBENCH_LLM_ITEM_TRIES", 3,
                                "requests one item may be part of when its result is missing or invalid", domain=Whole(lo=1))
    llm_backoff_s: float = _knob("WORKBENCH_LLM_BACKOFF_S", 1.0, "backoff base in seconds (exponential, equal jitter)", domain=Number())
    llm_backoff_max_s: float = _knob("WORKBENCH_LLM_BACKOFF_MAX_S", 30.0, "backoff ceiling in seconds", domain=Number())
    llm_max_wait_s: float = _knob("WORKBENCH_LLM_MAX_WAIT_S", 60.0,
                                  "longest retry-after honoured; a 429 asking for more than twice this stops egress", domain=Number())
    llm_rate_window_s: float = _knob("WORKBENCH_LLM_RATE_WINDOW_S", 60.0, "rate limiter window in seconds", domain=Number(lo=0.1))
    llm_min_batch: int | None = _knob("WORKBENCH_LLM_MIN_BATCH", None,
                                      "smallest batch sent to use leftover capacity in the window (none: batch size / 4)", domain=Whole(lo=1))
    llm_max_text_chars: int = _knob("WORKBENCH_LLM_MAX_TEXT_CHARS", 1000, "feedback cut (at a word) before sending", domain=Whole(lo=1))
    llm_progress: bool = _knob("WORKBENCH_LLM_PROGRESS", True, "progress bar for LLM work", domain=FLAG)
    llm_progress_file: bool = _knob("WORKBENCH_LLM_PROGRESS_FILE", True,
                                    "progress lines of LLM work for the runner's terminal", domain=FLAG)
    llm_adapt: bool = _knob("WORKBENCH_LLM_ADAPT", True,
                            "when the first answers are slow or time out: one request at a time, one item per "
                            "request, a longer timeout (docs/llm.md)", domain=FLAG)
    llm_adapt_max_timeout_s: float = _knob("WORKBENCH_LLM_ADAPT_MAX_TIMEOUT", 300.0,
                                           "seconds per LLM request once the endpoint was found slow (the timeout "
                                           "is raised to this, never lowered)", domain=Number(lo=0.1))
    llm_reasoning_effort: str | None = _knob("WORKBENCH_LLM_REASONING_EFFORT", None,
                                             "reasoning_effort sent to gpt-oss (none: `low` on gpt-oss via groq, "
                                             "else not sent)", domain=REASONING_EFFORT)
    llm_max_completion_tokens: int = _knob("WORKBENCH_LLM_MAX_COMPLETION_TOKENS", 2048,
                                           "cap on max_tokens of one LLM request", domain=Whole(lo=1))
    llm_temperature: float | None = _knob("WORKBENCH_LLM_TEMPERATURE", 0.0, "sent with every request (`none`: not sent)", domain=Number(hi=2))
    llm_seed: int | None = _knob("WORKBENCH_LLM_SEED", 7, "sent with every request (`none`: not sent)", domain=Whole())
    llm_response_format: str = _knob("WORKBENCH_LLM_RESPONSE_FORMAT", "auto",
                                     "auto (json_schema, then json_object, then text), or one of those", domain=RESPONSE_FORMAT)
    llm_fallback_threshold: float = _knob("WORKBENCH_LLM_FALLBACK_THRESHOLD", 0.5,
                                          "a stage fails when a larger share of the items sent fell back", domain=Number(hi=1))
    egress_min_zipf: float = _knob("WORKBENCH_EGRESS_MIN_ZIPF", 3.0,
                                   "a word leaves only if its Zipf frequency in its language (wordfreq) is at least this", domain=Number())
    egress_name_min_zipf: float = _knob("WORKBENCH_EGRESS_NAME_MIN_ZIPF", 4.5,
                                        "... and at least this when it is also a person's name", domain=Number())
    egress_min_vetted_share: float = _knob("WORKBENCH_EGRESS_MIN_VETTED_SHARE", 0.5,
                                           "a text leaves only if at least this share of its words is in a language "
                                           "the allow rule has a frequency list for; else it is analysed offline",
                                           domain=Number(hi=1))
    egress_special_allowed: str = _knob("WORKBENCH_EGRESS_SPECIAL_ALLOWED", "",
                                        "special categories (GDPR Art. 9/10) that may leave, comma-separated "
                                        "(health, religion, ...; empty: none)", domain=SPECIAL_CATEGORIES)
    llm_profile: str = _knob("WORKBENCH_LLM_PROFILE", "", "preset of LLM settings, e.g. `local-cpu` (docs/llm.md)", domain=PROFILE)
    dask_scheduler: str = _knob("WORKBENCH_DASK_SCHEDULER", "",
                                "address of a running Dask scheduler (`tcp://host:8786`) for the per-customer work; "
                                "empty: a local cluster per run, sized to the machine", domain=SCHEDULER)
    dask_workers: int = _knob("WORKBENCH_DASK_WORKERS", 0, "worker processes of the local cluster (0 = one per CPU)", domain=Whole())
    dask_min_items: int = _knob("WORKBENCH_DASK_MIN_ITEMS", 20_000,
                                "a step with fewer items (texts, customers) runs in the stage's own process, "
                                "without the cluster", domain=Whole())

    def __post_init__(self):
        # Derived defaults: everything the workbench writes for one database lives together (one
        # workspace per database): the data dir is the database's folder unless set, and the audit
        # dir is inside it -- except for the project's own default workspace, whose audit/ stays at
        # the project root. The stage kernels derive the same paths from the same database path.
        set_ = object.__setattr__
        if self.data_dir is None:
            set_(self, "data_dir", Path(self.db_path).resolve().parent if self.db_path else DEFAULT_DATA_DIR)
        set_(self, "data_dir", Path(self.data_dir).resolve())
        set_(self, "db_path", database_file(self.db_path or self.data_dir / "workbench.duckdb"))
        default_audit = PROJECT_ROOT / "audit" if self.data_dir == DEFAULT_DATA_DIR.resolve() else self.data_dir / "audit"
        # The audit folder's own name is not resolved: a link planted there must stay visible, so
        # the workspace can refuse it (Workspace.prove_folders) instead of writing through it.
        audit_dir = Path(os.path.abspath(Path(self.audit_dir or default_audit).expanduser()))
        set_(self, "audit_dir", audit_dir.parent.resolve() / audit_dir.name)
        # The files the workbench writes are named, not followed: a link (or a folder, a device)
        # at a file's own name is refused here, naming its variable, before any command writes
        # (boundary.paths.written_file). Signed heads protect the database and the audit folder,
        # so neither default of theirs lives there.
        defaults = (("subject_key_file", lambda: self.data_dir / ".subject_key"),
                    ("signing_key_file", lambda: DEFAULT_SIGNING_KEY_FILE), ("heads_file", lambda: DEFAULT_HEADS_FILE),
                    ("subject_keystore", lambda: default_store(self.subject_key_file)))  # after the key file
        for name, default in defaults:
            set_(self, name, written_file(getattr(self, name) or default(), _env_of(name)))
        # Every path whole within the file system's limits before any folder of it is made.
        for name in FOLDER_SETTINGS:
            fits(Path(getattr(self, name)), _env_of(name))
        # Every value in its domain (a number in its range, a word of its list, an address that
        # can be dialled), named by its variable: a typo fails here, not in a stage -- or never,
        # when the stage that reads it does not run.
        for f in knobs():
            f.metadata["domain"].check(f.metadata["env"], getattr(self, f.name))
        if not (0 <= self.segment_high_share <= 1 and 0 <= self.segment_medium_share <= 1
                and self.segment_high_share + self.segment_medium_share <= 1):
            raise UsageError("WORKBENCH_SEGMENT_HIGH_SHARE and WORKBENCH_SEGMENT_MEDIUM_SHARE must lie in [0, 1] "
                             "and sum to at most 1")
        if self.model_nested_max_rows < 0:
            raise UsageError(f"WORKBENCH_MODEL_NESTED_MAX_ROWS must be a number of rows >= 0 (got {self.model_nested_max_rows})")


# The settings that name folders; every other path setting names a file the workbench writes.
FOLDER_SETTINGS = ("data_dir", "audit_dir")


def _env_of(name: str) -> str:
    return next((f.metadata["env"] for f in dataclasses.fields(Settings) if f.name == name), name)


def knobs() -> list[dataclasses.Field]:
    """The settings that have an environment variable, in declaration order."""
    return [f for f in dataclasses.fields(Settings) if f.metadata.get("env")]


# A WORKBENCH_* variable set to an empty or blank value (`WORKBENCH_DB=` in .env, `"$DB"` with DB
# unset) is refused, naming it: read as "not set" it would silently mean the default (another
# database, folder or key). The exceptions, each documented with its meaning of empty:
EMPTY_MEANS = {
    "WORKBENCH_VALUE_COLUMN": "1 each",
    "WORKBENCH_EGRESS_SPECIAL_ALLOWED": "none",
    "WORKBENCH_DASK_SCHEDULER": "a local cluster per run",
    # A secret read by `secret()`: empty is "no token", and beyond 127.0.0.1 the dashboard then
    # refuses to start (fails closed), as with none.
    "WORKBENCH_DASHBOARD_TOKEN": "no token",
}
# Variables read outside the settings (at import, as a secret, or by an LLM SDK the workbench
# starts), with their domains: `load_settings` checks each one that is set, as it does the settings.
OTHER_VARIABLES = {
    "WORKBENCH_HOME": (FOLDER, "the project folder, holding .env (so read from the environment only)"),
    "WORKBENCH_DASHBOARD_TOKEN": (SECRET, "login token of the dashboard beyond 127.0.0.1"),
    "OPENAI_BASE_URL": (ENDPOINT, "the OpenAI-compatible endpoint of `--llm openai` (read by its SDK)"),
    "OPENAI_API_KEY": (API_KEY, "the key of that endpoint (local servers take any value)"),
    # The groq SDK appends /openai/v1 itself: its base URL is the host root.
    "GROQ_BASE_URL": (Address(("http", "https"), "https://api.groq.com"), "Groq's host root, only to leave the default"),
    "GROQ_API_KEY": (API_KEY, "the key of `--llm groq`"),
}
_OTHER_VARIABLES = tuple(name for name in OTHER_VARIABLES if name.startswith("WORKBENCH_"))
# Those never shown, only said to be set or not.
SECRET_VARIABLES = tuple(name for name, (domain, _) in OTHER_VARIABLES.items() if domain in (SECRET, API_KEY))

# One secret given two ways: with both set, which one is in force would be a guess, and the wrong
# subject-ref key leaves tombstones and subject refs unmatchable. Refused, naming both.
ONE_SECRET = (("WORKBENCH_SUBJECT_KEY", "WORKBENCH_SUBJECT_KEY_FILE"),)


def check_other_variables() -> None:
    """Each variable of OTHER_VARIABLES that is set (not blank) lies in its domain."""
    for name, (domain, _) in OTHER_VARIABLES.items():
        value = os.environ.get(name, "").strip()
        if value:
            domain.check(name, value)


def check_one_secret(values: dict) -> None:
    """`values` (setting name -> value given, by a variable or an override) names at most one
    source of each secret of ONE_SECRET."""
    by_env = {f.metadata["env"]: f.name for f in knobs()}
    for first, second in ONE_SECRET:
        if values.get(by_env[first]) not in (None, "") and values.get(by_env[second]) not in (None, ""):
            raise UsageError(f"{first} and {second} are both set: they give one secret two ways; unset one "
                             "(the key and the key file must not both be given)")


# Secrets with different keepers: the dashboard token is handed to stakeholders, the subject-ref
# key stays with the data owner (whoever holds it can link pseudonyms to customers), the API keys
# with whoever pays the backend. One value serving two of them hands each keeper the others'.
DISTINCT_SECRETS = ("WORKBENCH_SUBJECT_KEY", "WORKBENCH_DASHBOARD_TOKEN", "OPENAI_API_KEY", "GROQ_API_KEY")


def check_distinct_secrets() -> None:
    """No two variables of DISTINCT_SECRETS that are set hold the same value."""
    seen: dict[str, str] = {}
    for name in DISTINCT_SECRETS:
        value = os.environ.get(name, "").strip()
        if not value:
            continue
        if value in seen:
            raise UsageError(f"{name} holds the same secret as {seen[value]}: each has another keeper (a dashboard "
                             "token is handed to stakeholders, the subject-ref key must stay with the data owner); "
                             "make a new one for one of them")
        seen[value] = name


def variables() -> list[str]:
    """Every WORKBENCH_* variable the workbench reads."""
    return [f.metadata["env"] for f in knobs()] + list(_OTHER_VARIABLES)


def check_variables() -> None:
    """Before anything reads a setting, every WORKBENCH_* variable of the environment (and so of
    `.env`, loaded into it) meets three rules, each refused in one line naming the variable (and
    no two secrets of DISTINCT_SECRETS share a value):
    - its name is one the workbench reads: a misspelt one (`WORKBENCH_RETENTON_DAYS`) would be
      silently ignored and what the user meant would never happen; the nearest known name is named;
    - it is not empty, blank included (EMPTY_MEANS aside);
    - its value holds no control character (a newline, a tab, NUL): never meant in a setting, and
      a model name or path holding one splits every line that prints it.
    """
    known = variables()
    for name in sorted(n for n in os.environ if n.startswith(_PREFIX)):
        value = os.environ[name]
        if name not in known:
            near = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f"did you mean {near[0]}?" if near else "`run_pipeline.py settings` lists every one"
            raise UsageError(f"{name} is not a setting of the workbench ({hint}); fix or unset it "
                             "(in the environment or .env)")
        if not value.strip() and name not in EMPTY_MEANS:
            raise UsageError(f"{name} is set but empty: unset it or give a value")
        if LINE_BREAKING.search(value):
            raise UsageError(f"{name}: its value holds a control character (a newline, a tab, ...) at position "
                             f"{LINE_BREAKING.search(value).start() + 1}; give the value on one line, without one")
    check_distinct_secrets()


_PREFIX = "WORKBENCH_"


def _parse(f: dataclasses.Field, raw: str):
    kind = str(f.type)
    if kind.endswith("| None") and raw.strip().lower() == "none":
        return None
    try:
        if kind.startswith("bool"):
            return FLAG.read(f.metadata["env"], raw)
        if kind.startswith("Path"):
            return raw  # as written: Path() would drop a trailing '/' (a folder where a file is meant)
        if kind.startswith("float"):
            return plain_float(raw)
        if kind.startswith("int"):
            return plain_int(raw)
    except ValueError:
        raise UsageError(f"{f.metadata['env']}={raw!r}: expected {WHOLE_NUMBER if kind.startswith('int') else NUMBER}") from None
    return raw


def load_settings(**overrides) -> Settings:
    """Settings from WORKBENCH_* variables (after loading `.env`), then explicit overrides.

    An override of None or "" means "not given" (papermill parameters default to "").
    """
    load_env()
    check_variables()
    values = {}
    for f in knobs():
        raw = os.environ.get(f.metadata["env"], "").strip()
        if raw:
            values[f.name] = _parse(f, raw)
    unknown = set(overrides) - {f.name for f in dataclasses.fields(Settings)}
    if unknown:
        raise TypeError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    values.update({k: v for k, v in overrides.items() if v is not None and v != ""})
    check_one_secret(values)
    check_other_variables()
    # A profile presets what was not set explicitly (by a variable or an override).
    check_profile(values.get("llm_profile", ""), "WORKBENCH_LLM_PROFILE")
    try:
        values = apply_profile(values, explicit=set(values))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return Settings(**values)


def select_llm_profile(name: str | None) -> None:
    """Make `name` this process's LLM profile, and that of every stage kernel it starts (they
    inherit the environment), unless empty."""
    if name:
        os.environ["WORKBENCH_LLM_PROFILE"] = name


# Dask's own settings for the run's processes (runner, kernels, workers inherit them): on a busy
# machine a process can hold its interpreter lock for long stretches, and the default 30 s
# before a connection counts as lost cancelled whole partitions.
DASK_ENV = {"DASK_DISTRIBUTED__COMM__TIMEOUTS__TCP": "300s", "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "120s"}


def export_scheduler(address: str) -> dict[str, str | None]:
    """Make `address` the Dask scheduler of every stage kernel this process starts (they inherit
    the environment), with DASK_ENV unless set; returns the previous values, for `restore_env`."""
    wanted = {"WORKBENCH_DASK_SCHEDULER": address,
              **{k: v for k, v in DASK_ENV.items() if not os.environ.get(k)}}
    previous = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    return previous


def restore_env(previous: dict[str, str | None]) -> None:
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
