"""The notification system's models move to ``arrears.notifications`` and the reminders' to ``arrears.billing``
(issue 13: the audit log at the bottom of the layers imports no domain). Only Django's idea of which app owns them
changes: their tables keep their names (``db_table`` in their new apps), so no row moves and nothing is locked.
``notifications/0001_initial`` and ``billing/0004_reminder_from_events`` take the models over after this one."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('events', '0005_default_handlers_link_to_the_customer_panel'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='deliveryattempt',
                    name='delivery',
                ),
                migrations.RemoveField(
                    model_name='eventhandler',
                    name='endpoint',
                ),
                migrations.RemoveField(
                    model_name='eventhandler',
                    name='reseller',
                ),
                migrations.RemoveField(
                    model_name='reminder',
                    name='event',
                ),
                migrations.RemoveField(
                    model_name='webhookendpoint',
                    name='reseller',
                ),
                migrations.DeleteModel(
                    name='Delivery',
                ),
                migrations.DeleteModel(
                    name='DeliveryAttempt',
                ),
                migrations.DeleteModel(
                    name='EventHandler',
                ),
                migrations.DeleteModel(
                    name='Reminder',
                ),
                migrations.DeleteModel(
                    name='WebhookEndpoint',
                ),
            ],
            database_operations=[],
        ),
    ]
