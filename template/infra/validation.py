"""Small, explicit checks for TOML values; each failure is one sentence for a human.

Every message has the same shape, so a user can fix deploy.toml without reading code:
    deploy.toml: [lambda] memory_mb = 64 is not allowed: use a whole number from 128 to 10240
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# A rule returns the accepted value, or raises Refused with what is allowed.
Rule = Callable[[Any], Any]


class Refused(ValueError):
    """A value broke a rule; the text says what is allowed."""


@dataclass(frozen=True)
class Problem:
    section: str
    key: str
    value: Any
    allowed: str

    def __str__(self) -> str:
        where = f"[{self.section}] {self.key}" if self.key else f"[{self.section}]"
        if self.value is MISSING:
            return f"{where} is missing: {self.allowed}"
        return f"{where} = {toml_repr(self.value)} is not allowed: {self.allowed}"


MISSING = object()


def toml_repr(value: Any) -> str:
    """Show a value the way it is written in TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_repr(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_repr(v)}" for k, v in value.items()) + "}"
    return str(value)


def whole_number(low: int, high: int) -> Rule:
    def check(value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            return value
        raise Refused(f"use a whole number from {low} to {high}")

    return check


def one_of(*choices: Any) -> Rule:
    def check(value: Any) -> Any:
        if value in choices and type(value) in {type(choice) for choice in choices}:
            return value
        raise Refused(f"use one of {', '.join(toml_repr(choice) for choice in choices)}")

    return check


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise Refused("use true or false")


def text(pattern: str, description: str) -> Rule:
    compiled = re.compile(pattern)

    def check(value: Any) -> str:
        if isinstance(value, str) and compiled.fullmatch(value):
            return value
        raise Refused(f"use {description}")

    return check


def list_of(item: Rule, description: str) -> Rule:
    def check(value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise Refused(f'use a list of {description}, e.g. [] or ["..."]')
        checked = []
        for element in value:
            try:
                checked.append(item(element))
            except Refused as refused:
                raise Refused(f"entry {toml_repr(element)} is wrong: {refused}") from None
        return tuple(checked)

    return check


def table_of_values(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    raise Refused('use a table, e.g. { name = "value" }')


@dataclass(frozen=True)
class Field:
    rule: Rule
    default: Any = MISSING
    # Written into the "missing" message, e.g. 'add region = "us-east-1"'.
    hint: str = ""


class SectionReader:
    """Reads one TOML table against its fields, collecting problems instead of stopping."""

    def __init__(self, section: str, table: Any, problems: list[Problem]) -> None:
        self.section = section
        self.table = table if isinstance(table, dict) else {}
        self.problems = problems
        if not isinstance(table, dict):
            problems.append(Problem(section, "", table, "it must be a table, e.g. [section]"))

    def read(self, fields: Mapping[str, Field]) -> dict[str, Any]:
        self._refuse_unknown_keys(fields)
        values: dict[str, Any] = {}
        for key, field in fields.items():
            raw = self.table.get(key, field.default)
            if raw is None:  # an optional key left out (TOML itself has no null)
                values[key] = None
                continue
            if raw is MISSING:
                self.problems.append(Problem(self.section, key, MISSING, field.hint))
                values[key] = None
                continue
            try:
                values[key] = field.rule(raw)
            except Refused as refused:
                self.problems.append(Problem(self.section, key, raw, str(refused)))
                values[key] = None
        return values

    def refuse(self, key: str, value: Any, allowed: str) -> None:
        self.problems.append(Problem(self.section, key, value, allowed))

    def _refuse_unknown_keys(self, fields: Sequence[str]) -> None:
        for key in self.table:
            if key not in fields:
                known = ", ".join(fields)
                self.problems.append(
                    Problem(
                        self.section, key, self.table[key], f"it is not a known key; use {known}"
                    )
                )
