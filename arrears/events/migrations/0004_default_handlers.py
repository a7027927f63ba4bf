"""The platform's default e-mail handlers, one per notifiable event, so a new reseller's customers get sensible
mail without any configuration. Their texts live in ``arrears/notifications/templates/defaults``."""

from pathlib import Path

from django.db import migrations
from django.utils import timezone

# The texts moved with the notifications into an app of their own (arrears/notifications/migrations/0001).
DEFAULTS = Path(__file__).resolve().parents[2] / "notifications" / "templates" / "defaults"

# event → (name, condition). In ERP mode the ERP issues the invoice the customer pays, so the platform's own
# closed invoice is announced only in default mode; reminders go out three days ahead.
HANDLERS = {
    "invoice.closed": ("Invoice issued", "invoice.managed_externally == false"),
    "invoice.approved": ("Invoice approved by the ERP", ""),
    "invoice.revoked": ("Invoice approval revoked", ""),
    "payment.due_date_coming": ("Payment due date reminder", "payment.days_left == 3"),
    "payment.received": ("Payment received", ""),
    "payment.expired": ("Payment overdue", ""),
    "billing_day.coming": ("Billing day reminder", "billing_day_left == 3"),
}


def create_default_handlers(apps, schema_editor):
    EventHandler = apps.get_model("events", "EventHandler")
    now = timezone.now()
    for event, (name, condition) in HANDLERS.items():
        EventHandler.objects.create(
            reseller=None, event=event, channel="email", name=name, recipients="{{ account.email }}",
            subject=(DEFAULTS / f"{event}.subject.liquid").read_text().strip(),
            body=(DEFAULTS / f"{event}.body.liquid").read_text(),
            condition=condition, active=True, created_at=now, updated_at=now)


def delete_default_handlers(apps, schema_editor):
    apps.get_model("events", "EventHandler").objects.filter(reseller=None, event__in=list(HANDLERS)).delete()


class Migration(migrations.Migration):

    dependencies = [("events", "0003_handlers_and_deliveries")]

    operations = [migrations.RunPython(create_default_handlers, delete_default_handlers)]
