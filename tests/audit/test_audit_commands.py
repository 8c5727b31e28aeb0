"""The audit of commands staff send to chargers (audit/records.py command_sent): a
simulated 1.6 charger over a real WebSocket, the command chosen in admin as staff do,
issue #16's bulk operations (a configuration push, diagnostics, a firmware campaign)
included."""

from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditRecord
from fleet.models import FirmwareCampaign, FirmwareImage
from stations import certificates, operations
from stations.models import ChargePoint
from tests.conftest import register
from tests.waiting import eventually
from users import roles
from users.models import User


@pytest.fixture
def operator(db_access: None) -> tuple[User, Client]:
    """A member of staff in the operator admin role, logged in."""
    roles.set_up_roles()
    user = User.objects.create_user("operator@example.com", "pw", is_staff=True)
    user.groups.add(Group.objects.get(name=roles.OPERATOR_ADMIN.name))
    client = Client()
    client.force_login(user)
    return user, client


async def test_a_command_sent_from_admin_or_the_api_is_recorded_with_its_answer(operator, charger):
    user, client = operator
    root = certificates.create_ca("Audit test root", 1)[0].decode()
    async with charger("AUDIT-CMD") as cp:
        await cp.boot()
        charge_point = await sync_to_async(ChargePoint.objects.get)(charge_point_id="AUDIT-CMD")
        await sync_to_async(client.post)(
            reverse("admin:stations_chargepoint_changelist"),
            {
                "action": "install_root_certificate",
                "_selected_action": [charge_point.pk],
                "post": "yes",
                "certificate_type": "CentralSystemRootCertificate",
                "certificate": root,
            },
        )
        # The code's own commands (no member of staff issued them) are no staff action.
        await sync_to_async(operations.reset)("AUDIT-CMD", "Soft", source="task")
        api = APIClient()
        api.force_authenticate(user)
        response = await sync_to_async(api.post)(
            "/api/v1/charge-points/AUDIT-CMD/commands/",
            {"action": "ClearCache", "payload": {}},
            format="json",
        )
        assert response.status_code == 200, response.content
    assert [action for action, _ in cp.received] == ["InstallCertificate", "Reset", "ClearCache"]

    records = await sync_to_async(list)(
        AuditRecord.objects.filter(action="command").order_by("at", "id")
    )
    assert [(r.after["command"], r.door) for r in records] == [
        ("InstallCertificate", "admin"),
        ("ClearCache", "api"),
    ]
    record = records[0]
    assert (record.actor_id, record.door, record.object_type, record.object_repr) == (
        user.pk,
        "admin",
        "stations.chargepoint",
        "AUDIT-CMD",
    )
    assert record.before is None
    assert record.after == {
        "command": "InstallCertificate",
        "request": {"certificateType": "CentralSystemRootCertificate", "certificate": root},
        "status": "answered",
        "answer": {"status": "Accepted"},
        "source": "admin",
    }


def _commands_recorded(charge_point_id: str) -> list[tuple[str, str, Any, str]]:
    """(command, status, answer, actor) of the charger's audit records, oldest first."""
    return [
        (r.after["command"], r.after["status"], r.after["answer"], r.actor_email)
        for r in AuditRecord.objects.filter(action="command", object_repr=charge_point_id)
        .select_related("actor")
        .order_by("at", "id")
    ]


async def test_a_configuration_pushed_to_many_chargers_in_admin_is_recorded_for_each(
    operator, charger
):
    """Issue #16's configuration push (a batch): each charger's outcome is a record of the
    staff member who pushed it, the offline one's too, and again when it gets the change
    on reconnecting."""
    user, client = operator
    await sync_to_async(register)("AUDIT-CFG-OFF")
    async with charger("AUDIT-CFG-ON") as cp:
        await cp.boot()
        chargers = await sync_to_async(list)(
            ChargePoint.objects.filter(charge_point_id__startswith="AUDIT-CFG-")
        )
        await sync_to_async(client.post)(
            reverse("admin:stations_chargepoint_changelist"),
            {
                "action": "change_configuration",
                "_selected_action": [c.pk for c in chargers],
                "post": "yes",
                "key": "MeterValueSampleInterval",
                "value": "30",
            },
        )
    assert await sync_to_async(_commands_recorded)("AUDIT-CFG-ON") == [
        ("ChangeConfiguration", "answered", {"status": "Accepted"}, user.email)
    ]
    offline = await sync_to_async(_commands_recorded)("AUDIT-CFG-OFF")
    assert [(command, status, actor) for command, status, _, actor in offline] == [
        ("ChangeConfiguration", "offline", user.email)
    ]

    async with charger("AUDIT-CFG-OFF") as returning:
        await returning.boot()

        def applied() -> bool:
            return len(_commands_recorded("AUDIT-CFG-OFF")) == 2

        assert await eventually(applied, timeout=20)
    assert (await sync_to_async(_commands_recorded)("AUDIT-CFG-OFF"))[1] == (
        "ChangeConfiguration",
        "answered",
        {"status": "Accepted"},
        user.email,
    )


async def test_diagnostics_asked_in_admin_are_recorded(operator, charger):
    user, client = operator
    async with charger("AUDIT-DIAG") as cp:
        await cp.boot()
        charge_point = await sync_to_async(ChargePoint.objects.get)(charge_point_id="AUDIT-DIAG")
        await sync_to_async(client.post)(
            "/admin/fleet/diagnosticsupload/request/",
            {"charge_point": charge_point.pk, "kind": "SecurityLog"},
        )
    assert [action for action, _ in cp.received] == ["GetLog"]
    [(command, status, answer, actor)] = await sync_to_async(_commands_recorded)("AUDIT-DIAG")
    assert (command, status, answer["status"], actor) == (
        "GetLog",
        "answered",
        "Accepted",
        user.email,
    )


async def test_a_firmware_campaign_started_in_admin_records_each_chargers_update(operator, charger):
    """The updates are the commands of whoever started the campaign, not of its author."""
    author, client = operator

    def another_operator() -> tuple[User, Client]:
        user = User.objects.create_user("starter@example.com", "pw", is_staff=True)
        user.groups.add(Group.objects.get(name=roles.OPERATOR_ADMIN.name))
        starter = Client()
        starter.force_login(user)
        return user, starter

    user, starter = await sync_to_async(another_operator)()
    firmware = await sync_to_async(FirmwareImage.objects.create)(
        version="9",
        charger_models="Sim-22",
        url="https://vendor.example/fw.bin",
        expires_at=timezone.now() + timedelta(days=1),
    )
    async with charger("AUDIT-FW") as cp:
        await cp.boot(model="Sim-22")
        charge_point = await sync_to_async(ChargePoint.objects.get)(charge_point_id="AUDIT-FW")
        added = await sync_to_async(client.post)(
            "/admin/fleet/firmwarecampaign/add/",
            {
                "name": "Audited",
                "firmware": firmware.pk,
                "charge_points": [charge_point.pk],
                "wave_size": 10,
                "wave_pause_minutes": 0,
                "max_failure_percent": 20,
            },
        )
        assert added.status_code == 302
        campaign = await sync_to_async(FirmwareCampaign.objects.get)()
        assert campaign.created_by_id == author.pk
        await sync_to_async(starter.post)(
            "/admin/fleet/firmwarecampaign/",
            {"action": "start_campaigns", "_selected_action": [campaign.pk]},
        )
        assert await eventually(lambda: [a for a, _ in cp.received] == ["UpdateFirmware"])

        def recorded() -> list[tuple[str, str, Any, str]]:
            return _commands_recorded("AUDIT-FW")

        assert await eventually(recorded, timeout=20)
    [(command, status, answer, actor)] = await sync_to_async(recorded)()
    assert (command, status, answer, actor) == ("UpdateFirmware", "answered", {}, user.email)
