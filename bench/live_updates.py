"""CPU per live update: what relaying a connector's change to the pages costs a server.

    REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/live_updates.py --burst 2

Hands updates to the event loop as a server's database threads do (stations/live.py
`_queue_update` through call_soon_threadsafe), in bursts of --burst (a StatusNotification
relays two: stations/live.py's to the station list and its site, operations/live.py's
to the network), each burst sent before the next, no page watching, and prints the
process's CPU time per update. Without REDIS_URL, the embedded layer (a scratch file).
CPU time, not wall time: run two versions of the code one after the other, alternating,
to compare them on a busy machine.
"""

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


async def _relay(updates: int, burst: int) -> float:
    """CPU seconds for `updates` updates, sent in bursts of `burst`."""
    from stations import live

    loop = asyncio.get_running_loop()
    live._queue_update([live.STATIONS_GROUP], {"kind": "warm-up"})  # the layer is made
    await asyncio.gather(*live._senders)
    before = time.process_time()
    for n in range(updates // burst):
        for b in range(burst):
            if b % 2 == 0:
                groups = [live.STATIONS_GROUP, live.site_group(n % 50)]
            else:
                groups = [live.NETWORK_GROUP]
            data = {"kind": "connector", "connector": n, "status": "Charging"}
            loop.call_soon_threadsafe(live._queue_update, groups, data)
        await asyncio.sleep(0)  # the loop takes the burst: its sender starts
        await asyncio.gather(*live._senders)
    return time.process_time() - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--updates", type=int, default=4000)
    parser.add_argument("--burst", type=int, default=2, help="updates handed over together")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chargehub.settings")
    with tempfile.TemporaryDirectory() as folder:
        os.environ.setdefault("CHARGEHUB_CHANNEL_LAYER", str(Path(folder) / "channels.sqlite3"))
        import django

        django.setup()
        spent = asyncio.run(_relay(args.updates, args.burst))
    layer = "Redis" if os.environ.get("REDIS_URL") else "embedded"
    print(
        f"{args.updates} updates in bursts of {args.burst}, {layer} layer: "
        f"CPU {1000 * spent / args.updates:.3f} ms per update"
    )


if __name__ == "__main__":
    main()
