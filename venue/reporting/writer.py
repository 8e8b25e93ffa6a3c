"""Writing and re-reading export files: CSV or JSON lines, every row checked on the way.

    with RowWriter(out, schema, "csv", progress) as w:
        w.write({...})                   # ExportValidationError if the row is not valid
    result = validate_file(path, schema)  # re-read and check every line

`out` is a path (written to a temporary file beside it, renamed into place only when the
export completes, so a failed export never leaves half a file under the final name), "-"
for standard output, or an open text stream (left open).
"""

from __future__ import annotations

import csv
import io
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import IO, Any, TextIO

import orjson

from venue.reporting.schema import Schema

FORMATS = ("csv", "jsonl")
PROGRESS_EVERY = 10_000  # rows between two progress callbacks

Output = str | os.PathLike[str] | TextIO
Progress = Callable[[int], None]


def format_for(path: str | os.PathLike[str] | None, default: str) -> str:
    """The format a file name implies (.csv, .jsonl/.ndjson/.json), else `default`."""
    suffix = Path(str(path)).suffix.lower() if path is not None else ""
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    return default


@contextmanager
def open_output(out: Output) -> Iterator[tuple[TextIO, str | None]]:
    """A text stream to write to, and the final path if `out` names a file."""
    if not isinstance(out, str | os.PathLike):
        yield out, None
        return
    if str(out) == "-":
        yield sys.stdout, None
        sys.stdout.flush()
        return
    final = Path(out)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="", buffering=1 << 20) as stream:
            yield stream, str(final)
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class RowWriter:
    """Writes the rows of one schema in one format; validates each row before writing."""

    def __init__(
        self,
        stream: TextIO,
        schema: Schema,
        fmt: str,
        progress: Progress | None = None,
        progress_every: int = PROGRESS_EVERY,
    ) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
        self.schema = schema
        self.fmt = fmt
        self.rows = 0
        self.counts: Counter[str] = Counter()
        self._stream = stream
        self._progress = progress
        self._every = progress_every
        self._next_progress = progress_every
        self._check = schema.check_row
        self._kind_field = schema.kind_field
        if fmt == "csv":
            self._csv = csv.writer(stream, lineterminator="\n")
            self._csv.writerow(schema.columns)
            writerow = self._csv.writerow
            if schema.kind_field is None:
                getter = itemgetter(*schema.columns)

                def emit(row: dict[str, Any]) -> None:
                    writerow(getter(row))

            else:
                layouts = _kind_layouts(schema)
                width = len(schema.columns)

                def emit(row: dict[str, Any]) -> None:
                    positions, get = layouts[row[schema.kind_field]]  # type: ignore[index]
                    values: list[Any] = [None] * width
                    for position, value in zip(positions, get(row), strict=True):
                        values[position] = value
                    writerow(values)

        else:
            dumps = orjson.dumps
            write = stream.write

            def emit(row: dict[str, Any]) -> None:
                write(dumps(row).decode())
                write("\n")

        self._emit = emit

    def write(self, row: dict[str, Any]) -> None:
        self._check(row)
        self._emit(row)
        self.rows += 1
        self.counts[row[self._kind_field] if self._kind_field else self.schema.name] += 1
        if self._progress is not None and self.rows >= self._next_progress:
            self._next_progress += self._every
            self._progress(self.rows)

    def finish(self) -> None:
        self._stream.flush()
        if self._progress is not None:
            self._progress(self.rows)


def _kind_layouts(schema: Schema) -> dict[str, tuple[tuple[int, ...], itemgetter[Any]]]:
    """Per record kind: the CSV positions of its fields and a getter of their values."""
    index = {name: i for i, name in enumerate(schema.columns)}
    out = {}
    for kind, slots in schema.kinds.items():
        names = (schema.kind_field, *(s.field.name for s in slots))
        out[kind] = (tuple(index[n] for n in names), itemgetter(*names))  # type: ignore[index]
    return out


@dataclass
class ValidationResult:
    """What validate_file found: rows read, rows per kind, and the first problems."""

    schema: str
    fmt: str
    rows: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    error_count: int = 0

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def add(self, line: int, problems: list[str], limit: int) -> None:
        self.error_count += 1
        if len(self.errors) < limit:
            self.errors.append(f"line {line}: " + "; ".join(problems))


RowCheck = Callable[[dict[str, Any]], list[str]]


def validate_file(
    source: str | os.PathLike[str] | IO[str],
    schema: Schema,
    fmt: str | None = None,
    max_errors: int = 20,
    file_checks: Callable[[], tuple[RowCheck, Callable[[], list[str]]]] | None = None,
) -> ValidationResult:
    """Re-read an export and check every line against the schema (streaming).

    fmt defaults to what the file name says (else CSV). file_checks, if given, makes a pair
    (per-row check of the typed row, end-of-file check) for rules across rows, such as
    sequence order or totals that must equal the sum of the rows above them.
    """
    if fmt is None:
        fmt = format_for(source if isinstance(source, str | os.PathLike) else None, "csv")
    result = ValidationResult(schema.name, fmt)
    row_check, end_check = file_checks() if file_checks else (None, None)
    with _open_input(source) as stream:
        if fmt == "csv":
            rows = _csv_rows(stream, schema, result, max_errors)
        else:
            rows = _json_rows(stream, schema, result, max_errors)
        for line, row in rows:
            result.rows += 1
            if row is None:
                continue
            result.counts[row[schema.kind_field] if schema.kind_field else schema.name] += 1
            if row_check is not None:
                problems = row_check(row)
                if problems:
                    result.add(line, problems, max_errors)
    if end_check is not None:
        problems = end_check()
        if problems:
            result.add(result.rows + (1 if fmt == "csv" else 0), problems, max_errors)
    return result


@contextmanager
def _open_input(source: str | os.PathLike[str] | IO[str]) -> Iterator[IO[str]]:
    if isinstance(source, str | os.PathLike):
        with open(source, encoding="utf-8", newline="") as stream:
            yield stream
    else:
        yield source


def _csv_rows(
    stream: IO[str], schema: Schema, result: ValidationResult, limit: int
) -> Iterator[tuple[int, dict[str, Any] | None]]:
    reader = csv.reader(stream)
    header = next(reader, None)
    if header is None:
        result.add(1, ["empty file: no header"], limit)
        return
    if tuple(header) != schema.columns:
        result.add(1, [f"header is not the {schema.name} columns {list(schema.columns)}"], limit)
        return
    for values in reader:
        line = reader.line_num
        problems = schema.check_csv(values)
        if problems:
            result.add(line, problems, limit)
            yield line, None
            continue
        yield line, schema.from_csv(values)


def _json_rows(
    stream: IO[str], schema: Schema, result: ValidationResult, limit: int
) -> Iterator[tuple[int, dict[str, Any] | None]]:
    for line, text in enumerate(stream, 1):
        try:
            row = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            result.add(line, [f"not JSON: {exc}"], limit)
            yield line, None
            continue
        problems = schema.check_json(row)
        if problems:
            result.add(line, problems, limit)
            yield line, None
            continue
        yield line, row


def render(rows: list[dict[str, Any]], schema: Schema, fmt: str) -> str:
    """Rows as the text an export would write (for small outputs and tests)."""
    buffer = io.StringIO()
    writer = RowWriter(buffer, schema, fmt)
    for row in rows:
        writer.write(row)
    writer.finish()
    return buffer.getvalue()
