"""Number search by its beginning on PostgreSQL: ``document_id LIKE 'x%'`` uses a pattern-ops index whatever the
database's collation. SQLite searches a range of the (reseller, document_id) unique index instead, so it gets
no second index to maintain."""

from django.db import migrations

INDEX = "invoice_number_prefix_idx"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON invoices_invoice "
                              "(reseller_id, document_id varchar_pattern_ops)")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("invoices", "0006_invoice_approval_idx")]
    operations = [migrations.RunPython(create, drop)]
