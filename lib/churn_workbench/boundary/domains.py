"""What a setting may hold: its domain, declared beside the setting and checked at load.

Every setting of `config.Settings` names one of these, and `Settings` applies each one to its
value before anything runs, so a value outside its domain (a format no endpoint speaks, an
empty name in a list, an address that cannot be dialled) is refused in one line naming the
variable, not found by the stage that first reads it (or never, when that stage does not run).

Each domain says what it accepts in the words of the refusal (`expected`) and of the README's
settings table, so the two never drift: `NAME=value: expected <expected>`.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import UsageError
from .name_lists import comma_names
from .numbers import MAX_COUNT, check_range


class Domain:
    """The values a setting may take, described by `expected` (a field or a property of each
    domain). `check` raises UsageError naming `name` for any other value."""

    def check(self, name: str, value) -> None:  # pragma: no cover - every domain overrides it
        raise NotImplementedError

    def refuse(self, name: str, value, why: str = "") -> UsageError:
        return UsageError(f"{name}={value}: {why + '; ' if why else ''}expected {self.expected}")


@dataclass(frozen=True)
class Number(Domain):
    """A number in [lo, hi] (None: unbounded above; whole numbers stop at MAX_COUNT)."""

    lo: float | None = 0
    hi: float | None = None

    @property
    def expected(self) -> str:
        if self.hi is None:
            return f"a number from {self.lo:g}" if self.lo is not None else "a number"
        return f"a number from {self.lo:g} to {self.hi:g}"

    def check(self, name: str, value) -> None:
        check_range(name, value, self.lo, self.hi)


# The words a yes/no setting is written with; anything else is a typo (`flase`), not "yes".
FLAG_WORDS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


@dataclass(frozen=True)
class Whole(Number):
    """A whole number in [lo, hi]; without hi, up to MAX_COUNT (check_range's ceiling for ints)."""

    @property
    def expected(self) -> str:
        return f"a whole number from {self.lo:g} to {self.hi if self.hi is not None else MAX_COUNT}"


@dataclass(frozen=True)
class Flag(Domain):
    expected: str = f"one of {', '.join(FLAG_WORDS)}"

    def read(self, name: str, raw: str) -> bool:
        word = raw.strip().lower()
        if word not in FLAG_WORDS:
            raise self.refuse(name, raw)
        return FLAG_WORDS[word]

    def check(self, name: str, value) -> None:
        if not isinstance(value, bool):
            raise self.refuse(name, value)


@dataclass(frozen=True)
class PathName(Domain):
    """A file or folder. Its checks need the other paths (a default beside another file, a
    link at its name, the file system's limits), so `Settings.__post_init__` makes them, with
    boundary.paths, before it applies the domains; here there is nothing left to check."""

    expected: str = "a path"

    def check(self, name: str, value) -> None:
        return None


@dataclass(frozen=True)
class Choices(Domain):
    """One word of a closed list; in any case (`JSON_SCHEMA` is json_schema) when its reader
    folds it, as written when the word is passed on as it is (to an endpoint)."""

    choices: tuple[str, ...]
    any_case: bool = True

    @property
    def expected(self) -> str:
        return f"one of {', '.join(self.choices)}"

    def check(self, name: str, value) -> None:
        word = None if value is None else str(value).strip()
        if word is not None and (word.lower() if self.any_case else word) not in self.choices:
            raise self.refuse(name, value)


@dataclass(frozen=True)
class Names(Domain):
    """A comma-separated list of names: no empty item, none twice, and when `known` is given
    (a tuple, or a callable for a list registered at run time) each one of those, in any case."""

    what: str
    plural: str
    known: tuple[str, ...] | Callable[[], Iterable[str]] | None = None

    @property
    def expected(self) -> str:
        return f"{self._listed()} separated by commas"

    def _listed(self) -> str:
        known = self._known()
        return f"{self.plural} ({', '.join(known)})" if known is not None else self.plural

    def _known(self) -> tuple[str, ...] | None:
        return tuple(self.known() if callable(self.known) else self.known) if self.known is not None else None

    def check(self, name: str, value) -> None:
        names = comma_names(value or "", name, self.what, self._listed())  # no empty item, none twice as written
        known = self._known()
        if known is None:
            return
        unknown = [n for n in names if n.lower() not in known]
        if unknown:
            raise self.refuse(name, value, f"unknown {self.what} {', '.join(unknown)}")
        folded = [n.lower() for n in names]
        twice = sorted({n for n in folded if folded.count(n) > 1})
        if twice:
            raise self.refuse(name, value, f"{', '.join(twice)} given twice")


@dataclass(frozen=True)
class Address(Domain):
    """A network address: a URL of one of `schemes` with a host (and a port when `port`), no
    spaces. A scheme is always required: `localhost:8000` reads as a scheme `localhost`, and a
    bare path or a `file:` URL cannot be dialled at all."""

    schemes: tuple[str, ...]
    example: str
    port: bool = False  # a port is required, and nothing may follow it (a scheduler's address)

    @property
    def expected(self) -> str:
        return f"an address starting {' or '.join(s + '://' for s in self.schemes)}{' with a port' if self.port else ''}, " \
               f"e.g. {self.example}"

    def check(self, name: str, value) -> None:
        if not value:
            return  # empty means its documented default (config.EMPTY_MEANS)
        text = str(value)
        if any(c.isspace() for c in text):
            raise self.refuse(name, value, "an address holds no spaces")
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError as exc:
            raise self.refuse(name, value, str(exc)) from None
        if parts.scheme.lower() not in self.schemes or not parts.netloc:
            raise self.refuse(name, value)
        if not parts.hostname:
            raise self.refuse(name, value, "no host")
        if self.port and port is None:
            raise self.refuse(name, value, "no port")
        if self.port and (parts.path not in ("", "/") or parts.query or parts.fragment):
            raise self.refuse(name, value, "nothing may follow the port")


@dataclass(frozen=True)
class Word(Domain):
    """One word without spaces, e.g. a model id (`openai/gpt-oss-20b`, `qwen2.5:7b`)."""

    what: str
    example: str

    @property
    def expected(self) -> str:
        return f"{self.what} without spaces, e.g. {self.example}"

    _WORD = re.compile(r"[^\s,;'\"`]+")

    def check(self, name: str, value) -> None:
        if value is not None and not self._WORD.fullmatch(str(value)):
            raise self.refuse(name, value)


@dataclass(frozen=True)
class Checked(Domain):
    """A domain whose rule lives with the option that mirrors the setting (boundary.paired) or
    with what it protects: `check(value, name)` raises the one-line refusal itself."""

    expected: str
    rule: Callable

    def check(self, name: str, value) -> None:
        if value is not None:
            self.rule(value, name)
