"""CPU per connect and boot: what one charger of a connect storm costs a server process.

    REDIS_URL=redis://127.0.0.1:6379/0 DEBUG=0 LOG_LEVEL=WARNING \\
        .venv/bin/python bench/ocpp_connect_cpu.py --chargers 300

Connects N chargers one after the other through the real ASGI application (in process,
on a scratch SQLite database; with REDIS_URL, Redis is the channel layer and the Celery
broker, as in production), each sending a BootNotification, and prints the process's
CPU time per connect + boot (the handshake's admission and ownership, the boot handler,
the listeners and the after-boot hooks), the first 20 apart as warm-up. Daphne's and
autobahn's share of a real handshake is not in it (see bench/ocpp_load.py --storm).
CPU time, not wall time: run two versions of the code one after the other, alternating,
to compare them on a busy machine.
"""

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

WARM_UP = 20
PASSWORD = "bench-connect-password"


async def _connect_and_boot(count: int) -> list[float]:
    """CPU seconds of each charger's connect + boot, warm-up included."""
    from asgiref.sync import sync_to_async

    from bench import in_process_charger
    from stations.models import ChargePoint
    from stations.ocpp import message_log

    # Its own ids: runs one after the other may share one Redis channel layer.
    ids = [f"CPU-BOOT-{os.getpid()}-{n}" for n in range(count + WARM_UP)]

    def register() -> None:
        template = ChargePoint(charge_point_id="template")
        template.set_password(PASSWORD)  # one hash: PBKDF2 once, as bench/ocpp_load.py
        ChargePoint.objects.bulk_create(
            [ChargePoint(charge_point_id=i, password_hash=template.password_hash) for i in ids]
        )

    await sync_to_async(register)()
    held, spent = [], []
    for charge_point_id in ids:
        charger = in_process_charger.charger(charge_point_id, PASSWORD)
        before = time.process_time()
        connected, _ = await charger.connect(timeout=30)
        assert connected, "the consumer refused the bench charger"
        boot = {"chargePointVendor": "Bench", "chargePointModel": "Storm-1"}
        await charger.send_to(text_data=json.dumps([2, "1", "BootNotification", boot]))
        answer = json.loads(await charger.receive_from(timeout=30))
        assert answer[0] == 3 and answer[2]["status"] == "Accepted", answer
        await asyncio.sleep(0.02)  # the after-boot hooks run as a task of their own
        spent.append(time.process_time() - before)
        held.append(charger)
    await message_log.flush()
    for charger in held:
        await charger.disconnect()
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chargers", type=int, default=300, help="counted, after the warm-up")
    args = parser.parse_args()
    from bench.scratch_database import scratch_database

    os.environ.pop("DATABASE_URL", None)  # SQLite: the figure is the process's own work
    with scratch_database("connect_cpu") as database:
        spent = asyncio.run(_connect_and_boot(args.chargers))[WARM_UP:]
    print(
        f"CPU per connect + BootNotification ({database}, channel layer: "
        f"{'Redis' if os.environ.get('REDIS_URL') else 'embedded'})"
    )
    print(
        f"  mean {1000 * sum(spent) / len(spent):.2f} ms over {len(spent)} chargers "
        f"(after {WARM_UP} warm-up); load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
