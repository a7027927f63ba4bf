"""Accounts get ``updated_at`` (the ERP's incremental sync): an account changed last with its latest balance entry,
or else when it was created."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0003_balance_entry_duplicate_success'),
    ]

    operations = [
        migrations.AddField(model_name='account', name='updated_at', field=models.DateTimeField(null=True)),
        migrations.RunSQL(
            "UPDATE customers_account SET updated_at = COALESCE((SELECT MAX(e.created_at) FROM customers_balanceentry e"
            " WHERE e.account_id = customers_account.id), created_at)",
            reverse_sql=migrations.RunSQL.noop),
        migrations.AlterField(model_name='account', name='updated_at', field=models.DateTimeField()),
    ]
