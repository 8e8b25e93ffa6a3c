"""Render the export schemas as the field tables of spec/exports.md.

    python -m venue.reporting.spec spec/exports.md           # rewrite the generated parts
    python -m venue.reporting.spec --check spec/exports.md   # exit 1 if they are stale

The prose of spec/exports.md is written by hand. Each format's tables sit between
`<!-- BEGIN GENERATED fields NAME -->` and `<!-- END GENERATED fields NAME -->`, and only
those parts are rewritten; tests/test_reporting.py fails when they are not current.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from venue.reporting.formats import SCHEMAS
from venue.reporting.schema import Field, Schema

_BLOCK = re.compile(
    r"(<!-- BEGIN GENERATED fields (?P<name>[a-z-]+) -->\n)(?P<body>.*?)"
    r"(<!-- END GENERATED fields (?P=name) -->)",
    re.DOTALL,
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _describe(f: Field) -> str:
    text = f.description
    if f.values:
        text += " Values: " + "; ".join(f"`{v}` {meaning}" for v, meaning in f.values.items())
        text += "."
    return _cell(text)


def render_fields(schema: Schema) -> str:
    """The Markdown of one schema: its description, record kinds (if several), fields."""
    lines: list[str] = [schema.description, ""]
    if schema.kind_field is not None:
        lines += [
            f"Record kinds, in the `{schema.kind_field}` column (first in every row):",
            "",
            f"| `{schema.kind_field}` | meaning |",
            "|---|---|",
        ]
        lines += [
            f"| `{kind}` | {_cell(schema.kind_descriptions.get(kind, ''))} |"
            for kind in schema.kinds
        ]
        lines += [
            "",
            "Fields, in CSV column order. *In* lists the record kinds that carry the field "
            "(`?`: may be null there); in other kinds it is absent from JSON lines and empty "
            "in CSV.",
            "",
            "| field | type | in | description |",
            "|---|---|---|---|",
        ]
        carried: dict[str, list[str]] = {name: [] for name in schema.fields}
        for kind, slots in schema.kinds.items():
            for slot in slots:
                carried[slot.field.name].append(f"`{kind}`" + ("?" if slot.nullable else ""))
        for name in schema.columns[1:]:
            f = schema.fields[name]
            lines.append(f"| `{name}` | {f.type} | {', '.join(carried[name])} | {_describe(f)} |")
    else:
        lines += [
            "Fields, in CSV column order (*null*: may be null; empty in CSV).",
            "",
            "| field | type | null | description |",
            "|---|---|---|---|",
        ]
        for slot in schema.kinds[""]:
            f = slot.field
            null = "yes" if slot.nullable else ""
            lines.append(f"| `{f.name}` | {f.type} | {null} | {_describe(f)} |")
    return "\n".join(lines) + "\n"


def update_spec(text: str) -> str:
    """The text with every generated block replaced by the current tables."""

    def replace(match: re.Match[str]) -> str:
        schema = SCHEMAS[match.group("name")]
        return match.group(1) + render_fields(schema) + match.group(4)

    return _BLOCK.sub(replace, text)


def blocks(text: str) -> list[str]:
    """The names of the formats that have a generated block in the text."""
    return [m.group("name") for m in _BLOCK.finditer(text)]


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    args = [a for a in args if a != "--check"]
    path = Path(args[0] if args else "spec/exports.md")
    text = path.read_text(encoding="utf-8")
    missing = sorted(set(SCHEMAS) - set(blocks(text)))
    if missing:
        print(f"{path}: no generated block for {', '.join(missing)}", file=sys.stderr)
        return 1
    new = update_spec(text)
    if check:
        if new != text:
            print(f"{path} is stale: run python -m venue.reporting.spec {path}", file=sys.stderr)
            return 1
        return 0
    if new != text:
        path.write_text(new, encoding="utf-8")
        print(f"{path} updated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
