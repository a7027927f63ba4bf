"""Plans get ``updated_at`` (the ERP's incremental sync); no plan has changed since it was created."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('catalog', '0001_initial'),
    ]

    operations = [
        migrations.AddField(model_name='plan', name='updated_at', field=models.DateTimeField(null=True)),
        migrations.RunSQL("UPDATE catalog_plan SET updated_at = created_at", reverse_sql=migrations.RunSQL.noop),
        migrations.AlterField(model_name='plan', name='updated_at', field=models.DateTimeField()),
    ]
