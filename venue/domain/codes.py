"""Every business reject the venue can give, one enum with a block per stage.

1xxx validation of the message itself, 2xxx pre-trade risk and compliance, 3xxx order
state and matching. The FIX edge maps each code to OrdRejReason(103) or CxlRejReason(102);
the Text(58) sent with it is built where the reject is raised and says what was wrong.
"""

from __future__ import annotations

from enum import IntEnum


class RejectCode(IntEnum):
    # 1xxx: validation
    UNKNOWN_SYMBOL = 1001
    INVALID_QUANTITY = 1002
    INVALID_PRICE = 1003
    PRICE_OFF_TICK = 1004
    UNSUPPORTED_CHARACTERISTIC = 1005
    DUPLICATE_CL_ORD_ID = 1006
    MISSING_FIELD = 1007
    INVALID_EXPIRY = 1008  # GTD: ExpireTime/ExpireDate missing, doubled or past
    INVALID_FIELD = 1009  # past an edge bound (venue/fix/bounds.py): length, characters
    # 2xxx: risk and compliance
    HALTED = 2001
    PRICE_OUTSIDE_COLLAR = 2002
    EXCEEDS_MAX_QTY = 2003
    EXCEEDS_MAX_NOTIONAL = 2004
    EXCEEDS_CREDIT_LIMIT = 2005
    THROTTLED = 2006
    RESTRICTED = 2007
    BLOCKED = 2008  # kill switch engaged for the session, its firm or the venue
    NOT_AUTHORIZED = 2009
    MARKET_CLOSED = 2010  # the instrument's phase is closed
    # 3xxx: order state and matching
    UNKNOWN_ORDER = 3001
    TOO_LATE = 3002
    CHANGE_NOT_ALLOWED = 3003
    WOULD_TAKE_LIQUIDITY = 3004  # post-only
    NO_OPPOSITE_SIDE = 3005  # market-to-limit with nothing to trade against


class CancelReason(IntEnum):
    """Why an order was canceled (requested or not)."""

    REQUESTED = 1
    IOC_REMAINDER = 2
    MARKET_REMAINDER = 3
    FOK_NOT_FILLED = 4
    SELF_TRADE = 5
    MASS_CANCEL = 6
    DISCONNECT = 7
    KILL_SWITCH = 8
    OPERATOR = 9
    MIN_QTY_NOT_MET = 10  # IOC with MinQty(110): less than MinQty could fill at once
    AUCTION_REMAINDER = 11  # market, at-the-opening or at-the-close: left after its auction
    PHASE_ENDED = 12  # market or OPG/ATC order of a call that ended without an auction
