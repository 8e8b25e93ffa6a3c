"""Export schemas: one declaration per format that both documents and validates it.

A `Schema` lists its fields once (name, type, description) and the record kinds that use
them. A single-kind format (order records) has one unnamed kind; a multi-kind format (the
trade report: trades then totals) names its kinds in a discriminator column (`record`, or
`event_type` for CAT events) that comes first in every row.

Every row an export writes goes through `Schema.check_row` before it is written, and
`validate_file` re-reads a written file and checks every line against the same schema.
The documentation in spec/exports.md is rendered from these declarations
(`venue.reporting.spec`), and a test keeps the two in step.

Values on the wire, in both CSV and JSON lines:

| type        | JSON lines            | CSV                    | example                          |
|-------------|-----------------------|------------------------|----------------------------------|
| `int`       | number                | digits, optional `-`   | `42`                             |
| `decimal`   | string                | the same string        | `"190.01"` (never an exponent)   |
| `timestamp` | string                | the same string        | `"2024-05-01T13:45:12.123456Z"`  |
| `string`    | non-empty string      | the text               | `"CLIENT1"`                      |
| `enum`      | one of listed strings | the text               | `"NEWO"`                         |
| null        | `null`                | empty field            |                                  |
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

TYPES = ("int", "decimal", "timestamp", "string", "enum")

DECIMAL_RE = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?")
TIMESTAMP_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
INT_RE = re.compile(r"-?(0|[1-9][0-9]*)")


class ExportValidationError(ValueError):
    """A row does not match its format's schema (at write time: a bug in the export)."""


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a format. `values` lists an enum's allowed values and their meaning."""

    name: str
    type: str
    description: str
    values: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"{self.name}: unknown type {self.type!r}")
        if (self.type == "enum") != bool(self.values):
            raise ValueError(f"{self.name}: an enum needs values, and only an enum has them")


@dataclass(frozen=True, slots=True)
class Slot:
    """A field as one record kind carries it: required (never null) or nullable."""

    field: Field
    nullable: bool


def _wire_check(f: Field) -> Callable[[Any], bool]:
    """A check of a non-null value as written (JSON types: int, str)."""
    if f.type == "int":
        return lambda v: type(v) is int
    if f.type == "decimal":
        match = DECIMAL_RE.fullmatch
        return lambda v: type(v) is str and match(v) is not None
    if f.type == "timestamp":
        match = TIMESTAMP_RE.fullmatch
        return lambda v: type(v) is str and match(v) is not None
    if f.type == "string":
        return lambda v: type(v) is str and v != ""
    allowed = frozenset(f.values)
    return lambda v: type(v) is str and v in allowed


def _text_check(f: Field) -> Callable[[str], bool]:
    """A check of a non-empty CSV field (always text)."""
    if f.type == "int":
        return lambda v: INT_RE.fullmatch(v) is not None
    if f.type == "decimal":
        return lambda v: DECIMAL_RE.fullmatch(v) is not None
    if f.type == "timestamp":
        return _valid_timestamp
    if f.type == "string":
        return lambda v: v != ""
    allowed = frozenset(f.values)
    return lambda v: v in allowed


def _valid_timestamp(v: Any) -> bool:
    if type(v) is not str or TIMESTAMP_RE.fullmatch(v) is None:
        return False
    try:
        datetime.strptime(v, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        return False
    return True


def _compile(kind_field: str | None, slots: tuple[Slot, ...]) -> Callable[[Any], bool]:
    """One function checking a whole row of a kind, with every field's test inline: the
    check runs on every row written, so it avoids a call per field."""
    env: dict[str, Any] = {"_dec": DECIMAL_RE.fullmatch, "_ts": TIMESTAMP_RE.fullmatch}
    lines = [
        "def check(row):",
        f"    if len(row) != {len(slots) + (1 if kind_field else 0)}:",
        "        return False",
        "    try:",
    ]
    for i, slot in enumerate(slots):
        f = slot.field
        v = f"row[{f.name!r}]"
        lines.append(f"        v = {v}")
        if f.type == "int":
            test = "type(v) is int"
        elif f.type == "decimal":
            test = "type(v) is str and _dec(v) is not None"
        elif f.type == "timestamp":
            test = "type(v) is str and _ts(v) is not None"
        elif f.type == "string":
            test = "type(v) is str and v != ''"
        else:
            env[f"_enum{i}"] = frozenset(f.values)
            test = f"type(v) is str and v in _enum{i}"
        if slot.nullable:
            lines.append(f"        if v is not None and not ({test}):")
        else:
            lines.append(f"        if not ({test}):")
        lines.append("            return False")
    lines += ["    except KeyError:", "        return False", "    return True"]
    exec("\n".join(lines), env)  # noqa: S102 - source built above from the schema only
    return env["check"]  # type: ignore[no-any-return]


class Schema:
    """A documented export format.

    fields: every field once. kinds: record kind -> the names of its fields in order, a
    trailing "?" marking a nullable one. kind_field: the discriminator column, or None for
    a single-kind format (its one kind is named "").
    """

    def __init__(
        self,
        name: str,
        title: str,
        description: str,
        fields: Iterable[Field],
        kinds: Mapping[str, Iterable[str]],
        kind_field: str | None = None,
        kind_descriptions: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.title = title
        self.description = description
        self.fields: dict[str, Field] = {}
        for f in fields:
            if f.name in self.fields:
                raise ValueError(f"{name}: field {f.name} declared twice")
            self.fields[f.name] = f
        self.kind_field = kind_field
        self.kind_descriptions = dict(kind_descriptions or {})
        if kind_field is None and list(kinds) != [""]:
            raise ValueError(f"{name}: a single-kind schema has one kind named ''")
        self.kinds: dict[str, tuple[Slot, ...]] = {}
        used: list[str] = []
        for kind, names in kinds.items():
            slots = []
            for spec in names:
                field_name = spec.rstrip("?")
                if field_name not in self.fields:
                    raise ValueError(f"{name}: kind {kind!r} names unknown field {field_name}")
                slots.append(Slot(self.fields[field_name], spec.endswith("?")))
                if field_name not in used:
                    used.append(field_name)
            self.kinds[kind] = tuple(slots)
        unused = set(self.fields) - set(used)
        if unused:
            raise ValueError(f"{name}: fields no kind uses: {sorted(unused)}")
        # CSV columns: the discriminator, then every field in order of first use.
        self.columns: tuple[str, ...] = ((kind_field,) if kind_field else ()) + tuple(used)
        self._wire = {
            kind: tuple((s.field.name, s.nullable, _wire_check(s.field)) for s in slots)
            for kind, slots in self.kinds.items()
        }
        self._text = {
            kind: tuple((s.field.name, s.nullable, _text_check(s.field)) for s in slots)
            for kind, slots in self.kinds.items()
        }
        self._keys = {
            kind: frozenset(s.field.name for s in slots) | ({kind_field} if kind_field else set())
            for kind, slots in self.kinds.items()
        }
        self._fast = {kind: _compile(kind_field, slots) for kind, slots in self.kinds.items()}

    def __repr__(self) -> str:
        return f"Schema({self.name!r})"

    def kind_of(self, row: Mapping[str, Any]) -> str:
        return "" if self.kind_field is None else row.get(self.kind_field, None)  # type: ignore[return-value]

    # -- validation -------------------------------------------------------------------------

    def problems(self, row: Mapping[str, Any]) -> list[str]:
        """What is wrong with a row as an export writes it (JSON types); [] if nothing."""
        kind = self.kind_of(row)
        checks = self._wire.get(kind)  # type: ignore[arg-type]
        if checks is None:
            return [f"{self.kind_field}: unknown record kind {kind!r}"]
        out = []
        keys = self._keys[kind]  # type: ignore[index]
        extra = [k for k in row if k not in keys]
        if extra:
            out.append(f"fields not in a {kind or self.name} row: {', '.join(sorted(extra))}")
        for name, nullable, check in checks:
            if name not in row:
                out.append(f"{name}: missing")
                continue
            value = row[name]
            if value is None:
                if not nullable:
                    out.append(f"{name}: null but required")
            elif not check(value):
                out.append(f"{name}: {value!r} is not a valid {self.fields[name].type}")
        return out

    def check_row(self, row: Mapping[str, Any]) -> None:
        """Raise ExportValidationError if the row does not match the schema."""
        fast = self._fast.get(self.kind_of(row))  # type: ignore[arg-type]
        if fast is None or not fast(row):
            problems = self.problems(row)
            raise ExportValidationError(f"{self.name} row {dict(row)!r}: " + "; ".join(problems))

    def check_json(self, row: Any) -> list[str]:
        """Problems of one parsed JSON line (timestamps also checked as real dates)."""
        if not isinstance(row, dict):
            return [f"not a JSON object: {row!r}"]
        out = self.problems(row)
        if not out:
            kind = self.kind_of(row)
            for slot in self.kinds[kind]:
                value = row[slot.field.name]
                if (
                    slot.field.type == "timestamp"
                    and value is not None
                    and not _valid_timestamp(value)
                ):
                    out.append(f"{slot.field.name}: {value!r} is not a real UTC time")
        return out

    def check_csv(self, values: list[str]) -> list[str]:
        """Problems of one CSV data row, given as the list of its fields."""
        if len(values) != len(self.columns):
            return [f"{len(values)} fields, the header has {len(self.columns)}"]
        row = dict(zip(self.columns, values, strict=True))
        kind = "" if self.kind_field is None else row[self.kind_field]
        checks = self._text.get(kind)
        if checks is None:
            return [f"{self.kind_field}: unknown record kind {kind!r}"]
        out = []
        carried = self._keys[kind]
        for name, value in row.items():
            if name not in carried and value != "":
                out.append(f"{name}: {value!r} in a {kind} row, which has no such field")
        for name, nullable, check in checks:
            value = row[name]
            if value == "":
                if not nullable:
                    out.append(f"{name}: empty but required")
            elif not check(value):
                out.append(f"{name}: {value!r} is not a valid {self.fields[name].type}")
        return out

    def csv_values(self, row: Mapping[str, Any]) -> list[Any]:
        """The row as CSV fields in column order (None is written as an empty field)."""
        return [row.get(c) for c in self.columns]

    def from_csv(self, values: list[str]) -> dict[str, Any]:
        """A CSV data row back as typed values, with only the fields its kind carries."""
        row = dict(zip(self.columns, values, strict=True))
        kind = "" if self.kind_field is None else row[self.kind_field]
        out: dict[str, Any] = {self.kind_field: kind} if self.kind_field else {}
        for slot in self.kinds[kind]:
            value = row[slot.field.name]
            if value == "":
                out[slot.field.name] = None
            elif slot.field.type == "int":
                out[slot.field.name] = int(value)
            else:
                out[slot.field.name] = value
        return out
