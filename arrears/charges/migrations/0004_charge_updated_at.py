"""Charges get ``updated_at`` (the ERP's incremental sync): a charge changed last when it closed, if it did."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('charges', '0003_charge_late'),
    ]

    operations = [
        migrations.AddField(model_name='charge', name='updated_at', field=models.DateTimeField(null=True)),
        migrations.RunSQL("UPDATE charges_charge SET updated_at = COALESCE(closed_at, created_at)",
                          reverse_sql=migrations.RunSQL.noop),
        migrations.AlterField(model_name='charge', name='updated_at', field=models.DateTimeField()),
    ]
