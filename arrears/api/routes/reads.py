"""Read operations: invoices, payments, charges, plans and the event feed (erp-api.md, "Read operations")."""

from typing import Any

from ninja import Query, Router

from arrears.api.auth import caller_reseller
from arrears.api.jsonapi import includes, list_document, listed_page, render
from arrears.api.operations import operation
from arrears.api.resources import (
    charge_resource,
    event_resource,
    invoice_included,
    invoice_resources,
    payment_included,
    payment_resources,
    plan_resource,
)
from arrears.api.schemas import (
    ChargeDocument,
    ChargeListDocument,
    ChargeListQuery,
    EventFeedDocument,
    EventFeedQuery,
    Id,
    IncludeQuery,
    InvoiceDocument,
    InvoiceListDocument,
    InvoiceListQuery,
    PaymentDocument,
    PaymentIncludeQuery,
    PaymentListDocument,
    PaymentListQuery,
    PlanDocument,
    PlanListDocument,
    PlanListQuery,
)
from arrears.catalog.errors import PlanFieldInvalid, PlanNotFound
from arrears.catalog.selectors import plan_of, plans_of
from arrears.charges.errors import ChargeFieldInvalid, ChargeNotFound
from arrears.charges.selectors import charge_of, charges_of
from arrears.events.errors import FeedParameterInvalid
from arrears.events.selectors import feed_after
from arrears.invoices.errors import InvoiceFieldInvalid, InvoiceNotFound
from arrears.invoices.selectors import invoice_of, invoices_of
from arrears.payments.errors import PaymentFieldInvalid, PaymentNotFound
from arrears.payments.selectors import payment_of, payments_of
from arrears.tenants.errors import ResellerNotFound

router = Router(tags=["Read"])


@router.get(
    "/{reseller_id}/invoices/{invoice_id}",
    **operation(
        "get_invoice",
        document=InvoiceDocument,
        field_error=InvoiceFieldInvalid,
        not_found=InvoiceNotFound,
        summary="Get an invoice",
    ),
)
def get_invoice(request, reseller_id: Id, invoice_id: Id, query: Query[IncludeQuery]):
    invoice = invoice_of(caller_reseller(request, reseller_id, "read"), invoice_id)
    document: dict[str, Any] = {"data": invoice_resources([invoice])[0]}
    if query.include:
        document["included"] = invoice_included([invoice], includes(query.include))
    return render(document)


@router.get(
    "/{reseller_id}/invoices",
    **operation(
        "list_invoices",
        document=InvoiceListDocument,
        field_error=InvoiceFieldInvalid,
        not_found=ResellerNotFound,
        summary="List invoices",
    ),
)
def list_invoices(request, reseller_id: Id, query: Query[InvoiceListQuery]):
    reseller = caller_reseller(request, reseller_id, "read")
    page = listed_page(invoices_of(reseller), query, reseller)
    included = invoice_included(page.items, includes(query.include)) if query.include else None
    return render(list_document(request, page, invoice_resources(page.items), included))


@router.get(
    "/{reseller_id}/payments/{payment_id}",
    **operation(
        "get_payment",
        document=PaymentDocument,
        field_error=PaymentFieldInvalid,
        not_found=PaymentNotFound,
        summary="Get a payment",
    ),
)
def get_payment(request, reseller_id: Id, payment_id: Id, query: Query[PaymentIncludeQuery]):
    reseller = caller_reseller(request, reseller_id, "read")
    payment = payment_of(reseller, payment_id)
    document: dict[str, Any] = {"data": payment_resources([payment])[0]}
    if query.include:
        document["included"] = payment_included([payment], includes(query.include), reseller.currency)
    return render(document)


@router.get(
    "/{reseller_id}/payments",
    **operation(
        "list_payments",
        document=PaymentListDocument,
        field_error=PaymentFieldInvalid,
        not_found=ResellerNotFound,
        summary="List payments",
    ),
)
def list_payments(request, reseller_id: Id, query: Query[PaymentListQuery]):
    reseller = caller_reseller(request, reseller_id, "read")
    page = listed_page(payments_of(reseller), query, reseller)
    included = payment_included(page.items, includes(query.include), reseller.currency) if query.include else None
    return render(list_document(request, page, payment_resources(page.items), included))


@router.get(
    "/{reseller_id}/charges/{charge_id}",
    **operation(
        "get_charge",
        document=ChargeDocument,
        field_error=ChargeFieldInvalid,
        not_found=ChargeNotFound,
        summary="Get a charge",
    ),
)
def get_charge(request, reseller_id: Id, charge_id: Id):
    reseller = caller_reseller(request, reseller_id, "read")
    return render({"data": charge_resource(charge_of(reseller, charge_id), reseller.currency)})


@router.get(
    "/{reseller_id}/charges",
    **operation(
        "list_charges",
        document=ChargeListDocument,
        field_error=ChargeFieldInvalid,
        not_found=ResellerNotFound,
        summary="List charges",
    ),
)
def list_charges(request, reseller_id: Id, query: Query[ChargeListQuery]):
    reseller = caller_reseller(request, reseller_id, "read")
    page = listed_page(charges_of(reseller), query, reseller)
    return render(list_document(request, page, [charge_resource(c, reseller.currency) for c in page.items]))


@router.get(
    "/{reseller_id}/plans/{plan_id}",
    **operation(
        "get_plan", document=PlanDocument, field_error=PlanFieldInvalid, not_found=PlanNotFound, summary="Get a plan"
    ),
)
def get_plan(request, reseller_id: Id, plan_id: Id):
    reseller = caller_reseller(request, reseller_id, "read")
    return render({"data": plan_resource(plan_of(reseller, plan_id), reseller.currency)})


@router.get(
    "/{reseller_id}/plans",
    **operation(
        "list_plans",
        document=PlanListDocument,
        field_error=PlanFieldInvalid,
        not_found=ResellerNotFound,
        summary="List plans",
    ),
)
def list_plans(request, reseller_id: Id, query: Query[PlanListQuery]):
    reseller = caller_reseller(request, reseller_id, "read")
    page = listed_page(plans_of(reseller), query, reseller)
    return render(list_document(request, page, [plan_resource(plan, reseller.currency) for plan in page.items]))


@router.get(
    "/{reseller_id}/events",
    **operation(
        "list_events",
        document=EventFeedDocument,
        field_error=FeedParameterInvalid,
        not_found=ResellerNotFound,
        summary="Read the change feed",
    ),
)
def list_events(request, reseller_id: Id, query: Query[EventFeedQuery]):
    """Every recorded event of the reseller's subtree, oldest first, after the cursor `after`.

    The feed never skips an event: an event appears only once every event with a smaller id is committed
    or rolled back, so a client that stores `meta.next_cursor` and reads on sees each event exactly once.
    """
    reseller = caller_reseller(request, reseller_id, "read")
    events = feed_after(
        reseller.subtree_ids(), query.after, limit=query.page_size, event_type=query.type, account_id=query.account_id
    )
    next_cursor = events[-1].pk if events else query.after
    params = request.GET.copy()
    params["after"] = str(next_cursor)
    self_params = request.GET.urlencode()
    return render(
        {
            "data": [event_resource(event) for event in events],
            "meta": {"next_cursor": next_cursor},
            "links": {
                "self": f"{request.path}?{self_params}" if self_params else request.path,
                "next": f"{request.path}?{params.urlencode()}",
            },
        }
    )
