"""Given-steps of the OpenAPI fuzz test: the story the generated requests meet, and the strategies that steer
schemathesis towards it, so that requests reach beyond 404s and 400s into the success paths.

Schemathesis generates every request from ``/openapi.json`` alone. Left to itself it would hardly ever guess an
id that exists or a ``billing_date`` that matches an invoice; so part of the time (never all of it) an id in the
path, an id in a filter, or a body field is replaced by one the story holds. Values are replaced only where
schemathesis generated valid data, so a negative case stays negative.
"""

from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from functools import cache

import schemathesis
from django.db import transaction
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.parameters import ParameterLocation

from arrears.api.schemas import MAX_ID
from arrears.catalog.models import Plan
from arrears.charges.models import Charge
from arrears.invoices.models import Invoice
from arrears.invoices.services import complete_invoice_payment, post_usage_charge
from arrears.payments.models import Payment
from arrears.subscriptions.models import Subscription
from arrears.tenants.models import Reseller
from tests.api.conftest import token_for
from tests.conftest import ERP, at
from tests.factories import AccountFactory, ResellerFactory
from tests.service_support import APPROVAL_DAY, JAN_1, START, approved, invoices_of

LINK = {"name": "NS-A", "data": "https://erp.example.com/invoices/NS-A.pdf"}


@cache
def served_schema():
    """``/openapi.json`` as the WSGI application serves it: the document under test."""
    from arrears.wsgi import application

    return schemathesis.openapi.from_wsgi("/openapi.json", application)


def operation_named(operation_id: str):
    for result in served_schema().get_all_operations():
        operation = result.ok()
        if operation.definition.raw["operationId"] == operation_id:
            return operation
    raise LookupError(f"/openapi.json has no operation {operation_id}")


@dataclass
class FuzzStory:
    """An ERP reseller (with a child reseller and a stranger beside it) whose January invoices are closed:
    A's approved (due 2026-02-20, external total, link), B's approved and completed, C's waiting for approval;
    D topped up its balance (a top-up payment) and has no invoice; A, B and C have open February invoices, A's
    with a usage charge (external id ``cdr-1``). The token is an admin's of the reseller, with every scope."""

    reseller: Reseller
    secret: str
    ids: dict[str, list[int]] = field(default_factory=dict)
    document_ids: tuple[str, ...] = ("NS-A", "NS-B")
    waiting: dict[str, int] = field(default_factory=dict)  # C and its invoice, the one left to approve

    def path_ids(self, name: str, operation_id: str) -> st.SearchStrategy[int]:
        """The story's ids for path parameter ``name``; an approval aims at C's waiting invoice half the time
        (Hypothesis favours the first ids of a list, and those are approved already)."""
        known = st.sampled_from(self.ids[name])
        if operation_id.startswith("approve_") and name in self.waiting:
            return st.one_of(st.just(self.waiting[name]), known)
        return known


def build_story() -> FuzzStory:
    reseller = ResellerFactory(erp=True)
    child = ResellerFactory(erp=True, parent=reseller)
    stranger = ResellerFactory(erp=True)
    a, b, c = (AccountFactory(reseller=reseller) for _ in range(3))
    d = AccountFactory(reseller=reseller, balance=5_000)
    child_account = AccountFactory(reseller=child)
    stranger_account = AccountFactory(reseller=stranger)
    jan_a, jan_b, jan_c = invoices_of(a, b, c)
    approved(
        jan_a, document_id="NS-A", due_date=date(2026, 2, 20), amount={"total": "15800", "currency": "JPY"}, link=LINK
    )
    jan_b = approved(jan_b, document_id="NS-B")
    complete_invoice_payment(jan_b, document_id="NS-B", billing_date=JAN_1, actor=ERP, now=at(APPROVAL_DAY))
    subscription_a = Subscription.objects.get(account=a)
    post_usage_charge(
        subscription_a,
        description="Calls",
        quantity="12.5",
        unit_price=40,
        usage_date=START,
        external_id="cdr-1",
        actor=ERP,
        now=at(APPROVAL_DAY),
    )
    mine = [reseller.pk, child.pk]
    january = [invoice.pk for invoice in Invoice.objects.filter(account__in=(a, b, c), billing_date=JAN_1)]
    ids = {
        # Mostly the token's reseller; sometimes its child (reachable) or a stranger (404 RESELLER-0404, R46).
        "reseller_id": [reseller.pk] * 8 + [child.pk, stranger.pk],
        # The accounts and January invoices the ERP calls act on come up more often than the rest.
        "account_id": [a.pk, b.pk, c.pk] * 3 + [d.pk, child_account.pk, stranger_account.pk],
        "invoice_id": january * 3 + list(Invoice.objects.filter(reseller_id__in=mine).values_list("pk", flat=True)),
        "payment_id": list(Payment.objects.filter(account__reseller_id__in=mine).values_list("pk", flat=True)),
        "charge_id": list(Charge.objects.filter(account__reseller_id__in=mine).values_list("pk", flat=True)),
        "plan_id": list(Plan.objects.filter(reseller=reseller).values_list("pk", flat=True)),
        "subscription_id": list(Subscription.objects.filter(account__reseller=reseller).values_list("pk", flat=True)),
        "account_class_id": [a.account_class_id],
    }
    return FuzzStory(
        reseller=reseller, secret=token_for(reseller), ids=ids, waiting={"account_id": c.pk, "invoice_id": jan_c.pk}
    )


@contextmanager
def rolled_back():
    """A savepoint undone at the end, so that every example meets the same story. Marked as Django's TestCase
    marks the savepoint around each test, so that the services' durable blocks may run inside it."""
    atomic = transaction.atomic()
    atomic._from_testcase = True
    with atomic:
        try:
            yield
        finally:
            transaction.set_rollback(True)


def _is_valid_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


def _generated_positive(case, location: ParameterLocation) -> bool:
    meta = case.meta
    component = meta.components.get(location) if meta is not None else None
    return component is not None and component.mode is GenerationMode.POSITIVE


def _body_values(story: FuzzStory, operation_id: str) -> dict[str, st.SearchStrategy]:
    """Field values that lead somewhere: the story's billing date, document ids, plans, dates near today."""
    reference = {"billing_date": st.just(JAN_1.isoformat()), "document_id": st.sampled_from(story.document_ids)}
    if operation_id.startswith("approve_"):
        return {
            **reference,
            "document_id": st.sampled_from(("NS-C", "NS-A", "NS-B")),
            "due_date": st.sampled_from((None, "2026-02-03", "2026-02-20")),
            "amount": st.sampled_from((None, {"total": "101.50", "currency": "USD"})),
            "file": st.none(),
            "link": st.sampled_from((None, LINK)),
        }
    if operation_id.startswith(("complete_", "revoke_")):
        return reference
    if operation_id == "create_subscription":
        return {
            "plan_id": st.sampled_from(story.ids["plan_id"]),
            "start_date": st.sampled_from(("2026-02-03", "2026-03-01", "2026-01-15")),
        }
    if operation_id == "post_usage_charge":
        return {
            "date": st.sampled_from(("2026-01-31", "2026-02-03")),
            "unit_price": st.sampled_from(("0.40", "12")),
            "quantity": st.sampled_from(("12.5", 3, "0.001")),
            "external_id": st.sampled_from((None, "cdr-1")),
        }
    if operation_id == "create_account":
        return {"account_class_id": st.sampled_from((None, *story.ids["account_class_id"]))}
    return {}


def steered_cases(operation, mode: GenerationMode, story: FuzzStory, operation_id: str) -> st.SearchStrategy:
    """Schemathesis' cases for ``operation`` in ``mode``, with the story's ids and values mixed in."""
    generated = operation.as_strategy(generation_mode=mode, headers={"X-Api-Token": story.secret})
    body_values = _body_values(story, operation_id)

    @st.composite
    def steer(draw):
        case = draw(generated)
        if _generated_positive(case, ParameterLocation.PATH) or mode is GenerationMode.NEGATIVE:
            path = dict(case.path_parameters)
            for name, value in path.items():
                if _is_valid_id(value) and draw(st.integers(0, 9)) < 8:
                    path[name] = draw(story.path_ids(name, operation_id))
            case.path_parameters = path
        if _generated_positive(case, ParameterLocation.QUERY) and case.query:
            query = dict(case.query)
            for name, value in query.items():
                column = name.removeprefix("filter[").split("]")[0]
                if column in story.ids and _is_valid_id(value) and draw(st.booleans()):
                    query[name] = draw(st.sampled_from(story.ids[column]))
            case.query = query
        if body_values and _generated_positive(case, ParameterLocation.BODY) and isinstance(case.body, dict):
            if draw(st.integers(0, 9)) < 8:
                body = dict(case.body)
                for name, values in body_values.items():
                    if name in body or draw(st.booleans()):
                        body[name] = draw(values)
                case.body = body
        return case

    return steer()
