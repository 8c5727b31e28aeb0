"""Configuration at scale: read after boot, compared with a per-model baseline, and pushed to
many chargers at once (a command batch), an offline one getting it when it reconnects."""

from datetime import timedelta

from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.test import Client, override_settings
from django.utils import timezone
from ocpp.exceptions import InternalError

from fleet import tasks
from fleet.models import ConfigurationBaseline
from stations import batches
from stations.models import ChargePoint, CommandBatchItem
from tests.conftest import eventually, register

Item = CommandBatchItem.Status


def _items(batch_id: int) -> dict[str, tuple[str, str]]:
    return {
        item.charge_point.charge_point_id: (item.status, item.message)
        for item in CommandBatchItem.objects.filter(batch_id=batch_id).select_related(
            "charge_point"
        )
    }


async def test_configuration_push_answers_per_charger_and_reaches_an_offline_one_on_reconnect(
    charger, fleet_server
):
    await sync_to_async(register)("CFG-OFF")
    async with (
        charger("CFG-OK", server=fleet_server) as accepting,
        charger("CFG-REBOOT", server=fleet_server) as rebooting,
        charger("CFG-REJECT", server=fleet_server) as rejecting,
        charger("CFG-UNKNOWN", server=fleet_server) as unknowing,
    ):
        rebooting.answers["ChangeConfiguration"] = {"status": "RebootRequired"}
        rejecting.answers["ChangeConfiguration"] = {"status": "Rejected"}
        unknowing.answers["ChangeConfiguration"] = {"status": "NotSupported"}
        for cp in (accepting, rebooting, rejecting, unknowing):
            await cp.boot()
        chargers = await sync_to_async(list)(
            ChargePoint.objects.filter(charge_point_id__startswith="CFG-")
        )
        # What the charger admin's "Change configuration…" for many chargers does.
        batch = await sync_to_async(batches.start)(
            "change_configuration",
            "MeterValueSampleInterval = 30",
            chargers,
            ["MeterValueSampleInterval", "30"],
            None,
        )
        await sync_to_async(batches.run)(batch.pk)
        results = await sync_to_async(_items)(batch.pk)
        assert results["CFG-OK"] == (Item.DONE, "Accepted")
        assert results["CFG-REBOOT"] == (Item.DONE, "RebootRequired")
        assert results["CFG-REJECT"] == (Item.REFUSED, "Rejected")
        assert results["CFG-UNKNOWN"] == (Item.REFUSED, "NotSupported")
        assert results["CFG-OFF"] == (
            Item.OFFLINE,
            "The charger is offline right now. It is sent when the charger reconnects.",
        )

        async with charger("CFG-OFF", server=fleet_server) as returning:
            await returning.boot()
            sent = ("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "30"})
            assert await eventually(lambda: sent in returning.received, timeout=20)

            def applied() -> bool:
                return _items(batch.pk)["CFG-OFF"] == (Item.DONE, "Accepted")

            assert await eventually(applied, timeout=20)
            # Once: the connection and the boot both looked, one of them sent it.
            assert returning.received.count(sent) == 1


async def test_configuration_is_read_after_boot_and_the_fleet_table_marks_what_differs(
    charger, fleet_server, make_user
):
    await sync_to_async(ConfigurationBaseline.objects.create)(
        charger_model="Sim-Table", key="HeartbeatInterval", value="60"
    )
    await sync_to_async(ConfigurationBaseline.objects.create)(
        charger_model="Sim-Table", key="NumberOfConnectors", value="2"
    )
    async with charger("CFG-READ", server=fleet_server) as cp:
        await cp.boot(model="Sim-Table")
        with override_settings(FLEET_READ_CONFIGURATION_AT_BOOT=True):
            assert await sync_to_async(tasks.read_due_configurations)() == 1
        charge_point = await sync_to_async(ChargePoint.objects.get)(charge_point_id="CFG-READ")
        assert charge_point.configuration_read_at, cp.received
    assert ("GetConfiguration", {}) in cp.received
    assert charge_point.configuration["HeartbeatInterval"] == {"value": "300", "readonly": False}

    staff = await sync_to_async(make_user)("stations.view_chargepoint", is_staff=True)
    client = Client()
    await sync_to_async(client.force_login)(staff)
    page = await sync_to_async(client.get)(
        "/admin/fleet/configurationbaseline/fleet/", {"model": "Sim-Table"}
    )
    html = page.content.decode()
    assert page.status_code == 200
    # 300 differs from the baseline's 60; NumberOfConnectors matches.
    assert '<td class="differs" title="Differs from the baseline">300</td>' in html
    assert "<td>2</td>" in html


async def test_chargers_are_read_after_their_boot_a_few_per_run_longest_booted_first(charger):
    """A boot sends no GetConfiguration of its own (5,000 chargers booting at once would
    all be asked in the storm): the beat task reads the chargers that booted since their
    last read, FLEET_CONFIGURATION_READS_PER_RUN at a time, those that booted first first;
    one read since its boot is not read again."""
    async with (
        charger("CFG-BOOT-LATE") as late,
        charger("CFG-BOOT-EARLY") as early,
        charger("CFG-BOOT-READ") as read,
    ):
        for cp in (late, early, read):
            await cp.boot()
        now = timezone.now()
        for cp_id, booted, read_at in (
            ("CFG-BOOT-LATE", now - timedelta(minutes=5), now - timedelta(hours=1)),
            ("CFG-BOOT-EARLY", now - timedelta(minutes=10), now - timedelta(hours=1)),
            ("CFG-BOOT-READ", now - timedelta(minutes=10), now - timedelta(minutes=9)),
        ):
            await sync_to_async(ChargePoint.objects.filter(charge_point_id=cp_id).update)(
                last_boot_at=booted, configuration_read_at=read_at
            )
        for cp in (late, early, read):
            assert ("GetConfiguration", {}) not in cp.received  # not on its boot

        with override_settings(
            FLEET_READ_CONFIGURATION_AT_BOOT=True, FLEET_CONFIGURATION_READS_PER_RUN=1
        ):
            assert await sync_to_async(tasks.read_due_configurations)() == 1
            assert ("GetConfiguration", {}) in early.received
            assert ("GetConfiguration", {}) not in late.received
            assert await sync_to_async(tasks.read_due_configurations)() == 1
            assert ("GetConfiguration", {}) in late.received
            assert await sync_to_async(tasks.read_due_configurations)() == 0
        assert ("GetConfiguration", {}) not in read.received
        assert early.received.count(("GetConfiguration", {})) == 1


async def test_configuration_is_read_again_when_older_than_the_reading_period(charger):
    """The beat task asks connected chargers whose configuration is unread or older than
    FLEET_CONFIGURATION_READ_HOURS; a fresh one and an offline one are not asked."""
    await sync_to_async(register)("CFG-AWAY")
    async with (
        charger("CFG-UNREAD") as unread,
        charger("CFG-FRESH") as fresh,
    ):
        for cp in (unread, fresh):
            await cp.boot()
        now = timezone.now()
        await sync_to_async(ChargePoint.objects.filter(charge_point_id="CFG-FRESH").update)(
            configuration_read_at=now - timedelta(hours=23)
        )
        await sync_to_async(ChargePoint.objects.filter(charge_point_id="CFG-AWAY").update)(
            configuration_read_at=now - timedelta(days=30)
        )

        assert await sync_to_async(tasks.read_due_configurations)() == 1
        assert ("GetConfiguration", {}) in unread.received
        assert not [r for r in fresh.received if r[0] == "GetConfiguration"]
        found = await sync_to_async(ChargePoint.objects.get)(charge_point_id="CFG-UNREAD")
        assert found.configuration["NumberOfConnectors"] == {"value": "2", "readonly": True}
        assert found.configuration_read_at >= now

        # A day later the fresh one is due; the one just read is not.
        await sync_to_async(ChargePoint.objects.filter(charge_point_id="CFG-FRESH").update)(
            configuration_read_at=now - timedelta(hours=25)
        )
        assert await sync_to_async(tasks.read_due_configurations)() == 1
        assert [r for r in fresh.received if r[0] == "GetConfiguration"] == [
            ("GetConfiguration", {})
        ]
        assert unread.received.count(("GetConfiguration", {})) == 1


async def test_a_charger_whose_read_fails_is_asked_again_later_not_ahead_of_the_others(charger):
    """A charger answering GetConfiguration with a CALLERROR stays due; it is asked again
    after FLEET_CONFIGURATION_RETRY_MINUTES, not at every run ahead of the chargers that
    booted after it (with 300 such chargers, nobody else would ever be read)."""
    async with charger("CFG-FAILS") as failing, charger("CFG-BOOTED-LATER") as later:
        for cp in (failing, later):
            await cp.boot()
        failing.answers["GetConfiguration"] = InternalError()
        now = timezone.now()
        for cp_id, booted in (
            ("CFG-FAILS", now - timedelta(minutes=10)),
            ("CFG-BOOTED-LATER", now - timedelta(minutes=5)),
        ):
            await sync_to_async(ChargePoint.objects.filter(charge_point_id=cp_id).update)(
                last_boot_at=booted, configuration_read_at=None
            )

        with override_settings(FLEET_CONFIGURATION_READS_PER_RUN=1):
            assert await sync_to_async(tasks.read_due_configurations)() == 1
            assert ("GetConfiguration", {}) in failing.received
            assert await sync_to_async(tasks.read_due_configurations)() == 1
            assert ("GetConfiguration", {}) in later.received
            assert await sync_to_async(tasks.read_due_configurations)() == 0
        assert failing.received.count(("GetConfiguration", {})) == 1
        failed = await sync_to_async(ChargePoint.objects.get)(charge_point_id="CFG-FAILS")
        assert failed.configuration_read_at is None  # still due, after its retry time

        cache.clear()  # FLEET_CONFIGURATION_RETRY_MINUTES later: the claims have lapsed
        assert await sync_to_async(tasks.read_due_configurations)() == 1
        assert failing.received.count(("GetConfiguration", {})) == 2
