"""The call-auction uncross (venue/matching/auction.py, spec/auctions.md "The uncross").

Prepared books for every tie-break rule, including the ones a naive implementation gets
wrong, then a randomized comparison against a brute-force reference written from the rules
alone, and properties of the fills.
"""

from __future__ import annotations

import random
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from venue.domain.values import Side
from venue.matching.auction import (
    AuctionError,
    AuctionOrder,
    Fill,
    Indicative,
    allocations,
    indicative,
    uncross,
)

B = Side.BUY
S = Side.SELL


def book(*rows: tuple[Side, int | None, int]) -> list[AuctionOrder]:
    """Orders (side, price, qty); key and time priority follow the order of the rows."""
    return [AuctionOrder(k, side, price, qty, k) for k, (side, price, qty) in enumerate(rows, 1)]


# ---------------------------------------------------------------- brute force, from the rules


def curves(orders: list[AuctionOrder], price: int) -> tuple[int, int]:
    """Buy qty willing at price (market or limit >= price), sell qty (market or <= price)."""
    buy = sum(o.qty for o in orders if o.side is B and (o.price is None or o.price >= price))
    sell = sum(o.qty for o in orders if o.side is S and (o.price is None or o.price <= price))
    return buy, sell


def brute_candidates(orders: list[AuctionOrder], reference: int | None) -> list[int]:
    prices = {o.price for o in orders if o.price is not None}
    markets = {o.side for o in orders if o.price is None}
    if markets == {B, S} and reference is not None:
        prices.add(reference)
    return sorted(prices)


def brute_price(orders: list[AuctionOrder], reference: int | None) -> Indicative:
    """O(m * n), each rule applied literally to the list of candidates."""
    rows = []
    for p in brute_candidates(orders, reference):
        buy, sell = curves(orders, p)
        rows.append((p, min(buy, sell), buy - sell))
    volume = max((r[1] for r in rows), default=0)
    if volume == 0:
        return Indicative(None, 0, 0, None)
    rows = [r for r in rows if r[1] == volume]
    least = min(abs(r[2]) for r in rows)
    rows = [r for r in rows if abs(r[2]) == least]
    if all(r[2] > 0 for r in rows):
        price = max(r[0] for r in rows)
    elif all(r[2] < 0 for r in rows):
        price = min(r[0] for r in rows)
    else:
        low, high = rows[0][0], rows[-1][0]
        if reference is not None:
            price = min(max(reference, low), high)
        else:
            mid = (low + high) / 2
            price = min((r[0] for r in rows), key=lambda p: (abs(p - mid), -p))
    buy, sell = curves(orders, price)
    side = B if buy > sell else S if sell > buy else None
    return Indicative(price, min(buy, sell), abs(buy - sell), side)


def allocated(fills: list[Fill]) -> dict[int, int]:
    out: dict[int, int] = defaultdict(int)
    for f in fills:
        out[f.buy] += f.qty
        out[f.sell] += f.qty
    assert allocations(fills) == out
    return out


# ---------------------------------------------------------------- rule 1: volume


def test_single_limit_each_side_trades_at_the_one_price_where_both_fit() -> None:
    result, fills = uncross(book((B, 200, 100), (S, 200, 100)), None)
    assert result == Indicative(200, 100, 0, None)
    assert fills == [Fill(1, 2, 100)]


def test_highest_volume_wins_over_lower_surplus() -> None:
    # 10: buy 200 sell 100 -> volume 100, surplus 100; 11: buy 80 sell 110 -> volume 80,
    # surplus 30. "Least surplus first" would take 11.
    orders = book((B, 10, 120), (B, 11, 80), (S, 10, 100), (S, 11, 10))
    assert indicative(orders, 11) == Indicative(10, 100, 100, B)


def test_the_highest_price_level_can_be_the_price() -> None:
    # CoinTossX's loop stops one level short of the last one.
    orders = book((B, 12, 100), (S, 10, 50), (S, 12, 50))
    assert indicative(orders, None) == Indicative(12, 100, 0, None)
    orders = book((S, 10, 100), (B, 12, 50), (B, 10, 50))
    assert indicative(orders, None) == Indicative(10, 100, 0, None)


# ---------------------------------------------------------------- rule 2: surplus, its sign


def test_lowest_absolute_surplus_not_lowest_signed_surplus() -> None:
    # Volume 100 at 10, 11 and 12. Surplus: 10 buy 30, 11 buy 10, 12 sell 50.
    # CoinTossX sorts by signed surplus (buy - sell) and takes 12 (-50); the rule takes 11.
    orders = book(
        (B, 12, 100),
        (B, 11, 10),
        (B, 10, 20),
        (S, 9, 100),
        (S, 12, 50),
    )
    assert indicative(orders, None) == Indicative(11, 100, 10, B)


def test_surplus_side_is_the_side_with_more_quantity() -> None:
    # One price; sell surplus: 100 buy against 160 sell.
    result = indicative(book((B, 50, 100), (S, 50, 60), (S, 50, 100)), None)
    assert result == Indicative(50, 100, 60, S)
    result = indicative(book((B, 50, 60), (B, 50, 100), (S, 50, 100)), None)
    assert result == Indicative(50, 100, 60, B)


# ---------------------------------------------------------------- rule 3: market pressure


def test_buy_surplus_at_every_candidate_takes_the_highest() -> None:
    # Xetra's example: 199, 200, 201 all volume 100 and buy surplus 50 -> 201.
    orders = book((B, 201, 150), (S, 199, 100), (S, 202, 10))
    assert indicative(orders, 150) == Indicative(201, 100, 50, B)


def test_sell_surplus_at_every_candidate_takes_the_lowest() -> None:
    orders = book((B, 201, 100), (S, 199, 150), (B, 198, 10))
    assert indicative(orders, 300) == Indicative(199, 100, 50, S)


def test_pressure_ignores_the_reference() -> None:
    # 199 and 201 tie with a buy surplus of 50; the reference at 199 does not pull it down.
    orders = book((B, 201, 150), (S, 199, 100))
    assert indicative(orders, 199) == Indicative(201, 100, 50, B)


def test_pressure_needs_the_same_side_at_every_candidate() -> None:
    # Volume 100 and surplus 50 at 10 (buy) and 11 (sell): mixed sides, not pressure.
    orders = book((B, 11, 100), (B, 10, 50), (S, 10, 100), (S, 11, 50))
    assert indicative(orders, 0).price == 10  # reference below: the lower one
    assert indicative(orders, 100).price == 11  # reference above: the higher one
    assert indicative(orders, None).price == 11  # none: equally near the middle, the higher


# ---------------------------------------------------------------- rule 4: the reference


def test_tie_with_no_surplus_takes_the_candidate_closest_to_the_reference() -> None:
    # Buy 100 @ 12, sell 100 @ 9: volume 100, surplus 0 at 9 and 12.
    orders = book((B, 12, 100), (S, 9, 100))
    assert indicative(orders, 5).price == 9
    assert indicative(orders, 20).price == 12


def test_reference_inside_the_tied_range_is_the_price() -> None:
    # Xetra and BNB: the reference itself when it lies within the candidates.
    orders = book((B, 12, 100), (S, 9, 100))
    assert indicative(orders, 10) == Indicative(10, 100, 0, None)
    # Mixed surpluses: 10 buy 50, 11 sell 50; at 10.5 (a price no order names) no surplus.
    orders = book((B, 110, 100), (B, 100, 50), (S, 100, 100), (S, 110, 50))
    assert indicative(orders, 105) == Indicative(105, 100, 0, None)
    result, fills = uncross(orders, 105)
    assert fills == [Fill(1, 3, 100)]


def test_no_reference_takes_the_candidate_nearest_the_middle_of_the_tie() -> None:
    # Volume 100 at 9, 10 and 12, surplus buy 50, buy 50, sell 50: middle 10.5, nearest 10.
    orders = book((B, 12, 100), (B, 10, 50), (S, 9, 100), (S, 12, 50))
    assert indicative(orders, None) == Indicative(10, 100, 50, B)
    # Tied at 9 and 12 only: equally near the middle, the higher.
    orders = book((B, 12, 100), (S, 9, 100))
    assert indicative(orders, None).price == 12


def test_ties_across_several_prices_do_not_return_zero() -> None:
    # CoinTossX returns 0 when the signed surpluses of a tie sum to 0.
    orders = book((B, 13, 100), (S, 10, 100), (B, 11, 1), (S, 11, 1), (B, 12, 1), (S, 12, 1))
    for reference in (None, 0, 11, 50):
        result = indicative(orders, reference)
        assert result.price is not None and result.price > 0
        assert result == brute_price(orders, reference)


# ---------------------------------------------------------------- market orders


def test_market_orders_only_on_the_buy_side_trade_at_the_sell_limit() -> None:
    orders = book((B, None, 100), (S, 10, 60), (S, 11, 60))
    result, fills = uncross(orders, 50)
    assert result == Indicative(11, 100, 20, S)
    assert fills == [Fill(1, 2, 60), Fill(1, 3, 40)]


def test_market_orders_only_on_the_sell_side_with_surplus_take_the_best_bid() -> None:
    orders = book((S, None, 100), (B, 10, 60), (B, 9, 60))
    result, fills = uncross(orders, None)
    assert result == Indicative(9, 100, 20, B)
    assert fills == [Fill(2, 1, 60), Fill(3, 1, 40)]


def test_market_orders_only_on_one_side_against_nothing_do_not_trade() -> None:
    assert uncross(book((B, None, 100), (B, 10, 5)), 10) == (Indicative(None, 0, 0, None), [])


def test_market_orders_on_both_sides_only_trade_at_the_reference() -> None:
    orders = book((B, None, 100), (S, None, 70))
    result, fills = uncross(orders, 1234)
    assert result == Indicative(1234, 70, 30, B)
    assert fills == [Fill(1, 2, 70)]


def test_market_orders_on_both_sides_without_reference_do_not_trade() -> None:
    assert uncross(book((B, None, 100), (S, None, 70)), None) == (Indicative(None, 0, 0, None), [])


def test_market_orders_on_both_sides_prefer_the_reference_to_a_far_limit() -> None:
    # At 50 the lone sell limit adds a surplus; at the reference 20 the markets match evenly.
    orders = book((B, None, 100), (S, None, 100), (S, 50, 10))
    result, fills = uncross(orders, 20)
    assert result == Indicative(20, 100, 0, None)
    assert fills == [Fill(1, 2, 100)]


def test_market_orders_go_before_better_priced_limits() -> None:
    # Buy market 50 arrives last, still first in the auction.
    orders = book((B, 15, 50), (S, 10, 60), (B, None, 50))
    result, fills = uncross(orders, None)
    assert result.price == 15 and result.volume == 60
    assert fills == [Fill(3, 2, 50), Fill(1, 2, 10)]


# ---------------------------------------------------------------- no cross, empty, one level


def test_empty_book_has_no_price() -> None:
    assert uncross([], 100) == (Indicative(None, 0, 0, None), [])


def test_book_that_does_not_cross_has_no_price() -> None:
    orders = book((B, 99, 100), (B, 98, 10), (S, 100, 100), (S, 101, 5))
    assert uncross(orders, 99) == (Indicative(None, 0, 0, None), [])


def test_one_side_only_has_no_price() -> None:
    assert indicative(book((S, 10, 5), (S, None, 5)), 10) == Indicative(None, 0, 0, None)


def test_single_price_level_fills_in_time_priority_and_splits_the_last() -> None:
    orders = book((S, 10, 30), (B, 10, 40), (S, 10, 30), (B, 10, 40), (S, 10, 30))
    result, fills = uncross(orders, None)
    assert result == Indicative(10, 80, 10, S)
    assert fills == [Fill(2, 1, 30), Fill(2, 3, 10), Fill(4, 3, 20), Fill(4, 5, 20)]


def test_time_priority_within_a_price_uses_priority_not_the_input_order() -> None:
    orders = [
        AuctionOrder(1, B, 10, 50, priority=9),
        AuctionOrder(2, B, 10, 50, priority=3),
        AuctionOrder(3, S, 10, 50, priority=1),
    ]
    assert uncross(orders, None)[1] == [Fill(2, 3, 50)]


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("orders", "text"),
    [
        ([AuctionOrder(1, B, 10, 0, 1)], "not positive"),
        ([AuctionOrder(1, B, 10, 5, 1), AuctionOrder(1, S, 10, 5, 2)], "twice"),
        ([AuctionOrder(1, Side.SELL_SHORT, 10, 5, 1)], "does not trade"),
    ],
)
def test_orders_the_auction_cannot_take_raise(orders: list[AuctionOrder], text: str) -> None:
    with pytest.raises(AuctionError, match=text):
        uncross(orders, None)


# ---------------------------------------------------------------- randomized, against the rules

orders_st = st.lists(
    st.tuples(
        st.sampled_from([B, S]),
        st.one_of(st.none(), st.integers(1, 12)) | st.integers(1, 12),  # limits more often
        st.integers(1, 60),
        st.integers(0, 20),  # time priority, ties allowed (the key decides)
    ),
    max_size=24,
)


def as_orders(rows: list[tuple[Side, int | None, int, int]]) -> list[AuctionOrder]:
    return [AuctionOrder(k, side, p, q, t) for k, (side, p, q, t) in enumerate(rows, 1)]


def rank(o: AuctionOrder) -> tuple[int, int, int, int]:
    """Auction priority: market first, then the better price, then time, then the key."""
    if o.price is None:
        return (0, 0, o.priority, o.key)
    return (1, -o.price if o.side is B else o.price, o.priority, o.key)


@settings(max_examples=400, deadline=None)
@given(orders_st, st.one_of(st.none(), st.integers(0, 14)))
def test_uncross_follows_the_rules_on_random_books(
    rows: list[tuple[Side, int | None, int, int]], reference: int | None
) -> None:
    orders = as_orders(rows)
    result, fills = uncross(orders, reference)
    assert result == brute_price(orders, reference) == indicative(orders, reference)

    # The price has the highest executable volume of all candidates.
    best = max((min(curves(orders, p)) for p in brute_candidates(orders, reference)), default=0)
    assert result.volume == best
    if result.price is None:
        assert fills == [] and result == Indicative(None, 0, 0, None)
        return
    assert result.volume > 0 and result.surplus >= 0
    assert (result.surplus == 0) == (result.surplus_side is None)

    # Fills: the whole volume, positive, each pairing once, within limits.
    assert sum(f.qty for f in fills) == result.volume
    assert all(f.qty > 0 for f in fills)
    assert len({(f.buy, f.sell) for f in fills}) == len(fills)
    by_key = {o.key: o for o in orders}
    for f in fills:
        buy, sell = by_key[f.buy], by_key[f.sell]
        assert buy.side is B and sell.side is S
        assert buy.price is None or buy.price >= result.price
        assert sell.price is None or sell.price <= result.price

    # One allocation per order, never more than it brought; priority: market, price, time.
    got = allocated(fills)
    for side in (B, S):
        ranked = sorted((o for o in orders if o.side is side), key=rank)
        taken = [got.get(o.key, 0) for o in ranked]
        assert all(0 <= t <= o.qty for t, o in zip(taken, ranked, strict=True))
        partial = [i for i, (t, o) in enumerate(zip(taken, ranked, strict=True)) if t < o.qty]
        first_short = partial[0] if partial else len(ranked)
        assert all(t == 0 for t in taken[first_short + 1 :])  # nothing past the first short one

    # The book left over is not crossed (a market order counts as the best possible price).
    left = [(o, o.qty - got.get(o.key, 0)) for o in orders]
    bids = [o.price if o.price is not None else 10**9 for o, q in left if q and o.side is B]
    asks = [o.price if o.price is not None else -(10**9) for o, q in left if q and o.side is S]
    assert not bids or not asks or max(bids) < min(asks)


@settings(max_examples=100, deadline=None)
@given(orders_st, st.one_of(st.none(), st.integers(0, 14)), st.randoms(use_true_random=False))
def test_uncross_does_not_depend_on_the_order_of_its_input(
    rows: list[tuple[Side, int | None, int, int]], reference: int | None, rnd: random.Random
) -> None:
    orders = as_orders(rows)
    shuffled = list(orders)
    rnd.shuffle(shuffled)
    assert uncross(shuffled, reference) == uncross(orders, reference)


def test_bigger_seeded_books_match_the_brute_force() -> None:
    # Books of up to 200 orders over 21 prices, more than hypothesis makes.
    rnd = random.Random(14)
    for _ in range(300):
        n = rnd.randint(0, 200)
        orders = [
            AuctionOrder(
                k,
                rnd.choice([B, S]),
                None if rnd.random() < 0.05 else rnd.randint(90, 110),
                rnd.randint(1, 500),
                rnd.randint(0, 1000),
            )
            for k in range(n)
        ]
        reference = rnd.choice([None, rnd.randint(85, 115)])
        result, fills = uncross(orders, reference)
        assert result == brute_price(orders, reference)
        assert sum(f.qty for f in fills) == result.volume
