"""`manage.py register_charger` and `manage.py ocpp_call` on the test database and channel
layer. One test of each runs a real process, as an operator runs them next to the server;
the others call the command in this process (call_command), which starts in a fraction of
the time and meets the same server, database and channel layer.
"""

import asyncio
import io
import json
import sys

from asgiref.sync import sync_to_async
from django.core.management import CommandError, call_command
from ocpp.exceptions import NotSupportedError

from stations.charger_auth import MIN_PASSWORD_LENGTH
from stations.models import ChargePoint, ChargerCommand, Site
from tests.conftest import ROOT, register, server_env


async def manage(*args: str) -> tuple[int, str, str]:
    """Run `manage.py *args` in a new process; (exit code, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "manage.py",
        *args,
        cwd=ROOT,
        env=server_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def command(*args: str) -> tuple[int, str, str]:
    """Run `manage.py *args` in this process; (exit code, stdout, stderr) as `manage` has
    them: a CommandError is exit code 1 with its message on stderr."""

    def run() -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        try:
            call_command(*args, stdout=out, stderr=err)
        except CommandError as error:
            return 1, out.getvalue(), f"CommandError: {error}\n"
        return 0, out.getvalue(), err.getvalue()

    # Off the event loop: ocpp_call waits for a charger this loop runs.
    return await sync_to_async(run)()


def _get(charge_point_id: str) -> ChargePoint:
    return ChargePoint.objects.select_related("site").get(charge_point_id=charge_point_id)


# --- register_charger ---------------------------------------------------------------------


async def test_register_charger_generates_a_password_the_charger_can_connect_with(charger):
    code, out, err = await manage("register_charger", "REG-NEW")
    assert (code, err) == (0, "")
    lines = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    assert lines["Charge point"] == "REG-NEW"
    assert lines["URL path"].startswith("/ocpp/REG-NEW")
    password = lines["Password"]
    assert len(password) >= MIN_PASSWORD_LENGTH

    stored = await sync_to_async(_get)("REG-NEW")
    assert stored.registration_status == ChargePoint.Registration.ACCEPTED
    assert password not in stored.password_hash
    async with charger("REG-NEW", password=password) as cp:
        answer = await cp.boot()
    assert answer.status == "Accepted"


async def test_register_charger_with_password_and_create_site_creates_the_site(db_access):
    code, out, _ = await command(
        "register_charger",
        "REG-SITE",
        "--password",
        "p" * 20,
        "--site",
        "Depot North",
        "--create-site",
    )
    assert code == 0
    assert "p" * 20 not in out
    stored = await sync_to_async(_get)("REG-SITE")
    assert stored.site.name == "Depot North"
    assert stored.check_password("p" * 20)


async def test_register_charger_updates_an_existing_charger_and_keeps_its_password(db_access):
    await sync_to_async(register)(
        "REG-PENDING", registration_status=ChargePoint.Registration.PENDING
    )
    await sync_to_async(Site.objects.create)(name="Depot South")
    code, out, _ = await command("register_charger", "REG-PENDING", "--site", "Depot South")
    assert code == 0
    assert "Password: unchanged" in out
    stored = await sync_to_async(_get)("REG-PENDING")
    assert stored.registration_status == ChargePoint.Registration.ACCEPTED
    assert stored.site.name == "Depot South"
    assert stored.check_password("correct-horse-battery-staple")
    assert await sync_to_async(Site.objects.filter(name="Depot South").count)() == 1


async def test_register_charger_refuses_a_short_password_and_creates_nothing(db_access):
    code, _, err = await command("register_charger", "REG-SHORT", "--password", "short")
    assert code != 0
    assert f"at least {MIN_PASSWORD_LENGTH} characters" in err
    assert not await sync_to_async(ChargePoint.objects.filter(charge_point_id="REG-SHORT").exists)()


async def test_register_charger_refuses_an_id_a_charger_cannot_connect_with(db_access):
    code, _, err = await command("register_charger", "REG/1 2")
    assert code != 0
    assert "charge point id" in err
    assert not await sync_to_async(ChargePoint.objects.exists)()


# --- ocpp_call ------------------------------------------------------------------------------


async def test_ocpp_call_prints_the_chargers_answer_as_json(charger):
    async with charger("CLI-CONFIG") as cp:
        await cp.boot()
        code, out, err = await manage(
            "ocpp_call", "CLI-CONFIG", "GetConfiguration", '{"key": ["HeartbeatInterval"]}'
        )
    assert (code, err) == (0, "")
    assert json.loads(out) == {
        "configurationKey": [
            {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
            {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
        ],
        "unknownKey": [],
    }
    assert cp.received == [("GetConfiguration", {"key": ["HeartbeatInterval"]})]
    command = await sync_to_async(ChargerCommand.objects.get)(
        charge_point__charge_point_id="CLI-CONFIG"
    )
    assert (command.source, command.status) == ("cli", ChargerCommand.Status.ANSWERED)


async def test_ocpp_call_without_a_payload_sends_an_empty_request(charger):
    async with charger("CLI-CLEAR") as cp:
        await cp.boot()
        code, out, _ = await command("ocpp_call", "CLI-CLEAR", "ClearCache")
    assert code == 0
    assert json.loads(out) == {"status": "Accepted"}
    assert cp.received == [("ClearCache", {})]


async def test_ocpp_call_to_an_offline_charger_fails_with_the_reason(db_access):
    await sync_to_async(register)("CLI-OFFLINE")
    code, out, err = await command("ocpp_call", "CLI-OFFLINE", "Reset", '{"type": "Soft"}')
    assert code != 0
    assert out == ""
    assert "CLI-OFFLINE is not connected" in err


async def test_ocpp_call_to_an_unknown_charger_fails_with_the_reason(db_access):
    code, _, err = await command("ocpp_call", "CLI-NO-SUCH", "Reset", '{"type": "Soft"}')
    assert code != 0
    assert "No charge point 'CLI-NO-SUCH'" in err


async def test_ocpp_call_with_bad_json_or_a_bad_request_fails_and_sends_nothing(charger):
    async with charger("CLI-BAD") as cp:
        await cp.boot()
        bad_json = await command("ocpp_call", "CLI-BAD", "Reset", "{type: Soft}")
        not_object = await command("ocpp_call", "CLI-BAD", "Reset", '["Soft"]')
        wrong_way = await command("ocpp_call", "CLI-BAD", "Heartbeat")
        no_such_action = await command("ocpp_call", "CLI-BAD", "Explode")
        schema_invalid = await command("ocpp_call", "CLI-BAD", "Reset", '{"type": "Gentle"}')
    assert bad_json[0] != 0 and "not valid JSON" in bad_json[2]
    assert not_object[0] != 0 and "must be a JSON object" in not_object[2]
    assert wrong_way[0] != 0 and "Heartbeat is not a command" in wrong_way[2]
    assert no_such_action[0] != 0 and "Explode is not a command" in no_such_action[2]
    assert schema_invalid[0] != 0 and "Invalid Reset" in schema_invalid[2]
    assert cp.received == []


async def test_ocpp_call_answered_by_a_callerror_fails_with_its_code(charger):
    async with charger("CLI-CALLERROR") as cp:
        await cp.boot()
        cp.answers["UnlockConnector"] = NotSupportedError("No locking cable")
        code, _, err = await command(
            "ocpp_call", "CLI-CALLERROR", "UnlockConnector", '{"connectorId": 1}'
        )
    assert code != 0
    assert "CALLERROR NotSupported: No locking cable" in err


async def test_ocpp_call_to_a_silent_charger_times_out(charger):
    async with charger("CLI-SILENT") as cp:
        await cp.boot()
        cp.answers["Reset"] = "silence"
        code, _, err = await command(
            "ocpp_call", "CLI-SILENT", "Reset", '{"type": "Hard"}', "--timeout", "1"
        )
    assert code != 0
    assert "did not answer Reset in 1 s" in err
