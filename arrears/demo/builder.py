"""The demo data set behind ``arrears demo``.

An operator (EUR, platform-generated invoices) and a sub-reseller whose invoices an ERP manages, each
with account classes, a small cloud catalogue and customers. About three months of history are then
lived day by day through the real services and the real billing engine: connectors post usage, the
engine bills every day, and the ERP, the managers and the customers act on the invoices the engine
closes, each account after its own habits (its *persona*). The result holds every state an operator
wants to see in the panels: open and closed invoices, approved and unapproved ERP invoices, and
payments that are waiting, expired, paid from the balance, completed and cancelled.

Everything is derived from ``today``, and the random numbers come from a fixed seed, so the same
``today`` always gives the same data set.
"""

import random
from collections import Counter, defaultdict
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection
from django.db.models import Count, Max

from arrears.billing.engine import run_billing
from arrears.billing.models import BillingRun
from arrears.catalog.services import create_plan
from arrears.core import clock, money
from arrears.core.actors import Actor
from arrears.customers.models import Account, AccountClass, CustomerUser
from arrears.customers.services import create_account, create_account_class, create_customer_user
from arrears.gateways.models import PaymentConnector
from arrears.gateways.services import create_connector, create_payment_method
from arrears.invoices.models import Invoice
from arrears.invoices.services import (
    approve_invoice,
    complete_invoice_payment,
    post_usage_charge,
    revoke_invoice_approval,
)
from arrears.payments.models import Payment, PaymentMethod
from arrears.payments.services import (
    approve_payment,
    cancel_payment,
    pay_from_balance,
    request_top_up,
    top_up_balance,
)
from arrears.subscriptions.models import Subscription
from arrears.subscriptions.services import create_subscription
from arrears.tenants.models import Manager, Reseller
from arrears.tenants.services import create_manager, create_reseller

OPERATOR_NAME = "Skyline Cloud"
OPERATOR_TIMEZONE = "Europe/Vienna"
SUB_RESELLER_NAME = "Nordlicht IT Solutions"
SUB_RESELLER_TIMEZONE = "Europe/Berlin"
CURRENCY = "EUR"
TAX_RATE_BP = 2000  # 20 % VAT on every plan
HISTORY_MONTHS = 3

OPERATOR_EMAIL = "operator@arrears.demo"
MANAGER_PASSWORDS = {
    OPERATOR_EMAIL: "demo-operator",
    "reseller@arrears.demo": "demo-reseller",
    "erp@arrears.demo": "demo-erp",
}
CUSTOMER_PASSWORD = "demo-customer"
ERP_LINK_BASE = "https://erp.nordlicht-it.example/invoices"
ERP_EXTERNAL_CURRENCY = CURRENCY  # the currency of the external totals the demo's ERP states

# Each reseller's own connector to the reference gateway, which `arrears serve` starts beside the site and points
# the connector at (the URL here is only a placeholder until then). It accepts the resellers' currency and the
# ERP's, and a few more, so that an ERP invoice stated in another currency can be paid through it too.
DEMO_GATEWAY_NAME = "Demo Gateway"
DEMO_GATEWAY_PLACEHOLDER_URL = "http://127.0.0.1:8765"
DEMO_GATEWAY_PROCESSING_MINUTES = 15
DEMO_GATEWAY_CURRENCIES = list(dict.fromkeys((CURRENCY, ERP_EXTERNAL_CURRENCY, "CHF", "GBP", "USD")))

DEMO_ACTOR = Actor.system("arrears demo")
SEED = 20261125

Progress = Callable[[str], None]


@dataclass(frozen=True)
class PlanSpec:
    key: str
    name: str
    fee: int  # net, minor units
    billing_day: int
    usage: str | None  # which metered resource its connector reports, see _usage_line


@dataclass(frozen=True)
class AccountSpec:
    name: str
    email: str
    persona: str  # how the account (and, for the sub-reseller, the ERP) treats its invoices
    account_class: str
    plans: tuple[str, ...]
    start_offset: int  # days after the history start that its subscriptions start
    top_up: int = 0  # minor units credited to the balance at sign-up


OPERATOR_CLASSES = (
    # (name, payment expiration days, grace days); "Default" (10 days, no grace) comes with the reseller.
    ("Small business (14 days)", 14, 5),
    ("Enterprise (net 30)", 30, 14),
)
SUB_RESELLER_CLASSES = (("Partner customers (21 days)", 21, 7),)

OPERATOR_PLANS = (
    PlanSpec("server_s", "Cloud Server S", 1990, 1, "traffic"),
    PlanSpec("server_m", "Cloud Server M", 3990, 1, "traffic"),
    PlanSpec("server_l", "Cloud Server L", 7990, 15, "traffic"),
    PlanSpec("backup", "Backup 500 GB", 990, 1, "backup"),
    PlanSpec("firewall", "Managed Firewall", 2900, 1, None),
    PlanSpec("m365", "Microsoft 365 Business Standard", 1250, 15, None),
    PlanSpec("storage", "Object Storage (pay as you go)", 0, 15, "storage"),
)
SUB_RESELLER_PLANS = (
    PlanSpec("server_s", "Cloud Server S", 2190, 1, "traffic"),
    PlanSpec("backup", "Backup 500 GB", 1190, 1, "backup"),
    PlanSpec("m365", "Microsoft 365 Business Premium", 2200, 15, None),
    PlanSpec("kubernetes", "Managed Kubernetes", 12900, 15, "nodes"),
)

SMB, ENTERPRISE, PARTNER, DEFAULT = (
    "Small business (14 days)",
    "Enterprise (net 30)",
    "Partner customers (21 days)",
    "Default",
)

OPERATOR_ACCOUNTS = (
    AccountSpec(
        "Alpine Dental Clinic",
        "office@alpine-dental.example.com",
        "auto_balance",
        DEFAULT,
        ("server_s", "backup"),
        0,
        top_up=50_000,
    ),
    AccountSpec(
        "Bäckerei Huber & Söhne",
        "buchhaltung@baeckerei-huber.example.com",
        "balance_runs_out",
        DEFAULT,
        ("server_s", "backup"),
        1,
        top_up=6_000,
    ),
    AccountSpec(
        "Kranz Architekten ZT GmbH",
        "finance@kranz-architekten.example.com",
        "pays_from_balance",
        SMB,
        ("server_m", "m365"),
        2,
        top_up=30_000,
    ),
    AccountSpec(
        "Lindner Logistics GmbH",
        "ap@lindner-logistics.example.com",
        "bank_transfer",
        ENTERPRISE,
        ("server_l", "storage", "firewall"),
        0,
    ),
    AccountSpec(
        "Moser Steuerberatung", "kanzlei@moser-steuer.example.com", "bank_transfer", SMB, ("server_s", "m365"), 3
    ),
    AccountSpec("Novak Media e.U.", "hello@novak-media.example.com", "never_pays", DEFAULT, ("server_m", "storage"), 4),
    AccountSpec(
        "Oberhofer Hotels KG", "accounting@oberhofer-hotels.example.com", "pays_late", SMB, ("server_l", "backup"), 1
    ),
    AccountSpec(
        "Pichler Engineering AG",
        "invoices@pichler-engineering.example.com",
        "bank_transfer_slow",
        ENTERPRISE,
        ("server_m", "backup", "firewall"),
        5,
    ),
    AccountSpec(
        "Quantum Robotics GmbH",
        "billing@quantum-robotics.example.com",
        "top_up_request",
        DEFAULT,
        ("server_s", "storage"),
        2,
    ),
    AccountSpec(
        "Riedl Fitness Studios",
        "office@riedl-fitness.example.com",
        "auto_balance",
        DEFAULT,
        ("m365",),
        6,
        top_up=20_000,
    ),
    AccountSpec(
        "Sonnleitner Immobilien",
        "buero@sonnleitner-immo.example.com",
        "bank_transfer",
        DEFAULT,
        ("server_s", "m365"),
        3,
    ),
    AccountSpec(
        "Taurus Software OG",
        "team@taurus-software.example.com",
        "auto_balance",
        SMB,
        ("server_l", "storage"),
        0,
        top_up=80_000,
    ),
    AccountSpec("Urban Bikes Wien", "shop@urban-bikes.example.com", "never_pays", SMB, ("server_s",), 7),
)
SUB_RESELLER_ACCOUNTS = (
    AccountSpec(
        "Fjord Consulting GmbH", "rechnung@fjord-consulting.example.com", "erp_link", DEFAULT, ("server_s", "backup"), 0
    ),
    AccountSpec(
        "Gletscher Versicherungsmakler",
        "buchhaltung@gletscher-makler.example.com",
        "erp_discount",
        PARTNER,
        ("m365", "server_s"),
        2,
    ),
    AccountSpec(
        "Hafen Kaffeerösterei",
        "kasse@hafen-kaffee.example.com",
        "erp_balance",
        DEFAULT,
        ("server_s",),
        1,
        top_up=40_000,
    ),
    AccountSpec("Isar Legal Partners", "office@isar-legal.example.com", "erp_never_pays", PARTNER, ("m365",), 3),
    AccountSpec(
        "Jura Print & Design", "studio@jura-print.example.com", "erp_revoke", DEFAULT, ("server_s", "kubernetes"), 2
    ),
    AccountSpec("Kiel Marine Services", "admin@kiel-marine.example.com", "erp_cancel", DEFAULT, ("backup", "m365"), 4),
    AccountSpec("Lech Outdoor GmbH", "finanzen@lech-outdoor.example.com", "erp_pending", DEFAULT, ("kubernetes",), 5),
)


def at(day: date, hour: int, minute: int, tz_name: str) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(tz_name))


def _invoice_of(payment: Payment) -> Invoice:
    """The invoice of a payment the engine created at closing: one for rendered services, which has one."""
    invoice = payment.invoice
    assert invoice is not None, "payment_invoice_only_for_rendered_services gives such a payment its invoice"
    return invoice


def _expiration_of(payment: Payment) -> date:
    """The expiration date of a payment of an invoice the platform issues, dated when the invoice closed."""
    expiration_date = payment.expiration_date
    assert expiration_date is not None, "the engine dates a platform-issued invoice's payment at closing"
    return expiration_date


def find_demo_operator() -> Reseller | None:
    """The operator of an earlier demo, found by its manager's e-mail or by its name."""
    manager = Manager.objects.filter(user__username=OPERATOR_EMAIL).select_related("reseller").first()
    if manager is not None:
        reseller = manager.reseller
        while (parent := reseller.parent) is not None:
            reseller = parent
        return reseller
    return Reseller.objects.filter(name=OPERATOR_NAME, parent__isnull=True).order_by("id").first()


def build_demo(*, today: date, progress: Progress | None = None) -> dict:
    """Build the demo as of ``today``, or, if it is already there, change nothing.

    Returns the logins and what the data set holds (see :func:`describe_demo`).
    """
    report = progress or (lambda message: None)
    operator = find_demo_operator()
    if operator is not None:
        report(f"The demo already exists ({operator.name}, reseller {operator.pk}); nothing changed.")
        return describe_demo(operator, created=False)
    builder = _DemoBuilder(today, report)
    with _fast_commits():
        builder.build()
    return describe_demo(builder.operator, created=True)


@contextmanager
def _fast_commits():
    """On PostgreSQL, let the demo's two thousand small transactions skip waiting for the WAL flush.

    A crash could lose only the last few demo transactions, never corrupt anything; the session
    setting is restored afterwards. SQLite already runs with ``synchronous=NORMAL``.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO OFF")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")


def describe_demo(operator: Reseller, *, created: bool) -> dict:
    """Logins and counts of the demo under ``operator``."""
    reseller_ids = list(Reseller.objects.filter(path__startswith=operator.path).values_list("id", flat=True))
    resellers = Reseller.objects.filter(pk__in=reseller_ids).order_by("id")
    invoices = Invoice.objects.filter(reseller_id__in=reseller_ids)
    erp_closed = invoices.filter(status=Invoice.Status.CLOSED, managed_externally=True)
    payments = Payment.objects.filter(reseller_id__in=reseller_ids)

    def by_status(queryset) -> dict[str, int]:
        return {row["status"]: row["n"] for row in queryset.values("status").annotate(n=Count("id")).order_by("status")}

    logins = [
        {
            "panel": "operator",
            "reseller": manager.reseller.name,
            "role": manager.role,
            "email": manager.user.email,
            "password": MANAGER_PASSWORDS.get(manager.user.email),
        }
        for manager in Manager.objects.filter(reseller_id__in=reseller_ids)
        .select_related("user", "reseller")
        .order_by("reseller_id", "id")
    ]
    logins += [
        {
            "panel": "customer",
            "reseller": user.account.reseller.name,
            "account": user.account.name,
            "email": user.user.email,
            "password": CUSTOMER_PASSWORD,
        }
        for user in CustomerUser.objects.filter(account__reseller_id__in=reseller_ids)
        .select_related("user", "account__reseller")
        .order_by("account__reseller_id", "account_id", "id")
    ]
    return {
        "created": created,
        "billed_until": BillingRun.objects.filter(reseller=operator).aggregate(last=Max("date"))["last"],
        "resellers": [
            {
                "id": reseller.pk,
                "name": reseller.name,
                "parent_id": reseller.parent_id,
                "currency": reseller.currency,
                "timezone": reseller.timezone,
                "external_invoices": reseller.external_invoices,
            }
            for reseller in resellers
        ],
        "accounts": Account.objects.filter(reseller_id__in=reseller_ids).count(),
        "subscriptions": by_status(Subscription.objects.filter(reseller_id__in=reseller_ids)),
        "invoices": {
            "open": invoices.filter(status=Invoice.Status.OPEN).count(),
            "closed": invoices.filter(status=Invoice.Status.CLOSED).count(),
            "managed_externally": erp_closed.count(),
            "approved": erp_closed.filter(approved=True).count(),
            "unapproved": erp_closed.filter(approved=False).count(),
        },
        "payments": by_status(payments.filter(type=Payment.Type.RENDERED_SERVICES)),
        "top_ups": by_status(payments.filter(type=Payment.Type.TOP_UP)),
        # Their URL is where `arrears serve` last started them (a loopback port of its choosing).
        "payment_connectors": [
            {
                "id": connector.pk,
                "reseller": connector.reseller.name,
                "name": connector.name,
                "url": connector.url,
                "currencies": connector.currencies,
                "runs_with_serve": connector.runs_with_serve,
            }
            for connector in PaymentConnector.objects.filter(reseller_id__in=reseller_ids)
            .select_related("reseller")
            .order_by("reseller_id", "id")
        ],
        "logins": logins,
    }


class _Agenda:
    """Actions planned for later days, run in time order at their business hour."""

    def __init__(self):
        self._by_day: dict[date, list[tuple[time, int, str, Callable[[datetime], None]]]] = defaultdict(list)
        self._sequence = 0

    def add(self, day: date, when: time, tz_name: str, action: Callable[[datetime], None]) -> None:
        self._sequence += 1
        self._by_day[day].append((when, self._sequence, tz_name, action))

    def run(self, day: date) -> int:
        items = sorted(self._by_day.pop(day, []), key=lambda item: (item[0], item[1]))
        for when, _, tz_name, action in items:
            action(datetime.combine(day, when, tzinfo=ZoneInfo(tz_name)))
        return len(items)


class _DemoBuilder:
    def __init__(self, today: date, progress: Progress):
        self.today = today
        self.progress = progress
        self.history_start = today - relativedelta(months=HISTORY_MONTHS)
        self.rng = random.Random(SEED)
        self.agenda = _Agenda()
        self.persona: dict[int, str] = {}
        self.customer: dict[int, Actor] = {}
        self.manager_of: dict[int, Actor] = {}  # reseller id -> the manager who acts for it
        self.bank_transfer: dict[int, PaymentMethod] = {}
        self.metered: list[tuple[Subscription, str, float]] = []  # subscription, resource, size factor
        self.invoices_with_payment: Counter[int] = Counter()
        self.next_erp_number = 1001

    # --- set-up: resellers, managers, catalogue, accounts, subscriptions ----------------------------

    def build(self) -> None:
        self._create_resellers()
        self._create_accounts()
        self._live_history()

    def _create_resellers(self) -> None:
        setup_day = self.history_start - timedelta(days=14)
        op_tz, sub_tz = OPERATOR_TIMEZONE, SUB_RESELLER_TIMEZONE
        self.progress(f"Creating {OPERATOR_NAME} and {SUB_RESELLER_NAME} with their catalogues")
        self.operator = create_reseller(
            name=OPERATOR_NAME, currency=CURRENCY, timezone=op_tz, actor=DEMO_ACTOR, now=at(setup_day, 9, 0, op_tz)
        )
        operator_manager = create_manager(
            reseller=self.operator,
            email=OPERATOR_EMAIL,
            password=MANAGER_PASSWORDS[OPERATOR_EMAIL],
            role=Manager.Role.ADMIN,
            actor=DEMO_ACTOR,
            now=at(setup_day, 9, 5, op_tz),
        )
        self.operator_actor = Actor.manager(operator_manager)
        self.sub_reseller = create_reseller(
            name=SUB_RESELLER_NAME,
            currency=CURRENCY,
            parent=self.operator,
            timezone=sub_tz,
            external_invoices=True,
            actor=self.operator_actor,
            now=at(setup_day, 10, 0, op_tz),
        )
        reseller_manager = create_manager(
            reseller=self.sub_reseller,
            email="reseller@arrears.demo",
            password=MANAGER_PASSWORDS["reseller@arrears.demo"],
            role=Manager.Role.ADMIN,
            actor=self.operator_actor,
            now=at(setup_day, 10, 5, sub_tz),
        )
        self.reseller_actor = Actor.manager(reseller_manager)
        # The ERP integration acts as a billing manager of the sub-reseller (it will own the API token).
        erp_manager = create_manager(
            reseller=self.sub_reseller,
            email="erp@arrears.demo",
            password=MANAGER_PASSWORDS["erp@arrears.demo"],
            role=Manager.Role.BILLING_MANAGER,
            actor=self.reseller_actor,
            now=at(setup_day, 10, 10, sub_tz),
        )
        self.erp_actor = Actor.manager(erp_manager)
        self.manager_of = {self.operator.pk: self.operator_actor, self.sub_reseller.pk: self.reseller_actor}
        for reseller in (self.operator, self.sub_reseller):
            self.bank_transfer[reseller.pk] = PaymentMethod.objects.create(
                reseller=reseller, kind=PaymentMethod.Kind.MANUAL, name="Bank transfer"
            )
            self._create_demo_gateway(reseller, now=at(setup_day, 11, 0, self._tz(reseller.pk)))

        self.classes: dict[tuple[int, str], AccountClass] = {
            (cls.reseller_id, cls.name): cls
            for cls in AccountClass.objects.filter(reseller__in=[self.operator, self.sub_reseller])
        }
        self.plans: dict[tuple[int, str], tuple] = {}
        for reseller, actor, classes, plans, tz in (
            (self.operator, self.operator_actor, OPERATOR_CLASSES, OPERATOR_PLANS, op_tz),
            (self.sub_reseller, self.reseller_actor, SUB_RESELLER_CLASSES, SUB_RESELLER_PLANS, sub_tz),
        ):
            for minute, (name, expiration_days, grace_days) in enumerate(classes):
                self.classes[(reseller.pk, name)] = create_account_class(
                    reseller=reseller,
                    name=name,
                    payment_expiration_days=expiration_days,
                    grace_days=grace_days,
                    actor=actor,
                    now=at(setup_day, 11, minute, tz),
                )
            for minute, spec in enumerate(plans):
                plan = create_plan(
                    reseller=reseller,
                    name=spec.name,
                    fee=spec.fee,
                    billing_day=spec.billing_day,
                    tax_rate_bp=TAX_RATE_BP,
                    actor=actor,
                    now=at(setup_day, 12, minute, tz),
                )
                self.plans[(reseller.pk, spec.key)] = (plan, spec)

    def _create_demo_gateway(self, reseller: Reseller, *, now: datetime) -> None:
        actor = self.manager_of[reseller.pk]
        connector, _secret = create_connector(
            reseller,
            name=DEMO_GATEWAY_NAME,
            url=DEMO_GATEWAY_PLACEHOLDER_URL,
            processing_minutes=DEMO_GATEWAY_PROCESSING_MINUTES,
            currencies=DEMO_GATEWAY_CURRENCIES,
            runs_with_serve=True,
            actor=actor,
            now=now,
        )
        create_payment_method(
            reseller, name=DEMO_GATEWAY_NAME, connector=connector, actor=actor, now=now + timedelta(minutes=1)
        )

    def _create_accounts(self) -> None:
        self.progress(f"Signing up {len(OPERATOR_ACCOUNTS) + len(SUB_RESELLER_ACCOUNTS)} customer accounts")
        for reseller, specs, tz in (
            (self.operator, OPERATOR_ACCOUNTS, OPERATOR_TIMEZONE),
            (self.sub_reseller, SUB_RESELLER_ACCOUNTS, SUB_RESELLER_TIMEZONE),
        ):
            manager = self.manager_of[reseller.pk]
            for number, spec in enumerate(specs):
                start = self.history_start + timedelta(days=spec.start_offset)
                signed_up = at(start - timedelta(days=3), 9 + number % 8, 7 * number % 60, tz)
                account = create_account(
                    reseller=reseller,
                    name=spec.name,
                    email=spec.email,
                    address=f"{spec.name}\nDemo Street {number + 1}",
                    account_class=self.classes[(reseller.pk, spec.account_class)],
                    actor=manager,
                    now=signed_up,
                )
                customer_user = create_customer_user(
                    account=account, email=spec.email, actor=manager, now=signed_up + timedelta(minutes=2)
                )
                self.customer[account.pk] = Actor.customer_user(customer_user)
                self.persona[account.pk] = spec.persona
                if spec.top_up:
                    top_up_balance(
                        account,
                        spec.top_up,
                        payment_method=self.bank_transfer[reseller.pk],
                        actor=manager,
                        now=signed_up + timedelta(hours=2),
                    )
                for minute, key in enumerate(spec.plans):
                    plan, plan_spec = self.plans[(reseller.pk, key)]
                    subscription = create_subscription(
                        account=account,
                        plan=plan,
                        start_date=start,
                        actor=manager,
                        now=signed_up + timedelta(minutes=10 + minute),
                    )
                    if plan_spec.usage:
                        self.metered.append((subscription, plan_spec.usage, self.rng.uniform(0.5, 2.0)))
                if spec.persona == "top_up_request":
                    self._plan_top_up_requests(account, start)
        # One Argon2 hash shared by every demo customer: hashing twenty times would take seconds.
        get_user_model().objects.filter(customer__account__reseller__in=[self.operator, self.sub_reseller]).update(
            password=make_password(CUSTOMER_PASSWORD)
        )

    def _plan_top_up_requests(self, account: Account, start: date) -> None:
        """The customer asks to top up by bank transfer; the operator books it when the money arrives."""
        requested: dict[int, Payment] = {}  # by amount

        def request(amount: int):
            def action(now: datetime) -> None:
                requested[amount] = request_top_up(account, amount, actor=self.customer[account.pk], now=now)

            return action

        def book(amount: int):
            def action(now: datetime) -> None:
                approve_payment(
                    requested[amount],
                    payment_method=self.bank_transfer[account.reseller_id],
                    actor=self.operator_actor,
                    now=now,
                )

            return action

        self.agenda.add(start - timedelta(days=2), time(16, 20), OPERATOR_TIMEZONE, request(20_000))
        self.agenda.add(start, time(10, 40), OPERATOR_TIMEZONE, book(20_000))
        # A second request that is still waiting for its money today.
        self.agenda.add(self.today - timedelta(days=2), time(15, 5), OPERATOR_TIMEZONE, request(10_000))

    # --- the history: one day at a time ----------------------------------------------------------------

    def _live_history(self) -> None:
        first_day = self.history_start - timedelta(days=3)
        self.progress(f"Living the history from {self.history_start} to {self.today} through the billing engine")
        reseller_ids = [self.operator.pk, self.sub_reseller.pk]
        totals: Counter[str] = Counter()
        for day in clock.date_range(first_day, self.today):
            for result in run_billing(wall_now=at(day, 0, 5, OPERATOR_TIMEZONE), until=day, reseller_ids=reseller_ids):
                totals.update(result.counts)
                if result.counts.get("payments_created"):
                    self._invoices_closed(result.reseller_id, day)
            if day < self.today:
                # Today's business hours may not have come yet; the engine's run at midnight has.
                totals["actions"] += self.agenda.run(day)
                totals["usage_charges"] += self._post_usage(day)
            if day.day == 1 or day == self.today:
                self.progress(
                    f"  {day}: {totals['invoices_closed']} invoices closed, "
                    f"{totals['usage_charges']} usage charges, {totals['actions']} customer, "
                    f"manager and ERP actions so far"
                )

    def _post_usage(self, day: date) -> int:
        """Service connectors report the day's consumption in the evening; repeat-safe by external id."""
        blocked = set(
            Subscription.objects.filter(
                reseller_id__in=[self.operator.pk, self.sub_reseller.pk],
                status=Subscription.Status.BLOCKED,
            ).values_list("id", flat=True)
        )
        posted = 0
        for subscription, resource, size in self.metered:
            if subscription.start_date > day or subscription.pk in blocked:
                continue
            line = _usage_line(resource, day, size, self.rng)
            if line is None:
                continue
            description, quantity, unit_price = line
            tz = SUB_RESELLER_TIMEZONE if subscription.reseller_id == self.sub_reseller.pk else OPERATOR_TIMEZONE
            _, created = post_usage_charge(
                subscription,
                description=description,
                quantity=quantity,
                unit_price=unit_price,
                usage_date=day,
                external_id=f"demo-{subscription.pk}-{resource}-{day.isoformat()}",
                actor=Actor.system("service connector"),
                now=at(day, 17, 30, tz),
            )
            posted += created
        return posted

    def _invoices_closed(self, reseller_id: int, day: date) -> None:
        """Plan what happens to each payment the engine created today, after its account's habits."""
        payments = (
            Payment.objects.filter(
                reseller_id=reseller_id,
                type=Payment.Type.RENDERED_SERVICES,
                invoice__closed_at__gte=at(day, 0, 0, "UTC") - timedelta(days=1),
                invoice__closed_at__lt=at(day, 0, 0, "UTC") + timedelta(days=1),
            )
            .select_related("invoice", "account")
            .order_by("id")
        )
        for payment in payments:
            closed_at = _invoice_of(payment).closed_at
            assert closed_at is not None, "the query read only payments of invoices closed around the day"
            if closed_at.astimezone(ZoneInfo(self._tz(reseller_id))).date() != day:
                continue
            self.invoices_with_payment[payment.account_id] += 1
            ordinal = self.invoices_with_payment[payment.account_id]
            getattr(self, f"_plan_{self.persona[payment.account_id]}")(payment, day, ordinal)

    def _tz(self, reseller_id: int) -> str:
        return SUB_RESELLER_TIMEZONE if reseller_id == self.sub_reseller.pk else OPERATOR_TIMEZONE

    # --- default mode (the operator's own customers) -----------------------------------------------------

    def _plan_auto_balance(self, payment: Payment, closed_on: date, ordinal: int) -> None:
        """Enough on the balance: the engine pays on the due date (R21)."""

    def _plan_never_pays(self, payment: Payment, closed_on: date, ordinal: int) -> None:
        """Nothing: the payment expires and, after the class's grace period, the services are blocked."""

    def _plan_top_up_request(self, payment: Payment, closed_on: date, ordinal: int) -> None:
        """The requested top-up pays the invoices on their due dates (R21)."""

    def _plan_balance_runs_out(self, payment: Payment, closed_on: date, ordinal: int) -> None:
        """A small prepayment runs out; a few days after a payment expires, the customer transfers money
        and pays it from the balance by hand (expired payments are never paid automatically, R21)."""
        self.agenda.add(
            _expiration_of(payment) + timedelta(days=3),
            time(11, 15),
            self._tz(payment.reseller_id),
            self._customer_pays_from_balance(payment, only_if=Payment.Status.EXPIRED),
        )

    def _plan_pays_from_balance(self, payment: Payment, closed_on: date, ordinal: int) -> None:
        self.agenda.add(
            closed_on + timedelta(days=3),
            time(16, 45),
            self._tz(payment.reseller_id),
            self._customer_pays_from_balance(payment),
        )

    def _plan_bank_transfer(self, payment: Payment, closed_on: date, ordinal: int) -> None:
        self.agenda.add(
            closed_on + timedelta(days=6),
            time(14, 10),
            self._tz(payment.reseller_id),
            self._manager_books_bank_transfer(payment),
        )

    def _plan_bank_transfer_slow(self, payment: Payment, closed_on: date, ordinal: int) -> None:
        self.agenda.add(
            closed_on + timedelta(days=24),
            time(14, 20),
            self._tz(payment.reseller_id),
            self._manager_books_bank_transfer(payment),
        )

    def _plan_pays_late(self, payment: Payment, closed_on: date, ordinal: int) -> None:
        """Always two days late, within the grace period: the expired payment is booked as completed."""
        self.agenda.add(
            _expiration_of(payment) + timedelta(days=2),
            time(9, 50),
            self._tz(payment.reseller_id),
            self._manager_books_bank_transfer(payment),
        )

    # --- ERP mode (the sub-reseller's customers) ---------------------------------------------------------

    def _plan_erp_link(self, payment: Payment, closed_on: date, ordinal: int) -> None:
        """The ERP approves with a link to its own invoice and completes once the money is in."""
        self.agenda.add(
            closed_on + timedelta(days=2),
            time(7, 30),
            SUB_RESELLER_TIMEZONE,
            self._erp_approves(_invoice_of(payment), link=True),
        )
        self.agenda.add(
            closed_on + timedelta(days=9), time(7, 35), SUB_RESELLER_TIMEZONE, self._erp_completes(_invoice_of(payment))
        )

    def _plan_erp_discount(self, payment: Payment, closed_on: date, ordinal: int) -> None:
        """The ERP grants a 2 % partner discount (an external total, so no balance payment, R18) and a
        due date of its own; the reseller's manager books the transfer without a method (R30)."""
        self.agenda.add(
            closed_on + timedelta(days=3),
            time(7, 30),
            SUB_RESELLER_TIMEZONE,
            self._erp_approves(_invoice_of(payment), discount_percent=2, due_in_days=14),
        )
        self.agenda.add(
            closed_on + timedelta(days=12), time(15, 0), SUB_RESELLER_TIMEZONE, self._manager_books_erp_payment(payment)
        )

    def _plan_erp_balance(self, payment: Payment, closed_on: date, ordinal: int) -> None:
        """The ERP states the same total as the platform, so the customer may pay from the balance."""
        self.agenda.add(
            closed_on + timedelta(days=2),
            time(7, 30),
            SUB_RESELLER_TIMEZONE,
            self._erp_approves(_invoice_of(payment), link=True, same_total=True),
        )
        self.agenda.add(
            closed_on + timedelta(days=4),
            time(12, 30),
            SUB_RESELLER_TIMEZONE,
            self._customer_pays_from_balance(payment),
        )

    def _plan_erp_never_pays(self, payment: Payment, closed_on: date, ordinal: int) -> None:
        self.agenda.add(
            closed_on + timedelta(days=2), time(7, 30), SUB_RESELLER_TIMEZONE, self._erp_approves(_invoice_of(payment))
        )

    def _plan_erp_revoke(self, payment: Payment, closed_on: date, ordinal: int) -> None:
        """The first invoice is approved with a wrong VAT total, revoked the next morning and approved
        again with a corrected ERP invoice (R36–R40); later ones go the usual way."""
        if ordinal > 1:
            self._plan_erp_link(payment, closed_on, ordinal)
            return
        invoice = _invoice_of(payment)
        self.agenda.add(
            closed_on + timedelta(days=2),
            time(7, 30),
            SUB_RESELLER_TIMEZONE,
            self._erp_approves(invoice, wrong_vat=True),
        )
        self.agenda.add(
            closed_on + timedelta(days=3),
            time(7, 10),
            SUB_RESELLER_TIMEZONE,
            self._erp_revokes(
                invoice, "Wrong VAT rate (25 % instead of 20 %) on the ERP invoice; a corrected invoice follows"
            ),
        )
        self.agenda.add(
            closed_on + timedelta(days=3), time(7, 30), SUB_RESELLER_TIMEZONE, self._erp_approves(invoice, link=True)
        )
        self.agenda.add(
            closed_on + timedelta(days=10), time(7, 35), SUB_RESELLER_TIMEZONE, self._erp_completes(invoice)
        )

    def _plan_erp_cancel(self, payment: Payment, closed_on: date, ordinal: int) -> None:
        """The first invoice is waived as a service credit before the ERP approves it (R32–R35)."""
        if ordinal > 1:
            self._plan_erp_link(payment, closed_on, ordinal)
            return
        self.agenda.add(
            closed_on + timedelta(days=1),
            time(10, 0),
            SUB_RESELLER_TIMEZONE,
            self._manager_cancels(payment, "Service credit for the backup outage in the first month"),
        )

    def _plan_erp_pending(self, payment: Payment, closed_on: date, ordinal: int) -> None:
        """The customer is not set up in the ERP yet: its invoices wait unapproved."""

    # --- the actions ----------------------------------------------------------------------------------------

    def _customer_pays_from_balance(self, payment: Payment, only_if: str = Payment.Status.WAITING_FOR_PAYMENT):
        def action(now: datetime) -> None:
            current = Payment.objects.select_related("account").get(pk=payment.pk)
            if current.status != only_if or current.due_date is None:
                return
            shortfall = current.total - current.account.balance
            if shortfall > 0:
                # The customer transferred enough to the balance that morning, rounded up to 50.00.
                amount = -(-shortfall // 5_000) * 5_000
                top_up_balance(
                    current.account,
                    amount,
                    payment_method=self.bank_transfer[current.reseller_id],
                    actor=self.manager_of[current.reseller_id],
                    now=now - timedelta(hours=2),
                )
            pay_from_balance(current, actor=self.customer[current.account_id], now=now)

        return action

    def _manager_books_bank_transfer(self, payment: Payment):
        def action(now: datetime) -> None:
            current = Payment.objects.get(pk=payment.pk)
            if current.status in (Payment.Status.WAITING_FOR_PAYMENT, Payment.Status.EXPIRED):
                approve_payment(
                    current,
                    payment_method=self.bank_transfer[current.reseller_id],
                    actor=self.manager_of[current.reseller_id],
                    now=now,
                )

        return action

    def _manager_books_erp_payment(self, payment: Payment):
        def action(now: datetime) -> None:
            current = Payment.objects.get(pk=payment.pk)
            if current.status in (Payment.Status.WAITING_FOR_PAYMENT, Payment.Status.EXPIRED) and current.due_date:
                approve_payment(current, actor=self.reseller_actor, now=now)

        return action

    def _manager_cancels(self, payment: Payment, reason: str):
        def action(now: datetime) -> None:
            cancel_payment(payment, comment=reason, actor=self.reseller_actor, now=now)

        return action

    def _erp_approves(
        self,
        invoice: Invoice,
        *,
        link: bool = False,
        same_total: bool = False,
        discount_percent: int = 0,
        wrong_vat: bool = False,
        due_in_days: int | None = None,
    ):
        def action(now: datetime) -> None:
            current = Invoice.objects.get(pk=invoice.pk)
            if current.approved:
                return
            document_id = f"NL-{now.year}-{self.next_erp_number:05d}"
            self.next_erp_number += 1
            amount = None
            if same_total:
                amount = current.total
            elif discount_percent:
                amount = current.total - money.divide_half_up(current.total * discount_percent, 100)
            elif wrong_vat:
                amount = money.divide_half_up(current.total * (10_000 + 2_500), 10_000 + TAX_RATE_BP)
            due_date = now.date() + timedelta(days=due_in_days) if due_in_days else None
            approve_invoice(
                current,
                document_id=document_id,
                billing_date=current.billing_date,
                due_date=due_date,
                amount={"total": money.format_amount(amount, ERP_EXTERNAL_CURRENCY), "currency": ERP_EXTERNAL_CURRENCY}
                if amount
                else None,
                link={"name": f"{document_id}.pdf", "data": f"{ERP_LINK_BASE}/{document_id}.pdf"} if link else None,
                actor=self.erp_actor,
                now=now,
            )

        return action

    def _erp_revokes(self, invoice: Invoice, reason: str):
        def action(now: datetime) -> None:
            current = Invoice.objects.get(pk=invoice.pk)
            revoke_invoice_approval(
                current,
                document_id=current.document_id,
                billing_date=current.billing_date,
                comment=reason,
                actor=self.erp_actor,
                now=now,
            )

        return action

    def _erp_completes(self, invoice: Invoice):
        def action(now: datetime) -> None:
            current = Invoice.objects.select_related("payment").get(pk=invoice.pk)
            if current.approved and current.payment.status in (
                Payment.Status.WAITING_FOR_PAYMENT,
                Payment.Status.EXPIRED,
            ):
                complete_invoice_payment(
                    current,
                    document_id=current.document_id,
                    billing_date=current.billing_date,
                    actor=self.erp_actor,
                    now=now,
                )

        return action


def _usage_line(resource: str, day: date, size: float, rng: random.Random) -> tuple[str, str, int] | None:
    """(description, quantity, unit price in cents) a connector reports for ``day``, or None."""
    if resource == "traffic":
        if rng.random() < 0.35:  # most days stay within the included traffic
            return None
        return "Outbound traffic above the included 1 TB, GB", f"{rng.uniform(4, 60) * size:.3f}", 2
    if resource == "storage":
        stored_hundreds_of_gb = size * 3 * (1 + (day.toordinal() % 90) / 120)
        return "Object storage, 100 GB-days", f"{stored_hundreds_of_gb:.3f}", 7
    if resource == "backup":
        if day.weekday() != 0:  # the backup service reports its overage weekly, on Mondays
            return None
        return "Backup storage above 500 GB, GB-weeks", f"{rng.uniform(5, 80) * size:.3f}", 4
    if resource == "nodes":
        return "Kubernetes worker node-hours", str(24 * rng.choice((2, 2, 3, 3, 4))), 3
    raise ValueError(f"unknown resource {resource!r}")
