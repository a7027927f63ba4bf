"""Platform operations: accounts, subscriptions and usage charges (erp-api.md, "Platform operations")."""

from django.http import HttpRequest
from ninja import Query, Router

from arrears.api.auth import caller_principal, caller_reseller
from arrears.api.jsonapi import list_document, listed_page, render
from arrears.api.operations import operation
from arrears.api.resources import account_resource, charge_resource, subscription_resource
from arrears.api.schemas import (
    AccountDocument,
    AccountListDocument,
    AccountListQuery,
    ChargeDocument,
    CreateAccountBody,
    CreateSubscriptionBody,
    Id,
    PostUsageChargeBody,
    SubscriptionDocument,
    SubscriptionListDocument,
    SubscriptionListQuery,
)
from arrears.catalog.selectors import plans_of
from arrears.charges.errors import ChargeFieldInvalid, SubscriptionNotChargeable
from arrears.core import clock, money
from arrears.customers.errors import AccountFieldInvalid, AccountNotFound
from arrears.customers.models import AccountClass
from arrears.customers.selectors import account_of, accounts_of
from arrears.customers.services import create_account
from arrears.invoices.services import post_usage_charge
from arrears.subscriptions.errors import StartDateAlreadyBilled, SubscriptionFieldInvalid, SubscriptionNotFound
from arrears.subscriptions.selectors import subscription_of, subscriptions_of
from arrears.subscriptions.services import create_subscription
from arrears.tenants.errors import ResellerNotFound

router = Router(tags=["Platform"])


@router.post(
    "/{reseller_id}/accounts",
    **operation(
        "create_account",
        document=AccountDocument,
        statuses=(201,),
        field_error=AccountFieldInvalid,
        not_found=ResellerNotFound,
        summary="Create an account",
    ),
)
def create_account_route(request: HttpRequest, reseller_id: Id, body: CreateAccountBody):
    reseller = caller_reseller(request, reseller_id, "platform")
    account_class = None
    if body.account_class_id is not None:
        account_class = AccountClass.objects.filter(pk=body.account_class_id, reseller=reseller).first()
        if account_class is None:
            raise AccountFieldInvalid(
                f"no account class {body.account_class_id} in this reseller", pointer="/account_class_id"
            )
    account = create_account(
        reseller=reseller,
        name=body.name,
        email=body.email or "",
        address=body.address or "",
        account_class=account_class,
        actor=caller_principal(request).actor,
        now=clock.wall_clock(),
    )
    return render({"data": account_resource(account, reseller.currency)}, status=201)


@router.get(
    "/{reseller_id}/accounts/{account_id}",
    **operation(
        "get_account",
        document=AccountDocument,
        field_error=AccountFieldInvalid,
        not_found=AccountNotFound,
        summary="Get an account",
    ),
)
def get_account(request: HttpRequest, reseller_id: Id, account_id: Id):
    reseller = caller_reseller(request, reseller_id, "read")
    return render({"data": account_resource(account_of(reseller, account_id), reseller.currency)})


@router.get(
    "/{reseller_id}/accounts",
    **operation(
        "list_accounts",
        document=AccountListDocument,
        field_error=AccountFieldInvalid,
        not_found=ResellerNotFound,
        summary="List accounts",
    ),
)
def list_accounts(request: HttpRequest, reseller_id: Id, query: Query[AccountListQuery]):
    reseller = caller_reseller(request, reseller_id, "read")
    page = listed_page(accounts_of(reseller), query, reseller)
    return render(list_document(request, page, [account_resource(a, reseller.currency) for a in page.items]))


@router.post(
    "/{reseller_id}/accounts/{account_id}/subscriptions",
    **operation(
        "create_subscription",
        document=SubscriptionDocument,
        statuses=(201,),
        field_error=SubscriptionFieldInvalid,
        not_found=AccountNotFound,
        errors=(StartDateAlreadyBilled,),
        summary="Subscribe an account to a plan",
    ),
)
def create_subscription_route(request: HttpRequest, reseller_id: Id, account_id: Id, body: CreateSubscriptionBody):
    reseller = caller_reseller(request, reseller_id, "platform")
    account = account_of(reseller, account_id)
    plan = plans_of(reseller).filter(pk=body.plan_id).first()
    if plan is None:
        raise SubscriptionFieldInvalid(f"no plan {body.plan_id} in this reseller", pointer="/plan_id")
    subscription = create_subscription(
        account=account,
        plan=plan,
        start_date=body.start_date,
        actor=caller_principal(request).actor,
        now=clock.wall_clock(),
    )
    return render({"data": subscription_resource(subscription)}, status=201)


@router.get(
    "/{reseller_id}/subscriptions/{subscription_id}",
    **operation(
        "get_subscription",
        document=SubscriptionDocument,
        field_error=SubscriptionFieldInvalid,
        not_found=SubscriptionNotFound,
        summary="Get a subscription",
    ),
)
def get_subscription(request: HttpRequest, reseller_id: Id, subscription_id: Id):
    reseller = caller_reseller(request, reseller_id, "read")
    return render({"data": subscription_resource(subscription_of(reseller, subscription_id))})


@router.get(
    "/{reseller_id}/subscriptions",
    **operation(
        "list_subscriptions",
        document=SubscriptionListDocument,
        field_error=SubscriptionFieldInvalid,
        not_found=ResellerNotFound,
        summary="List subscriptions",
    ),
)
def list_subscriptions(request: HttpRequest, reseller_id: Id, query: Query[SubscriptionListQuery]):
    reseller = caller_reseller(request, reseller_id, "read")
    page = listed_page(subscriptions_of(reseller), query, reseller)
    return render(list_document(request, page, [subscription_resource(s) for s in page.items]))


@router.post(
    "/{reseller_id}/subscriptions/{subscription_id}/charges",
    **operation(
        "post_usage_charge",
        document=ChargeDocument,
        statuses=(201, 200),
        field_error=ChargeFieldInvalid,
        not_found=SubscriptionNotFound,
        errors=(SubscriptionNotChargeable,),
        summary="Post a usage charge",
    ),
)
def post_usage_charge_route(request: HttpRequest, reseller_id: Id, subscription_id: Id, body: PostUsageChargeBody):
    """Repeat-safe by `external_id`: posting the same one again answers 200 with the first charge."""
    reseller = caller_reseller(request, reseller_id, "platform")
    subscription = subscription_of(reseller, subscription_id)
    try:
        unit_price = money.parse_amount(body.unit_price, reseller.currency)
    except ValueError as exc:
        raise ChargeFieldInvalid(str(exc), pointer="/unit_price") from exc
    charge, created = post_usage_charge(
        subscription,
        description=body.description,
        quantity=body.quantity,
        unit_price=unit_price,
        usage_date=body.date,
        external_id=body.external_id,
        actor=caller_principal(request).actor,
        now=clock.wall_clock(),
    )
    return render({"data": charge_resource(charge, reseller.currency)}, status=201 if created else 200)
