"""Request bodies, list parameters and the documented shape of every response of the v3 API.

Request schemas validate input (ninja + Pydantic); response schemas only describe what the resource
builders in ``resources.py`` render, so that ``/openapi.json`` tells clients exactly what they get.
"""

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from django.db.models import BooleanField, Case, F, Q, Value, When
from ninja import Schema
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    create_model,
    model_validator,
)

from arrears.core import money
from arrears.core.errors import ArrearsError
from arrears.customers.errors import AccountFieldInvalid
from arrears.invoices import attachments

MAX_ID = 2**63 - 1


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date(value):
    """Dates are ``YYYY-MM-DD`` strings only: Pydantic would otherwise read numbers as Unix timestamps."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError("must be a date string YYYY-MM-DD")


def _plain_text(value):
    """Text the databases can store: no NUL characters, no unpaired surrogates."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError("must be valid Unicode text") from exc
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date), WithJsonSchema({"type": "string", "format": "date"})]
LATEST_DATE = date(2999, 12, 31)


def _not_too_late(value: date) -> date:
    """Dates the services compute with (due date + grace, billing periods) must stay inside the calendar."""
    if value > LATEST_DATE:
        raise ValueError(f"must be {LATEST_DATE} or earlier")
    return value


# A date the call stores (a due date, a subscription start), not one it only looks up.
StoredDate = Annotated[IsoDate, AfterValidator(_not_too_late)]


def _below_ten_to_the(digits: int) -> BeforeValidator:
    """A decimal string or integer under 10^``digits`` in magnitude, so that amounts and their products fit the
    64-bit columns; what is no number at all is left to the service, which names the problem."""

    def check(value):
        if isinstance(value, str | int) and not isinstance(value, bool):
            try:
                number = Decimal(str(value).strip())
            except (InvalidOperation, ValueError):
                return value
            # adjusted(): the exponent of the leading digit, exact even where arithmetic would overflow (1e999999999)
            if number.is_finite() and number and number.adjusted() >= digits:
                raise ValueError(f"must be less than 10^{digits}")
        return value

    return BeforeValidator(check)


def _plain_number(*, integers: bool) -> BeforeValidator:
    """A plain decimal string (or, with ``integers``, a JSON integer): never a boolean, a float, an exponent or
    digits of another script (``money.plain_decimal``)."""

    def check(value):
        money.plain_decimal(value, integers=integers)
        return value

    return BeforeValidator(check)


def _plain_id(value):
    """Ids are JSON integers or, in paths and query strings, ASCII digits: not ``2.0``, ``+2``, ``7_4`` or ``١``,
    which int() would read."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    raise ValueError("must be an id: a whole number written in ASCII digits")


# In major units: quantity × unit price stays below 2^63 minor units even in a currency with 3 decimals.
AMOUNT_DIGITS, UNIT_PRICE_DIGITS, QUANTITY_DIGITS = 12, 8, 7
Id = Annotated[int, BeforeValidator(_plain_id), Field(ge=1, le=MAX_ID)]


# Text fields are Annotated[str, StringConstraints(…), PLAIN_TEXT]: printable text, without NUL or controls.
PLAIN_TEXT = BeforeValidator(_plain_text)
Text3 = Annotated[str, StringConstraints(max_length=3), PLAIN_TEXT]
Text32 = Annotated[str, StringConstraints(max_length=32), PLAIN_TEXT]
Text64 = Annotated[str, StringConstraints(max_length=64), PLAIN_TEXT]
Text254 = Annotated[str, StringConstraints(max_length=254), PLAIN_TEXT]
Text255 = Annotated[str, StringConstraints(max_length=255), PLAIN_TEXT]
Text1000 = Annotated[str, StringConstraints(max_length=1000), PLAIN_TEXT]
Text2000 = Annotated[str, StringConstraints(max_length=2000), PLAIN_TEXT]
RequiredText100 = Annotated[str, StringConstraints(min_length=1, max_length=100), PLAIN_TEXT]
RequiredText200 = Annotated[str, StringConstraints(min_length=1, max_length=200), PLAIN_TEXT]
RequiredText255 = Annotated[str, StringConstraints(min_length=1, max_length=255), PLAIN_TEXT]


DocumentId = Annotated[RequiredText100, Field(description="The ERP's invoice number.", examples=["NS2000015"])]
BillingDate = Annotated[IsoDate, Field(description="Start date of the invoice's billing period (R11).")]


# --- ERP bodies (flat objects, as ActivePlatform's API v3) -------------------------------------------------


class Body(BaseModel):
    """A request body: a field it does not know is refused by name ("due_dat" must not silently become the
    default due date). A plain model: ninja's Schema validates twice when extra fields are forbidden."""

    model_config = ConfigDict(extra="forbid")


class BodyPart(BaseModel):
    """An object inside a body. A plain model: ninja's Schema reads a string as an empty object."""

    model_config = ConfigDict(extra="forbid")


class InvoiceReference(Body):
    document_id: DocumentId
    billing_date: BillingDate


class ExternalAmount(BodyPart):
    total: Annotated[Text32, _plain_number(integers=False), _below_ten_to_the(AMOUNT_DIGITS)] = Field(
        description="A positive decimal string in the currency's precision, below 10^12.", examples=["1050.00"]
    )
    currency: Text3 = Field(description="ISO 4217 code.", examples=["USD"])


# The service checks attachment names and links (arrears.invoices.attachments, shared with the panel); the
# patterns tell clients the rule.
ATTACHMENT_NAME_RULE = (
    "1 to 255 characters, not only dots, without control characters, bidi controls, line separators, / or \\."
)


class AttachedFile(BodyPart):
    name: Text255 = Field(
        description=ATTACHMENT_NAME_RULE,
        examples=["NS2000015.pdf"],
        json_schema_extra={"pattern": attachments.NAME_PATTERN},
    )
    data: str = Field(
        description="A base64 data URI of a PDF, DOC, DOCX or XLSX file of at most 10 MB; the type "
        "is read from the content.",
        examples=["data:application/pdf;base64,JVBERi0xLjQK..."],
    )


class AttachedLink(BodyPart):
    name: Text255 = Field(
        description=ATTACHMENT_NAME_RULE,
        examples=["NS2000015"],
        json_schema_extra={"pattern": attachments.NAME_PATTERN},
    )
    data: Text2000 = Field(
        description="An https URL without spaces, tabs, line breaks or other control "
        "characters; Arrears never fetches it.",
        examples=["https://erp.example.com/invoices/NS2000015.pdf"],
        json_schema_extra={"pattern": attachments.LINK_PATTERN},
    )


class ApproveInvoiceBody(InvoiceReference):
    due_date: StoredDate | None = Field(
        None,
        description="Today or later; default: today + the account class's "
        "payment expiration period − 1 day (R13, R14).",
    )
    amount: ExternalAmount | None = Field(None, description="The ERP's own total and currency (R17, R18).")
    file: AttachedFile | None = Field(None, description="The ERP's invoice document; not together with link (R23).")
    link: AttachedLink | None = Field(None, description="A link to the ERP's invoice; not together with file (R23).")


class CompleteInvoiceBody(InvoiceReference):
    pass


class RevokeInvoiceBody(InvoiceReference):
    comment: Text1000 | None = Field(None, description="The reason, appended to the payment's comment (R38).")


# --- Platform bodies ------------------------------------------------------------------------------------------


class CreateAccountBody(Body):
    """Flat, or as the reference's JSON:API document ``{"data": {"type": "accounts", "attributes": {…}}}``."""

    name: RequiredText200
    email: Text254 | None = None
    address: Text1000 | None = None
    account_class_id: Id | None = Field(None, description="Default: the reseller's default account class.")

    @model_validator(mode="before")
    @classmethod
    def _reference_document(cls, data, info: ValidationInfo):
        if not (isinstance(data, dict) and "data" in data):
            return data
        attributes = jsonapi_attributes(data, "accounts", AccountFieldInvalid)
        # Errors inside the attributes then point under /data/attributes (app.validation_error).
        (info.context or {})["request"].jsonapi_attributes = True
        return attributes


def jsonapi_attributes(document: dict, resource_type: str, error: type[ArrearsError]) -> dict:
    """The attributes of a JSON:API document that creates a ``resource_type``: a resource object with that type,
    no id (the server makes it) and nothing else beside ``attributes``."""
    for key in document:
        if key != "data":
            raise error(f"{key}: unknown member of the document", pointer=f"/{key}")
    resource = document["data"]
    if not isinstance(resource, dict):
        raise error("data must be a resource object {type, attributes}", pointer="/data")
    for key in resource:
        if key not in {"type", "attributes"}:
            reason = "the server assigns the id" if key == "id" else "unknown member of the resource object"
            raise error(f"data/{key}: {reason}", pointer=f"/data/{key}")
    if resource.get("type") != resource_type:
        raise error(f"data/type must be {resource_type!r}", pointer="/data/type")
    if not isinstance(resource.get("attributes"), dict):
        raise error("data/attributes must be an object", pointer="/data/attributes")
    return resource["attributes"]


class CreateSubscriptionBody(Body):
    plan_id: Id
    start_date: StoredDate


class PostUsageChargeBody(Body):
    description: RequiredText255
    quantity: Annotated[Text32 | int, _plain_number(integers=True), _below_ten_to_the(QUANTITY_DIGITS)] = Field(
        description="Up to three decimal places, below 10^7.", examples=["12.5"]
    )
    unit_price: Annotated[Text32, _plain_number(integers=False), _below_ten_to_the(UNIT_PRICE_DIGITS)] = Field(
        description="Net price per unit, a decimal string in the reseller currency, below 10^8.", examples=["0.40"]
    )
    date: IsoDate = Field(description="The day of use; from the subscription start up to today.")
    external_id: Text255 | None = Field(
        None, description="The connector's id: posting it again returns the first charge and creates nothing."
    )


# --- List parameters -----------------------------------------------------------------------------------------


class QueryParameters(BaseModel):
    """Query parameters are plain Pydantic models: ninja's Schema would wrap each validation in its getter for
    ORM objects, which a query string never is."""


class ListQuery(QueryParameters):
    page_size: int = Field(50, ge=1, le=500, alias="page[size]")
    page_number: int = Field(1, ge=1, le=1_000_000, alias="page[number]")
    # What a sort value orders by, where it is not the column of its name (list_query).
    sort_columns: ClassVar[dict[str, Any]] = {}
    if TYPE_CHECKING:  # fields that list_query adds to the lists that take them
        sort: str | None
        include: str | None


_ISO_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T")


def _iso_date_or_date_time(value):
    """``YYYY-MM-DD`` or an ISO 8601 date-time (RFC 3339) only: Pydantic would otherwise read numbers as Unix
    timestamps. Parsed here, so that an impossible one (``2026-02-30T00:00:00Z``) is refused by this parameter's
    name rather than by the members of a union."""
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            if _ISO_DATE.match(value):
                return date.fromisoformat(value)
            if _ISO_DATE_TIME.match(value):
                return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError("must be a date YYYY-MM-DD or a date-time YYYY-MM-DDThh:mm:ss±hh:mm")


DateOrDateTime = Annotated[date | datetime, BeforeValidator(_iso_date_or_date_time)]


def list_query(
    name: str,
    *,
    sort: tuple[str, ...],
    sort_columns: dict[str, Any] | None = None,
    include: tuple[str, ...] = (),
    exact: dict[str, Any],
    ranged: dict[str, Any],
) -> type[ListQuery]:
    """A list's query schema: ``filter[f]`` for every filterable field, ``filter[f][gt|lt]`` for the ranged
    ones, ``sort`` over ``sort`` (``-`` for descending) and ``include`` over ``include``.

    A sort is by the column of its name, or by what ``sort_columns`` says (a column path or an expression), for
    an attribute named unlike its column or computed from several (``jsonapi.order_by``)."""
    fields: dict[str, Any] = {}
    for column, kind in {**exact, **ranged}.items():
        fields[column] = (kind | None, Field(None, alias=f"filter[{column}]"))
    for column, kind in ranged.items():
        fields[f"{column}_gt"] = (kind | None, Field(None, alias=f"filter[{column}][gt]"))
        fields[f"{column}_lt"] = (kind | None, Field(None, alias=f"filter[{column}][lt]"))
    orders = tuple(order for column in sort for order in (column, f"-{column}"))
    fields["sort"] = (
        Literal[orders] | None,
        Field(
            None,
            alias="sort",
            description=(
                f"One of: {', '.join(sort)}; `-` before it for descending. Ties are broken by id; a missing value "
                "(null) sorts first ascending and last descending."
            ),
        ),
    )
    if include:
        choice = "|".join(include)
        fields["include"] = (
            str | None,
            Field(
                None,
                alias="include",
                pattern=rf"^({choice})(,({choice}))*$",
                description=f"Comma list of: {', '.join(include)}.",
            ),
        )
    query = create_model(name, __base__=ListQuery, **fields)
    query.sort_columns = sort_columns or {}
    return query


def _true_unless(condition: Q) -> Case:
    return Case(When(condition, then=Value(False)), default=Value(True), output_field=BooleanField())


# Every list sorts by every attribute of its resource that a column holds (or a few columns decide), except a
# currency that is the reseller's for every row; the events feed reads in id order by its cursor.
INVOICE_INCLUDES = ("subscriptions", "payments", "charges", "taxes", "corrections")
_InvoiceListQuery = list_query(
    "InvoiceListQuery",
    sort=(
        "id",
        "document_id",
        "original_document_id",
        "status",
        "payment_model",
        "total",
        "currency",
        "account_id",
        "from_date",
        "to_date",
        "billing_date",
        "managed_externally",
        "approved",
        "approval_date",
        "external_total",
        "external_currency",
        "has_attached",
        "due_date",
        "created_at",
        "updated_at",
        "closed_at",
    ),
    sort_columns={"has_attached": _true_unless(Q(attachment_kind="")), "due_date": "payment__due_date"},
    include=INVOICE_INCLUDES,
    exact={
        "status": Literal["open", "closed"],
        "approved": bool,
        "managed_externally": bool,
        "account_id": Id,
        "payment_model": Literal["postpay", "prepay"],
    },
    ranged={
        "from_date": IsoDate,
        "to_date": IsoDate,
        "billing_date": IsoDate,
        "created_at": DateOrDateTime,
        "updated_at": DateOrDateTime,
    },
)
PaymentStatus = Literal["waiting_for_payment", "expired", "processing", "completed", "paid_from_balance", "cancelled"]
PAYMENT_INCLUDES = ("invoices", "account", "payment_method", "reseller", "charges", "corrections")
# Payment.balance_payment_allowed (R18) in SQL.
_BALANCE_PAYMENT_ALLOWED = Case(
    When(
        Q(type="rendered_services")
        & (Q(external_total__isnull=True) | Q(external_total=F("total"), external_currency=F("currency"))),
        then=Value(True),
    ),
    default=Value(False),
    output_field=BooleanField(),
)
_PaymentListQuery = list_query(
    "PaymentListQuery",
    sort=(
        "id",
        "document_id",
        "type",
        "status",
        "total",
        "initial_total",
        "amount_paid_from_balance",
        "currency_code",
        "due_date",
        "expiration_date",
        "external_total",
        "external_currency",
        "balance_payment_allowed",
        "comment",
        "account_id",
        "invoice_id",
        "created_at",
        "updated_at",
        "closed_at",
    ),
    sort_columns={"currency_code": "currency", "balance_payment_allowed": _BALANCE_PAYMENT_ALLOWED},
    include=PAYMENT_INCLUDES,
    exact={"status": PaymentStatus, "type": Literal["rendered_services", "top_up"], "account_id": Id, "invoice_id": Id},
    ranged={"due_date": IsoDate, "created_at": DateOrDateTime, "updated_at": DateOrDateTime},
)
_ChargeListQuery = list_query(
    "ChargeListQuery",
    sort=(
        "id",
        "kind",
        "description",
        "status",
        "quantity",
        "unit_price",
        "net_amount",
        "tax_rate",
        "tax_amount",
        "amount",
        "period_from",
        "period_to",
        "close_date",
        "external_id",
        "account_id",
        "subscription_id",
        "invoice_id",
        "created_at",
        "updated_at",
        "closed_at",
    ),
    sort_columns={"tax_rate": "tax_rate_bp"},
    exact={
        "status": Literal["new", "blocked", "closed", "deleted"],
        "kind": Literal["recurring", "usage", "setup"],
        "subscription_id": Id,
        "account_id": Id,
        "invoice_id": Id,
    },
    ranged={"close_date": IsoDate, "created_at": DateOrDateTime, "updated_at": DateOrDateTime},
)
_AccountListQuery = list_query(
    "AccountListQuery",
    sort=("id", "name", "email", "address", "account_class_id", "balance", "created_at", "updated_at"),
    exact={"account_class_id": Id},
    ranged={"created_at": DateOrDateTime, "updated_at": DateOrDateTime},
)
_SubscriptionListQuery = list_query(
    "SubscriptionListQuery",
    sort=("id", "account_id", "plan_id", "status", "billing_day", "start_date", "created_at", "updated_at"),
    exact={
        "status": Literal["active", "blocked", "stopped"],
        "account_id": Id,
        "plan_id": Id,
        "billing_day": Annotated[int, Field(ge=1, le=28)],
    },
    ranged={"start_date": IsoDate, "created_at": DateOrDateTime, "updated_at": DateOrDateTime},
)
_PlanListQuery = list_query(
    "PlanListQuery",
    sort=("id", "name", "fee", "tax_rate", "billing_day", "service_term_id", "created_at", "updated_at"),
    sort_columns={"tax_rate": "tax_rate_bp", "billing_day": "service_term__billing_day"},
    exact={},
    ranged={"updated_at": DateOrDateTime},
)


class EventFeedQuery(QueryParameters):
    after: int = Field(0, ge=0, le=MAX_ID, description="The cursor: the id of the last event already read.")
    page_size: int = Field(100, ge=1, le=1000, alias="page[size]")
    type: Text64 | None = Field(None, alias="filter[type]", description="Only events of this type.")
    account_id: Id | None = Field(None, alias="filter[account_id]")


class IncludeParameter(QueryParameters):
    """What mypy knows of an include_query class; the class itself declares the field with its choices."""

    if TYPE_CHECKING:
        include: str | None


def include_query(name: str, include: tuple[str, ...]) -> type[IncludeParameter]:
    """The ``include`` parameter of a single read, over the same choices as its list's."""
    choice = "|".join(include)
    return create_model(
        name,
        __base__=IncludeParameter,
        include=(
            str | None,
            Field(None, pattern=rf"^({choice})(,({choice}))*$", description=f"Comma list of: {', '.join(include)}."),
        ),
    )


_IncludeQuery = include_query("IncludeQuery", INVOICE_INCLUDES)


_PaymentIncludeQuery = include_query("PaymentIncludeQuery", PAYMENT_INCLUDES)

# The query classes are built at import (create_model); mypy knows them by what they share.
if TYPE_CHECKING:
    InvoiceListQuery = ListQuery
    PaymentListQuery = ListQuery
    ChargeListQuery = ListQuery
    AccountListQuery = ListQuery
    SubscriptionListQuery = ListQuery
    PlanListQuery = ListQuery
    IncludeQuery = IncludeParameter
    PaymentIncludeQuery = IncludeParameter
else:
    InvoiceListQuery = _InvoiceListQuery
    PaymentListQuery = _PaymentListQuery
    ChargeListQuery = _ChargeListQuery
    AccountListQuery = _AccountListQuery
    SubscriptionListQuery = _SubscriptionListQuery
    PlanListQuery = _PlanListQuery
    IncludeQuery = _IncludeQuery
    PaymentIncludeQuery = _PaymentIncludeQuery


# --- Responses (documentation of what resources.py renders) ----------------------------------------------


class ResourceIdentifier(Schema):
    id: str
    type: str


class ToMany(Schema):
    data: list[ResourceIdentifier]


class ToOne(Schema):
    data: ResourceIdentifier | None


class Attachment(Schema):
    kind: Literal["file", "link"]
    name: str
    url: str | None


class InvoiceAttributes(Schema):
    document_id: str | None
    original_document_id: str | None
    status: Literal["open", "closed"]
    payment_model: Literal["postpay"]
    total: str
    currency: str
    account_id: int
    from_date: date
    to_date: date = Field(description="Exclusive.")
    billing_date: date
    managed_externally: bool
    approved: bool
    approval_date: date | None
    external_total: str | None
    external_currency: str | None
    has_attached: bool
    attachment: Attachment | None
    due_date: date | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class InvoiceRelationships(Schema):
    subscriptions: ToMany
    payments: ToMany
    charges: ToMany
    corrections: ToMany = Field(description="Always empty: Arrears has no corrections yet (the reference's shape).")
    taxes: ToMany = Field(description="The invoice's tax lines, one per tax rate of its charges.")


class InvoiceResource(Schema):
    id: str
    type: Literal["invoices"]
    attributes: InvoiceAttributes
    relationships: InvoiceRelationships


class TaxAttributes(Schema):
    invoice_id: int
    tax_percent: str = Field(description='The rate in percent, e.g. "20" or "7.5".')
    amount_without_tax: str = Field(description="The net amounts of the invoice's charges at this rate.")
    amount: str = Field(
        description="The tax on them: the sum of the charges' taxes at this rate (the reference's `taxes[].amount`)."
    )
    currency: str


class TaxResource(Schema):
    id: str = Field(description="`{invoice_id}-{rate in basis points}`, e.g. `2046-2000` for 20 % on invoice 2046.")
    type: Literal["taxes"]
    attributes: TaxAttributes


class PaymentAttributes(Schema):
    document_id: str
    type: Literal["rendered_services", "top_up"]
    status: PaymentStatus
    total: str
    initial_total: str
    amount_paid_from_balance: str
    discount_amount: str = Field(
        description="Always \"0.00\" in the currency's precision: no discounts yet (the reference's shape)."
    )
    currency_code: str
    due_date: date | None
    expiration_date: date | None
    external_total: str | None
    external_currency: str | None
    balance_payment_allowed: bool
    comment: str
    account_id: int
    invoice_id: int | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class PaymentRelationships(Schema):
    invoices: ToMany
    account: ToOne
    payment_method: ToOne = Field(description="The method it was paid with; null until then, and for the balance.")
    reseller: ToOne
    charges: ToMany = Field(description="The charges of its invoice; none for a top-up.")
    corrections: ToMany = Field(description="Always empty: Arrears has no corrections yet (the reference's shape).")


class PaymentResource(Schema):
    id: str
    type: Literal["payments"]
    attributes: PaymentAttributes
    relationships: PaymentRelationships


class ChargeAttributes(Schema):
    kind: Literal["recurring", "usage", "setup"]
    description: str
    status: Literal["new", "blocked", "closed", "deleted"]
    quantity: str
    unit_price: str
    net_amount: str
    tax_rate: str = Field(description='Percent, e.g. "20" or "7.5".')
    tax_amount: str
    amount: str = Field(description="Gross: net amount + tax.")
    currency: str
    period_from: date
    period_to: date = Field(description="Exclusive.")
    close_date: date
    external_id: str | None
    account_id: int
    subscription_id: int
    invoice_id: int
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class ChargeResource(Schema):
    id: str
    type: Literal["charges"]
    attributes: ChargeAttributes


class AccountAttributes(Schema):
    name: str
    email: str
    address: str
    account_class_id: int
    balance: str
    currency: str
    created_at: datetime
    updated_at: datetime


class AccountResource(Schema):
    id: str
    type: Literal["accounts"]
    attributes: AccountAttributes


class SubscriptionAttributes(Schema):
    account_id: int
    plan_id: int
    status: Literal["active", "blocked", "stopped"]
    billing_day: int
    start_date: date
    created_at: datetime
    updated_at: datetime


class SubscriptionResource(Schema):
    id: str
    type: Literal["subscriptions"]
    attributes: SubscriptionAttributes


class PlanAttributes(Schema):
    name: str
    fee: str
    currency: str
    tax_rate: str
    billing_day: int
    service_term_id: int
    created_at: datetime
    updated_at: datetime


class PlanResource(Schema):
    id: str
    type: Literal["plans"]
    attributes: PlanAttributes


class PaymentMethodAttributes(Schema):
    name: str
    kind: Literal["manual", "gateway"]
    active: bool
    reseller_id: int
    connector_id: int | None = Field(description="The gateway connector a gateway method pays through.")


class PaymentMethodResource(Schema):
    id: str
    type: Literal["payment_methods"]
    attributes: PaymentMethodAttributes


class ResellerAttributes(Schema):
    name: str
    currency: str
    timezone: str
    external_invoices: bool = Field(description="ERP mode: an external system generates the invoices.")
    created_at: datetime


class ResellerResource(Schema):
    id: str
    type: Literal["resellers"]
    attributes: ResellerAttributes


class EventActor(Schema):
    kind: Literal["system", "manager", "api_token", "customer_user"]
    id: int | None
    label: str


class EventAttributes(Schema):
    type: str
    reseller_id: int
    account_id: int | None
    subject_type: str
    subject_id: int
    payload: dict[str, Any]
    actor: EventActor
    occurred_at: datetime


class EventResource(Schema):
    id: str
    type: Literal["events"]
    attributes: EventAttributes


IncludedResource = (
    InvoiceResource
    | PaymentResource
    | ChargeResource
    | SubscriptionResource
    | AccountResource
    | TaxResource
    | PaymentMethodResource
    | ResellerResource
)


class ListMetaPage(Schema):
    number: int
    size: int
    last: int


class ListMeta(Schema):
    total: int
    page: ListMetaPage


class ListLinks(Schema):
    self: str
    next: str | None
    prev: str | None


class InvoiceDocument(Schema):
    data: InvoiceResource
    included: list[IncludedResource] | None = None


class InvoiceListDocument(Schema):
    data: list[InvoiceResource]
    included: list[IncludedResource] | None = None
    meta: ListMeta
    links: ListLinks


class PaymentDocument(Schema):
    data: PaymentResource
    included: list[IncludedResource] | None = None


class PaymentListDocument(Schema):
    data: list[PaymentResource]
    included: list[IncludedResource] | None = None
    meta: ListMeta
    links: ListLinks


class ChargeDocument(Schema):
    data: ChargeResource


class ChargeListDocument(Schema):
    data: list[ChargeResource]
    meta: ListMeta
    links: ListLinks


class AccountDocument(Schema):
    data: AccountResource


class AccountListDocument(Schema):
    data: list[AccountResource]
    meta: ListMeta
    links: ListLinks


class SubscriptionDocument(Schema):
    data: SubscriptionResource


class SubscriptionListDocument(Schema):
    data: list[SubscriptionResource]
    meta: ListMeta
    links: ListLinks


class PlanDocument(Schema):
    data: PlanResource


class PlanListDocument(Schema):
    data: list[PlanResource]
    meta: ListMeta
    links: ListLinks


class EventFeedMeta(Schema):
    next_cursor: int = Field(description="Pass as `after` to read on; equals `after` when nothing new is visible.")


class EventFeedLinks(Schema):
    self: str
    next: str


class EventFeedDocument(Schema):
    data: list[EventResource]
    meta: EventFeedMeta
    links: EventFeedLinks


class ErrorSource(Schema):
    pointer: str | None = None
    parameter: str | None = None
    header: str | None = None


class ErrorObject(Schema):
    status: str
    code: str
    title: str
    detail: str
    source: ErrorSource | None = None


class ErrorDocument(Schema):
    errors: list[ErrorObject]
