"""The platform's default e-mails link to the Customer Control Panel and use its words (Pay from balance, Pay with
…, Download, Top up); a second gateway success is announced to the reseller's managers. The texts live in
``arrears/notifications/templates/defaults``; this refreshes those 0004 wrote on databases created before.

Going back removes the managers' handler and leaves the refreshed texts: code from before this migration does not
offer their link placeholders, so their deliveries would fail rendering until migrated forward again."""

from pathlib import Path

from django.db import migrations
from django.utils import timezone

# The texts moved with the notifications into an app of their own (arrears/notifications/migrations/0001).
DEFAULTS = Path(__file__).resolve().parents[2] / "notifications" / "templates" / "defaults"
REFRESHED = ("invoice.closed", "invoice.approved", "invoice.revoked", "payment.due_date_coming", "payment.received",
             "payment.expired", "billing_day.coming")
# event → (name, recipients): addressed to the managers who can act on money (arrears.notifications.placeholders).
MANAGER_HANDLERS = {"payment.duplicate_success": ("Second gateway success credited", "{{ reseller.manager_emails }}")}


def _texts(event: str) -> dict:
    return {"subject": (DEFAULTS / f"{event}.subject.liquid").read_text().strip(),
            "body": (DEFAULTS / f"{event}.body.liquid").read_text()}


def refresh_default_handlers(apps, schema_editor):
    EventHandler = apps.get_model("events", "EventHandler")
    now = timezone.now()
    for event in REFRESHED:
        EventHandler.objects.filter(reseller=None, event=event, channel="email").update(updated_at=now,
                                                                                      **_texts(event))
    for event, (name, recipients) in MANAGER_HANDLERS.items():
        if not EventHandler.objects.filter(reseller=None, event=event, channel="email").exists():
            EventHandler.objects.create(reseller=None, event=event, channel="email", name=name, recipients=recipients,
                                        condition="", active=True, created_at=now, updated_at=now, **_texts(event))


def delete_manager_handlers(apps, schema_editor):
    apps.get_model("events", "EventHandler").objects.filter(reseller=None, event__in=list(MANAGER_HANDLERS)).delete()


class Migration(migrations.Migration):

    dependencies = [("events", "0004_default_handlers")]

    operations = [migrations.RunPython(refresh_default_handlers, delete_manager_handlers)]
