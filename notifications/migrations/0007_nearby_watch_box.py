from django.db import migrations, models


def end_running_watches(apps, schema_editor):
    # A watch started before its box was stored would never match (a box of zeros):
    # end it, with its position; the driver starts a new one.
    apps.get_model("notifications", "NearbyWatch").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0006_in_portal"),
    ]

    operations = [
        migrations.RunPython(end_running_watches, migrations.RunPython.noop),
        *[
            migrations.AddField(
                model_name="nearbywatch",
                name=name,
                field=models.FloatField(default=0.0, verbose_name=name),
                preserve_default=False,
            )
            for name in ("south", "north", "west", "east")
        ],
    ]
