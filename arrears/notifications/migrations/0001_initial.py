"""The notification system's models, moved from ``arrears.events`` (issue 13). State only: their tables keep the
names ``events/0003`` gave them (``db_table``), so the handlers, endpoints, deliveries and their log stay where they
are (see ``events/0006``)."""

import django.db.models.deletion
from django.db import migrations, models

MODELS = ["webhookendpoint", "eventhandler", "delivery", "deliveryattempt"]


def _relabel_content_types(models, from_app, to_app):
    """Content types (and so the permissions that name them) follow the models instead of being created anew. A
    fresh database has none yet: Django creates them after its migrations, under the new app."""

    def relabel(apps, schema_editor):
        apps.get_model("contenttypes", "ContentType").objects.filter(app_label=from_app, model__in=models).update(
            app_label=to_app)

    return relabel


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('events', '0006_notifications_and_reminders_move_out'),
        ('tenants', '0002_apitoken'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Delivery',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('channel', models.CharField(choices=[('email', 'Email'), ('webhook', 'Webhook')], max_length=10)),
                        ('recipient', models.CharField(max_length=2000)),
                        ('subject', models.TextField(blank=True, default='')),
                        ('body', models.TextField(blank=True, default='')),
                        ('status', models.CharField(choices=[('pending', 'Pending'), ('sent', 'Sent'), ('failed', 'Failed'), ('cancelled', 'Cancelled')], default='pending', max_length=10)),
                        ('attempts', models.PositiveIntegerField(default=0)),
                        ('next_attempt_at', models.DateTimeField(null=True)),
                        ('last_error', models.TextField(blank=True, default='')),
                        ('sent_at', models.DateTimeField(null=True)),
                        ('created_at', models.DateTimeField()),
                        ('updated_at', models.DateTimeField()),
                        ('event', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='deliveries', to='events.event')),
                    ],
                    options={
                        'db_table': 'events_delivery',
                        'ordering': ['id'],
                    },
                ),
                migrations.CreateModel(
                    name='DeliveryAttempt',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('attempted_at', models.DateTimeField()),
                        ('succeeded', models.BooleanField()),
                        ('status_code', models.PositiveSmallIntegerField(null=True)),
                        ('error', models.TextField(blank=True, default='')),
                        ('duration_ms', models.PositiveIntegerField(default=0)),
                        ('delivery', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='log', to='notifications.delivery')),
                    ],
                    options={
                        'db_table': 'events_deliveryattempt',
                        'ordering': ['id'],
                    },
                ),
                migrations.CreateModel(
                    name='EventHandler',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('event', models.CharField(max_length=64)),
                        ('channel', models.CharField(choices=[('email', 'Email'), ('webhook', 'Webhook')], max_length=10)),
                        ('name', models.CharField(max_length=200)),
                        ('recipients', models.TextField(blank=True, default='{{ account.email }}')),
                        ('subject', models.TextField(blank=True, default='')),
                        ('body', models.TextField(blank=True, default='')),
                        ('condition', models.TextField(blank=True, default='')),
                        ('active', models.BooleanField(default=True)),
                        ('created_at', models.DateTimeField()),
                        ('updated_at', models.DateTimeField()),
                        ('reseller', models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name='event_handlers', to='tenants.reseller')),
                    ],
                    options={
                        'db_table': 'events_eventhandler',
                        'ordering': ['id'],
                    },
                ),
                migrations.AddField(
                    model_name='delivery',
                    name='handler',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='deliveries', to='notifications.eventhandler'),
                ),
                migrations.CreateModel(
                    name='WebhookEndpoint',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('url', models.URLField(max_length=2000)),
                        ('secret', models.CharField(max_length=200)),
                        ('description', models.CharField(blank=True, default='', max_length=200)),
                        ('active', models.BooleanField(default=True)),
                        ('consecutive_failures', models.PositiveIntegerField(default=0)),
                        ('disabled_at', models.DateTimeField(null=True)),
                        ('created_at', models.DateTimeField()),
                        ('updated_at', models.DateTimeField()),
                        ('reseller', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='webhook_endpoints', to='tenants.reseller')),
                    ],
                    options={
                        'db_table': 'events_webhookendpoint',
                        'ordering': ['id'],
                    },
                ),
                migrations.AddField(
                    model_name='eventhandler',
                    name='endpoint',
                    field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name='handlers', to='notifications.webhookendpoint'),
                ),
                migrations.AddField(
                    model_name='delivery',
                    name='endpoint',
                    field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name='deliveries', to='notifications.webhookendpoint'),
                ),
                migrations.AddIndex(
                    model_name='eventhandler',
                    index=models.Index(fields=['event', 'channel', 'reseller'], name='handler_lookup_idx'),
                ),
                migrations.AddConstraint(
                    model_name='eventhandler',
                    constraint=models.CheckConstraint(condition=models.Q(models.Q(('channel', 'email'), ('endpoint__isnull', True)), models.Q(('channel', 'webhook'), ('endpoint__isnull', False)), _connector='OR'), name='handler_endpoint_only_for_webhooks'),
                ),
                migrations.AddIndex(
                    model_name='delivery',
                    index=models.Index(fields=['status', 'next_attempt_at'], name='delivery_due_idx'),
                ),
                migrations.AddConstraint(
                    model_name='delivery',
                    constraint=models.UniqueConstraint(fields=('event', 'handler', 'recipient'), name='delivery_once_per_recipient'),
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(_relabel_content_types(MODELS, "events", "notifications"),
                             _relabel_content_types(MODELS, "notifications", "events")),
    ]
