"""Money as integers in the currency's minor units.

Rounding happens only where the domain says so (line amount, tax, proration), always half-up, and
only through :func:`divide_half_up`. Floats never touch money.
"""

import re
from decimal import Decimal
from typing import overload

from babel.numbers import get_currency_precision, list_currencies

_KNOWN_CURRENCIES = frozenset(list_currencies())


def is_known_currency(code: str) -> bool:
    return isinstance(code, str) and code in _KNOWN_CURRENCIES


def precision(currency: str) -> int:
    """Number of decimal places of the currency's minor unit (EUR 2, JPY 0, KWD 3)."""
    return get_currency_precision(currency)


def divide_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half away from zero, in integer arithmetic."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    quotient, remainder = divmod(abs(numerator), denominator)
    if remainder * 2 >= denominator:
        quotient += 1
    return quotient if numerator >= 0 else -quotient


# ASCII digits, an optional sign and point: no exponent ("1e-999999999" would underflow to zero), no "_", no
# digits of other scripts (Decimal and int() read "١٢" and "１２"), no spaces, no "Infinity" or "NaN".
_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
PLAIN_DECIMAL_RULE = 'a decimal string of ASCII digits with an optional point, e.g. "12.50" (no exponent)'


def plain_decimal(text: str | int, *, integers: bool = True) -> Decimal:
    """The number a plain decimal string (or, with ``integers``, a JSON integer) says; booleans, floats and
    every other spelling are refused (``ValueError``)."""
    if integers and isinstance(text, int) and not isinstance(text, bool):
        return Decimal(text)
    if isinstance(text, str) and _PLAIN_DECIMAL.fullmatch(text):
        return Decimal(text)
    raise ValueError(f"must be {PLAIN_DECIMAL_RULE}" + (" or an integer" if integers else ""))


def is_plain_decimal(text) -> bool:
    return isinstance(text, str) and _PLAIN_DECIMAL.fullmatch(text) is not None


def parse_amount(text: str | int, currency: str) -> int:
    """Parse a decimal string like ``"987.65"`` into minor units; refuse more places than the currency has."""
    value = plain_decimal(text)
    places = precision(currency)
    scaled = value.scaleb(places)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{text!r} has more than {places} decimal places for {currency}")
    return int(scaled)


@overload
def format_amount(minor: int, currency: str) -> str: ...
@overload
def format_amount(minor: None, currency: str) -> None: ...
@overload
def format_amount(minor: int | None, currency: str) -> str | None: ...
def format_amount(minor: int | None, currency: str) -> str | None:
    """Minor units as the decimal string the API speaks: 98765 EUR -> ``"987.65"``."""
    if minor is None:
        return None
    places = precision(currency)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**places)
    return f"{sign}{whole}.{frac:0{places}d}" if places else f"{sign}{whole}"


def parse_rate_basis_points(text: str | int) -> int:
    """A percentage like ``"20"`` or ``"7.7"`` as basis points (2000, 770)."""
    try:
        value = plain_decimal(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a percentage") from exc
    scaled = value * 100
    if scaled != scaled.to_integral_value() or not (0 <= value <= 100):
        raise ValueError(f"{text!r} must be a percentage between 0 and 100 with at most two decimals")
    return int(scaled)


def format_rate(basis_points: int) -> str:
    whole, frac = divmod(basis_points, 100)
    return f"{whole}.{frac:02d}".rstrip("0").rstrip(".")


def divide_half_up_sql(numerator_sql: str, denominator: int) -> str:
    """SQL for :func:`divide_half_up` of an integer SQL expression by a positive integer constant. Integer division
    truncates toward zero in both SQLite and PostgreSQL, so each sign rounds its own magnitude; ``2n + d`` over
    ``2d`` is ``n/d`` rounded half up for ``n >= 0``."""
    if not isinstance(denominator, int) or denominator <= 0:
        raise ValueError("denominator must be a positive integer")
    n = f"({numerator_sql})"
    return (
        f"(CASE WHEN {n} >= 0 THEN (2 * {n} + {denominator}) / {2 * denominator}"
        f" ELSE -((-2 * {n} + {denominator}) / {2 * denominator}) END)"
    )


BASIS_POINTS = 10_000


def tax_amount(net: int, tax_rate_bp: int) -> int:
    """A line's tax: rounded half-up once, on the line."""
    return divide_half_up(net * tax_rate_bp, BASIS_POINTS)


def tax_amount_sql(net_sql: str, tax_rate_bp_sql: str) -> str:
    """:func:`tax_amount` in SQL, for the billing engine's bulk inserts."""
    return divide_half_up_sql(f"({net_sql}) * ({tax_rate_bp_sql})", BASIS_POINTS)


def gross_amounts(net: int, tax_rate_bp: int) -> tuple[int, int]:
    """(tax, gross) for a net line amount: tax rounds half-up once, on the line."""
    tax = tax_amount(net, tax_rate_bp)
    return tax, net + tax


def prorated_fee(fee: int, days_used: int, days_in_period: int) -> int:
    """A period's fee for the days used of it, rounded half-up to the minor unit (a mid-period start)."""
    return divide_half_up(fee * days_used, days_in_period)


def prorated_fee_sql(fee_sql: str, days_used: int, days_in_period: int) -> str:
    """:func:`prorated_fee` in SQL, for a whole period's subscriptions at once."""
    return divide_half_up_sql(f"({fee_sql}) * {int(days_used)}", days_in_period)


QUANTITY_SCALE = 1000


def parse_quantity(text: str | int) -> int:
    """Quantities keep three decimals (1.5 GB -> 1500 thousandths)."""
    value = plain_decimal(text)
    scaled = value * QUANTITY_SCALE
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{text!r} must have at most three decimals")
    return int(scaled)


def format_quantity(thousandths: int) -> str:
    whole, frac = divmod(abs(thousandths), QUANTITY_SCALE)
    sign = "-" if thousandths < 0 else ""
    return f"{sign}{whole}.{frac:03d}".rstrip("0").rstrip(".")


def line_net_amount(quantity_thousandths: int, unit_price: int) -> int:
    return divide_half_up(quantity_thousandths * unit_price, QUANTITY_SCALE)
