"""The checkout page: what is charged, and the buttons that decide the outcome.

Plain HTML from ``templates/checkout.html`` (a :class:`string.Template`; every value is escaped here), styled by
``templates/gateway.css`` served from the gateway itself: no script, no inline style, no font or file from
elsewhere, so the page passes a strict Content Security Policy.
"""

import functools
from datetime import datetime
from decimal import Decimal
from html import escape
from pathlib import Path
from string import Template

from babel.dates import format_datetime
from babel.numbers import format_currency, get_currency_precision

from arrears.gateways.reference.checkouts import CANCELLED, DECLINED, PENDING, SUCCEEDED, Checkout

LOCALE = "en"
TEMPLATES = Path(__file__).with_name("templates")
ASSETS = {"gateway.css": "text/css; charset=utf-8", "favicon.svg": "image/svg+xml"}

STATUS_WORDS = {PENDING: "Pending", SUCCEEDED: "Paid", DECLINED: "Declined", CANCELLED: "Cancelled"}
OUTCOME_MESSAGES = {
    SUCCEEDED: "This payment went through, and the gateway reported it to the shop.",
    DECLINED: "This payment was declined: nothing was charged. The gateway reported it to the shop.",
    CANCELLED: "This payment was cancelled: nothing was charged. The gateway reported it to the shop.",
}
AMOUNT_HEADINGS = {PENDING: "Amount to pay", SUCCEEDED: "Amount paid"}


@functools.cache
def asset(name: str) -> bytes:
    return (TEMPLATES / name).read_bytes()


@functools.cache
def _template() -> Template:
    return Template((TEMPLATES / "checkout.html").read_text(encoding="utf-8"))


def format_amount(minor: int, currency: str) -> str:
    """``123450, "CHF"`` → ``"CHF 1,234.50"``; ``12500, "JPY"`` → ``"JPY 12,500"`` (the currency's own decimals)."""
    value = Decimal(minor).scaleb(-get_currency_precision(currency))
    return format_currency(value, currency, format="¤¤\u00a0#,##0.00", currency_digits=True, locale=LOCALE)


def _when(moment: datetime) -> str:
    return format_datetime(moment, "d MMM y, HH:mm zzz", tzinfo=moment.tzinfo, locale=LOCALE)


def _detail(term: str, value: str, *, mono: bool = False) -> str:
    css = ' class="mono"' if mono else ""
    return f"<div><dt>{escape(term)}</dt><dd{css}>{escape(value)}</dd></div>"


def _notice(checkout: Checkout) -> str:
    if not checkout.pending:
        return f'<p class="notice notice-{checkout.status}" role="status">{OUTCOME_MESSAGES[checkout.status]}</p>'
    if checkout.never_answered:
        return (
            '<p class="notice notice-waiting" role="status"><strong>Still pending.</strong> The shop was sent '
            "back without an answer, as if this gateway had gone quiet, and will time the payment out. You can "
            "still pay or decline here: the shop then hears of it late.</p>"
        )
    return ""


def _actions(checkout: Checkout) -> str:
    return_link = escape(checkout.return_url, quote=True)
    if not checkout.pending:
        return f'<a class="button button-primary" href="{return_link}">Return to the shop</a>'
    form_action = f"/checkout/{escape(checkout.checkout_id, quote=True)}"
    return f"""<form method="post" action="{form_action}" class="actions">
        <button type="submit" name="action" value="pay" class="button button-primary">Pay</button>
        <button type="submit" name="action" value="decline" class="button button-secondary">Decline</button>
        <fieldset class="test-outcomes">
          <legend>Test outcomes</legend>
          <div class="test-outcome">
            <button type="submit" name="action" value="never_answer" class="button button-quiet"
                    aria-describedby="never-answer-hint">Never answer</button>
            <p id="never-answer-hint" class="hint">Back to the shop with no outcome: the payment stays pending
              until the shop's processing period runs out.</p>
          </div>
          <div class="test-outcome">
            <button type="submit" name="action" value="pay_twice" class="button button-quiet"
                    aria-describedby="pay-twice-hint">Pay twice</button>
            <p id="pay-twice-hint" class="hint">Charge and report two successes, as a gateway that charged
              twice would.</p>
          </div>
        </fieldset>
      </form>
      <a class="cancel-link" href="{form_action}/cancel">Cancel and return</a>"""


def render(checkout: Checkout) -> str:
    details = [_detail("Description", checkout.description)] if checkout.description else []
    if checkout.payment_number:
        details.append(_detail("Payment", checkout.payment_number, mono=True))
    details.append(_detail("Checkout", checkout.checkout_id, mono=True))
    if checkout.expires_at is not None and checkout.pending:
        details.append(_detail("Complete by", _when(checkout.expires_at)))
    amount = format_amount(checkout.amount, checkout.currency)
    return _template().substitute(
        amount=escape(amount),
        amount_heading=AMOUNT_HEADINGS.get(checkout.status, "Amount"),
        actions_heading="Choose the outcome" if checkout.pending else "Outcome",
        status=checkout.status,
        status_word=STATUS_WORDS[checkout.status],
        details="\n          ".join(details),
        notice=_notice(checkout),
        actions=_actions(checkout),
    )


def render_message(title: str, message: str, *, status_code: int) -> str:
    """A plain page for a checkout that does not exist or an action the checkout refuses."""
    return Template((TEMPLATES / "message.html").read_text(encoding="utf-8")).substitute(
        title=escape(title), message=escape(message), status_code=status_code
    )
