"""The initial schema: orders, executions, trades, order_events, projector_state.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Integer keys alias the rowid on SQLite; BIGINT elsewhere (as in venue/store/models.py).
KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
PRICE = sa.Numeric(precision=24, scale=8)
CODE = sa.String(length=1)
NAME = sa.String(length=64)


def upgrade() -> None:
    op.create_table(
        "executions",
        sa.Column("exec_id", KEY, autoincrement=False, nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=True),
        sa.Column("session", NAME, nullable=False),
        sa.Column("firm", NAME, nullable=False),
        sa.Column("account", sa.String(), nullable=True),
        sa.Column("cl_ord_id", sa.String(), nullable=False),
        sa.Column("orig_cl_ord_id", sa.String(), nullable=True),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("side", CODE, nullable=False),
        sa.Column("exec_type", sa.String(length=16), nullable=False),
        sa.Column("ord_status", CODE, nullable=False),
        sa.Column("price", PRICE, nullable=True),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("last_px", PRICE, nullable=True),
        sa.Column("last_qty", sa.BigInteger(), nullable=True),
        sa.Column("cum_qty", sa.BigInteger(), nullable=False),
        sa.Column("leaves_qty", sa.BigInteger(), nullable=False),
        sa.Column("avg_px", PRICE, nullable=False),
        sa.Column("trade_id", sa.BigInteger(), nullable=True),
        sa.Column("liquidity", CODE, nullable=True),
        sa.Column("reject_code", sa.Integer(), nullable=True),
        sa.Column("text", sa.String(), nullable=True),
        sa.Column("transact_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("exec_id", name=op.f("pk_executions")),
    )
    op.create_index(op.f("ix_executions_order_id"), "executions", ["order_id"])
    op.create_index(op.f("ix_executions_transact_us"), "executions", ["transact_us"])

    op.create_table(
        "order_events",
        sa.Column("seq", KEY, autoincrement=False, nullable=False),
        sa.Column("ts_us", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("session", NAME, nullable=True),
        sa.Column("firm", NAME, nullable=True),
        sa.Column("account", sa.String(), nullable=True),
        sa.Column("order_id", sa.BigInteger(), nullable=True),
        sa.Column("cl_ord_id", sa.String(), nullable=True),
        sa.Column("orig_cl_ord_id", sa.String(), nullable=True),
        sa.Column("symbol", sa.String(), nullable=True),
        sa.Column("side", CODE, nullable=True),
        sa.Column("ord_type", CODE, nullable=True),
        sa.Column("tif", CODE, nullable=True),
        sa.Column("price", PRICE, nullable=True),
        sa.Column("qty", sa.BigInteger(), nullable=True),
        sa.Column("status", CODE, nullable=True),
        sa.Column("cum_qty", sa.BigInteger(), nullable=True),
        sa.Column("leaves_qty", sa.BigInteger(), nullable=True),
        sa.Column("last_px", PRICE, nullable=True),
        sa.Column("last_qty", sa.BigInteger(), nullable=True),
        sa.Column("trade_id", sa.BigInteger(), nullable=True),
        sa.Column("reject_code", sa.Integer(), nullable=True),
        sa.Column("cancel_reason", sa.SmallInteger(), nullable=True),
        sa.Column("text", sa.String(), nullable=True),
        sa.Column("priority_ts_us", sa.BigInteger(), nullable=True),
        sa.Column("detail", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_order_events")),
    )
    op.create_index(op.f("ix_order_events_order_id"), "order_events", ["order_id"])
    op.create_index(op.f("ix_order_events_ts_us"), "order_events", ["ts_us"])

    op.create_table(
        "orders",
        sa.Column("order_id", KEY, autoincrement=False, nullable=False),
        sa.Column("session", NAME, nullable=False),
        sa.Column("firm", NAME, nullable=False),
        sa.Column("account", sa.String(), nullable=True),
        sa.Column("cl_ord_id", sa.String(), nullable=False),
        sa.Column("orig_cl_ord_id", sa.String(), nullable=True),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("side", CODE, nullable=False),
        sa.Column("ord_type", CODE, nullable=True),
        sa.Column("tif", CODE, nullable=True),
        sa.Column("price", PRICE, nullable=True),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("cum_qty", sa.BigInteger(), nullable=False),
        sa.Column("leaves_qty", sa.BigInteger(), nullable=False),
        sa.Column("avg_px", PRICE, nullable=False),
        sa.Column("status", CODE, nullable=False),
        sa.Column("priority_ts_us", sa.BigInteger(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("updated_us", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_orders")),
    )
    op.create_index(op.f("ix_orders_session_cl_ord_id"), "orders", ["session", "cl_ord_id"])
    op.create_index(op.f("ix_orders_symbol_status"), "orders", ["symbol", "status"])

    state = op.create_table(
        "projector_state",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_projector_state_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projector_state")),
    )
    op.bulk_insert(state, [{"id": 1, "last_seq": 0}])

    op.create_table(
        "trades",
        sa.Column("trade_id", KEY, autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("price", PRICE, nullable=False),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("notional", sa.Numeric(precision=38, scale=8), nullable=False),
        sa.Column("aggressor_side", CODE, nullable=False),
        sa.Column("buy_order_id", sa.BigInteger(), nullable=False),
        sa.Column("sell_order_id", sa.BigInteger(), nullable=False),
        sa.Column("buy_firm", NAME, nullable=False),
        sa.Column("sell_firm", NAME, nullable=False),
        sa.Column("buy_session", NAME, nullable=False),
        sa.Column("sell_session", NAME, nullable=False),
        sa.Column("buy_account", sa.String(), nullable=True),
        sa.Column("sell_account", sa.String(), nullable=True),
        sa.Column("executed_us", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=8), server_default="active", nullable=False),
        sa.Column("busted_seq", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("status IN ('active', 'busted')", name=op.f("ck_trades_status")),
        sa.PrimaryKeyConstraint("trade_id", name=op.f("pk_trades")),
    )
    op.create_index(op.f("ix_trades_executed_us"), "trades", ["executed_us"])
    op.create_index(op.f("ix_trades_symbol"), "trades", ["symbol"])


def downgrade() -> None:
    for table in ("trades", "projector_state", "orders", "order_events", "executions"):
        op.drop_table(table)
