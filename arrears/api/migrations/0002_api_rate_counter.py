"""The API's rate counters (arrears.api.throttling): one row per token or client address, the window it counts and
its calls. Used on PostgreSQL; on SQLite the counters live in a file of their own, and this table stays empty."""

from django.db import migrations

from arrears.api.throttling import CREATE


class Migration(migrations.Migration):
    dependencies = [("api", "0001_initial")]

    operations = [
        migrations.RunSQL(CREATE, reverse_sql="DROP TABLE IF EXISTS api_rate_counter"),
    ]
