"""Regulatory and surveillance exports from the venue's SQL store.

    .venv/bin/python scripts/export.py order-records --db URL --date 2024-05-01 --out records.csv
    .venv/bin/python scripts/export.py cat-events --db URL --start 2024-05-01T13:00 \
        --end 2024-05-01T14:00 --firm FIRM1 --format jsonl --out cat.jsonl
    .venv/bin/python scripts/export.py trades --db URL --date 2024-05-01 --out trades.csv
    .venv/bin/python scripts/export.py surveillance --db URL --date 2024-05-01 --window-ms 500
    .venv/bin/python scripts/export.py validate records.csv --export order-records

A thin wrapper over venue.reporting (the same commands as `venue export ...`); formats,
fields and definitions are in spec/exports.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from venue.reporting.cli import export  # noqa: E402

if __name__ == "__main__":
    export()
