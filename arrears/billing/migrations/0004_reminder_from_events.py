"""The reminders' record moves from ``arrears.events`` with the announcements that write it (``billing/reminders.py``).
State only: the table keeps its name, ``events_reminder``, and its rows (see ``events/0006``)."""

import django.db.models.deletion
from django.db import migrations, models


def _relabel_content_types(models, from_app, to_app):
    """Content types (and so the permissions that name them) follow the models instead of being created anew. A
    fresh database has none yet: Django creates them after its migrations, under the new app."""

    def relabel(apps, schema_editor):
        apps.get_model("contenttypes", "ContentType").objects.filter(app_label=from_app, model__in=models).update(
            app_label=to_app)

    return relabel


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0003_billing_day_plans'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('events', '0006_notifications_and_reminders_move_out'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Reminder',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(max_length=64)),
                        ('subject_id', models.BigIntegerField()),
                        ('due_on', models.DateField()),
                        ('days_left', models.IntegerField()),
                        ('event', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='events.event')),
                    ],
                    options={
                        'db_table': 'events_reminder',
                        'constraints': [models.UniqueConstraint(fields=('kind', 'subject_id', 'due_on', 'days_left'), name='reminder_once')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(_relabel_content_types(["reminder"], "events", "billing"),
                             _relabel_content_types(["reminder"], "billing", "events")),
    ]
