"""The simulated charger (stations/simulator.py) against the live server.

Commands are sent from the test process with commands.send, i.e. across processes, as
the admin or a Celery task would.
"""

import asyncio
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from asgiref.sync import sync_to_async
from ocpp.v16 import call

from stations.models import ChargePoint, ChargingSession, Connector, MeterSample
from stations.ocpp import commands
from stations.simulator import SimulatedChargePoint
from tests.conftest import PASSWORD, ROOT, eventually, register, server_env
from users.models import IdToken


@asynccontextmanager
async def running(charger: SimulatedChargePoint) -> AsyncIterator[SimulatedChargePoint]:
    task = asyncio.create_task(charger.run())
    try:
        await asyncio.wait_for(charger.booted.wait(), 15)
        yield charger
    finally:
        await charger.stop()
        await asyncio.wait_for(task, 10)


def connector_statuses(charge_point_id: str) -> dict[int, str]:
    return dict(
        Connector.objects.filter(charge_point__charge_point_id=charge_point_id).values_list(
            "connector_id", "status"
        )
    )


async def test_simulated_charger_boots_and_reports_every_connector_available(
    ocpp_server, db_access
):
    await sync_to_async(register)("SIM-BOOT-1")
    charger = SimulatedChargePoint("SIM-BOOT-1", f"{ocpp_server}/ocpp", password=PASSWORD)
    async with running(charger):
        assert charger.heartbeat_interval == 60  # from the BootNotification answer
        statuses = await eventually(
            lambda: (s := connector_statuses("SIM-BOOT-1")) and len(s) == 3 and s
        )
        assert statuses == {0: "Available", 1: "Available", 2: "Available"}
        stored = await sync_to_async(ChargePoint.objects.get)(charge_point_id="SIM-BOOT-1")
        assert stored.is_connected
        assert (stored.vendor, stored.model) == ("ChargeHub", "Sim-22")


async def test_simulated_charger_charges_on_remote_start_and_stops_on_remote_stop(
    ocpp_server, db_access
):
    await sync_to_async(register)("SIM-REMOTE-1")
    await sync_to_async(IdToken.objects.create)(uid="SIM-DRIVER-1")
    charger = SimulatedChargePoint(
        "SIM-REMOTE-1", f"{ocpp_server}/ocpp", password=PASSWORD, meter_interval=0.2
    )
    async with running(charger):
        answer = await commands.send(
            "SIM-REMOTE-1", call.RemoteStartTransaction(id_tag="SIM-DRIVER-1", connector_id=1)
        )
        assert answer.status == "Accepted"

        def session_with_samples() -> ChargingSession | None:
            session = (
                ChargingSession.objects.select_related("connector")
                .filter(charge_point__charge_point_id="SIM-REMOTE-1")
                .first()
            )
            if session is None or session.meter_samples.count() < 4:
                return None
            return session

        session = await eventually(session_with_samples)
        assert session is not None
        assert (session.status, session.id_tag, session.connector.connector_id) == (
            "active",
            "SIM-DRIVER-1",
            1,
        )
        energy = await sync_to_async(list)(
            MeterSample.objects.filter(
                session=session, measurand="Energy.Active.Import.Register"
            ).values_list("value_decimal", flat=True)
        )
        assert energy == sorted(energy) and energy[-1] > energy[0]
        assert await sync_to_async(
            MeterSample.objects.filter(session=session, measurand="Power.Active.Import").exists
        )()
        assert await eventually(lambda: connector_statuses("SIM-REMOTE-1")[1] == "Charging")

        answer = await commands.send(
            "SIM-REMOTE-1", call.RemoteStopTransaction(transaction_id=session.pk)
        )
        assert answer.status == "Accepted"
        assert await eventually(
            lambda: ChargingSession.objects.filter(pk=session.pk, status="completed").exists()
        )
        await eventually(lambda: connector_statuses("SIM-REMOTE-1")[1] == "Available")

    stopped = await sync_to_async(ChargingSession.objects.get)(pk=session.pk)
    assert (stopped.closed_by, stopped.stop_reason) == ("charger", "Remote")
    assert stopped.meter_stop_wh >= int(energy[-1])
    assert stopped.energy_wh > 0
    assert (await sync_to_async(connector_statuses)("SIM-REMOTE-1"))[1] == "Available"


async def test_simulated_charger_rejects_remote_start_on_a_busy_connector(ocpp_server, db_access):
    await sync_to_async(register)("SIM-BUSY-1")
    await sync_to_async(IdToken.objects.create)(uid="SIM-DRIVER-2")
    charger = SimulatedChargePoint(
        "SIM-BUSY-1", f"{ocpp_server}/ocpp", password=PASSWORD, connectors=1
    )
    async with running(charger):
        first = await commands.send(
            "SIM-BUSY-1", call.RemoteStartTransaction(id_tag="SIM-DRIVER-2", connector_id=1)
        )
        await eventually(
            lambda: (
                ChargingSession.objects.filter(charge_point__charge_point_id="SIM-BUSY-1")
                .filter(status="active")
                .exists()
            )
        )
        second = await commands.send(
            "SIM-BUSY-1", call.RemoteStartTransaction(id_tag="SIM-DRIVER-2", connector_id=1)
        )
    assert (first.status, second.status) == ("Accepted", "Rejected")


async def test_simulated_charger_answers_configuration_commands(ocpp_server, db_access):
    await sync_to_async(register)("SIM-CONFIG-1")
    charger = SimulatedChargePoint("SIM-CONFIG-1", f"{ocpp_server}/ocpp", password=PASSWORD)
    async with running(charger):
        changed = await commands.send(
            "SIM-CONFIG-1", call.ChangeConfiguration(key="HeartbeatInterval", value="120")
        )
        readonly = await commands.send(
            "SIM-CONFIG-1", call.ChangeConfiguration(key="NumberOfConnectors", value="9")
        )
        unknown = await commands.send(
            "SIM-CONFIG-1", call.ChangeConfiguration(key="NoSuchKey", value="1")
        )
        config = await commands.send(
            "SIM-CONFIG-1", call.GetConfiguration(key=["HeartbeatInterval", "NoSuchKey"])
        )
    assert (changed.status, readonly.status, unknown.status) == (
        "Accepted",
        "Rejected",
        "NotSupported",
    )
    assert config.configuration_key == [
        {"key": "HeartbeatInterval", "readonly": False, "value": "120"}
    ]
    assert config.unknown_key == ["NoSuchKey"]


async def test_simulated_charger_reconnects_and_boots_again_after_a_reset(ocpp_server, db_access):
    await sync_to_async(register)("SIM-RESET-1")
    charger = SimulatedChargePoint("SIM-RESET-1", f"{ocpp_server}/ocpp", password=PASSWORD)
    async with running(charger):
        first_boot = await sync_to_async(
            lambda: ChargePoint.objects.get(charge_point_id="SIM-RESET-1").last_boot_at
        )()
        answer = await commands.send("SIM-RESET-1", call.Reset(type="Soft"))
        assert answer.status == "Accepted"
        rebooted = await eventually(
            lambda: ChargePoint.objects.filter(
                charge_point_id="SIM-RESET-1", last_boot_at__gt=first_boot, is_connected=True
            ).exists(),
            timeout=15,
        )
    assert rebooted


def test_simulate_chargers_command_registers_connects_and_exits_cleanly_on_sigterm(
    ocpp_server, db_access
):
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "simulate_chargers",
            "--count",
            "2",
            "--prefix",
            "SIM-CMD-",
            "--password",
            "sim-password",
            "--register",
            "--url",
            f"{ocpp_server}/ocpp",
        ],
        cwd=ROOT,
        env=server_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        connected = asyncio.run(
            eventually(
                lambda: (
                    ChargePoint.objects.filter(
                        charge_point_id__in=["SIM-CMD-001", "SIM-CMD-002"],
                        is_connected=True,
                        last_boot_at__isnull=False,
                    ).count()
                    == 2
                ),
                timeout=20,
            )
        )
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    finally:
        process.kill()
    assert connected, output.decode()
    assert process.returncode == 0, output.decode()
    assert b"Simulators stopped." in output
    cp = ChargePoint.objects.get(charge_point_id="SIM-CMD-001")
    assert cp.check_password("sim-password")
    assert cp.connectors.count() >= 2


def test_simulate_chargers_register_without_password_is_refused(db_access):
    result = subprocess.run(
        [sys.executable, "manage.py", "simulate_chargers", "--register", "--count", "1"],
        cwd=ROOT,
        env=server_env(),
        capture_output=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert b"--register needs --password" in result.stderr
