"""One `channels` field per kind replaces the two email booleans and `channels_off`:
each saved choice is carried over as the channels it gave."""

from django.db import migrations, models

# What the old fields gave (notifications/preferences.py before this migration): the
# email of receipts and charging finished from their booleans; any other channel on
# unless listed in channels_off. A receipt left with no channel stays in the portal.
OLD_CHANNELS = ("email", "portal")


def carry_over(apps, schema_editor):
    Preferences = apps.get_model("notifications", "Preferences")
    for saved in Preferences.objects.all():
        channels = {}
        for kind, off in saved.channels_off.items():
            channels[kind] = sorted(set(OLD_CHANNELS) - set(off))
        finished = set(channels.get("charging_finished", OLD_CHANNELS)) - {"email"}
        if saved.charging_finished:
            finished.add("email")
        if finished != set(OLD_CHANNELS) or "charging_finished" in channels:
            channels["charging_finished"] = sorted(finished)
        if not saved.receipts_by_email:
            channels["receipts"] = ["portal"]
        saved.channels = channels
        saved.save(update_fields=["channels"])


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0010_staff_digest"),
    ]

    operations = [
        migrations.AddField(
            model_name="preferences",
            name="channels",
            field=models.JSONField(blank=True, default=dict, verbose_name="channels"),
        ),
        migrations.RunPython(carry_over, migrations.RunPython.noop),
        migrations.RemoveField(model_name="preferences", name="channels_off"),
        migrations.RemoveField(model_name="preferences", name="charging_finished"),
        migrations.RemoveField(model_name="preferences", name="receipts_by_email"),
    ]
