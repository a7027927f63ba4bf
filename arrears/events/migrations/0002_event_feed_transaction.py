"""On PostgreSQL, each event remembers the transaction that wrote it, so that the change feed can show
events in an order no later commit can break (see arrears.events.selectors.feed_after)."""

from django.db import migrations


def add_transaction_column(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("ALTER TABLE events_event ADD COLUMN tx_id xid8 NOT NULL DEFAULT pg_current_xact_id()")
    schema_editor.execute("CREATE INDEX event_feed_tx_idx ON events_event (tx_id, id)")


def drop_transaction_column(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE events_event DROP COLUMN tx_id")


class Migration(migrations.Migration):
    dependencies = [("events", "0001_initial")]
    operations = [migrations.RunPython(add_transaction_column, drop_transaction_column)]
