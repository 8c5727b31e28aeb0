"""What a charger is told once it has booted (stations/ocpp/after_boot.py): each hook's
requests, after the boot's answer, recorded as commands; a hook with a bug is skipped."""

from typing import Any

import pytest

from stations.models import ChargerCommand
from tests.conftest import eventually

HOOKS = "tests.stations.after_boot_hooks"


@pytest.fixture(scope="module")
def hooked_server(start_server: Any) -> str:
    return start_server(OCPP_AFTER_BOOT=f"{HOOKS}.broken,{HOOKS}.ask_for_status")


def _sources(charge_point_id: str) -> list[tuple[str, str]]:
    return list(
        ChargerCommand.objects.filter(charge_point__charge_point_id=charge_point_id).values_list(
            "action", "source"
        )
    )


async def test_an_accepted_charger_gets_what_the_hooks_ask_after_its_boot_answer(
    charger, hooked_server
):
    async with charger("AFTER-BOOT", server=hooked_server) as cp:
        answer = await cp.boot()
        assert answer.status == "Accepted"
        assert await eventually(
            lambda: cp.received == [("TriggerMessage", {"requested_message": "StatusNotification"})]
        )
    assert await eventually(lambda: _sources("AFTER-BOOT") == [("TriggerMessage", "after boot")])
