"""The message log and meter samples partitioned by month on PostgreSQL (stations/partitions.py).

SQLite keeps plain tables. The models do not change: Django keeps `id` as the pk while
PostgreSQL's key is (id, time column). Going back leaves the tables partitioned, which
serves the earlier models as well; coming forward again leaves them as they are.
"""

from django.db import migrations

# Live code, not frozen SQL: the test database is partitioned by the same function
# (tests/conftest.py), so the two cannot drift apart; a change to it must keep this run.
from stations.partitions import PARTITIONED, is_partitioned, partition_table


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in PARTITIONED:
        if not is_partitioned(table):
            partition_table(schema_editor, table)


class Migration(migrations.Migration):
    dependencies = [("stations", "0018_charger_certificates")]

    operations = [migrations.RunPython(partition, migrations.RunPython.noop, elidable=False)]
