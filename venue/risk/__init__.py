from venue.risk.checks import (
    Problem,
    check_collar,
    check_credit,
    check_instrument_limits,
    check_throttle,
)

__all__ = ["Problem", "check_collar", "check_credit", "check_instrument_limits", "check_throttle"]
