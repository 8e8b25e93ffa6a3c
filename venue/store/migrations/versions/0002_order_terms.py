"""Order terms of stop, stop-limit, post-only, GTD, MinQty and iceberg orders: nullable
columns stop_px, exec_inst, expire_us, expire_date, min_qty, max_floor on orders and
order_events.

Revision ID: 0002_order_terms
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_order_terms"
down_revision = "0001"
branch_labels = None
depends_on = None

PRICE = sa.Numeric(precision=24, scale=8)
TABLES = ("orders", "order_events")


def _columns() -> list[sa.Column]:
    return [
        sa.Column("stop_px", PRICE, nullable=True),
        sa.Column("exec_inst", sa.String(length=8), nullable=True),
        sa.Column("expire_us", sa.BigInteger(), nullable=True),
        sa.Column("expire_date", sa.Integer(), nullable=True),
        sa.Column("min_qty", sa.BigInteger(), nullable=True),
        sa.Column("max_floor", sa.BigInteger(), nullable=True),
    ]


def upgrade() -> None:
    for table in TABLES:
        for column in _columns():
            op.add_column(table, column)


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:  # SQLite drops columns by copying
            for column in reversed(_columns()):
                batch.drop_column(column.name)
