"""The audit of commands staff send to chargers (audit/records.py command_sent): a
simulated 1.6 charger over a real WebSocket, the command chosen in admin as staff do."""

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AuditRecord
from stations import certificates, operations
from stations.models import ChargePoint
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
