"""A serving process does not stop for a full garbage collection whenever its heap grows.

Python collects its oldest generation each time it has grown by a quarter; with thousands
of chargers connected that walks millions of long-lived objects with every call waiting
(seconds: the held chargers' p99 in docs/performance.md, #17). `serve` leaves that
generation to a collection on a schedule. Each scenario runs in a fresh Python process:
the collector's settings are the whole process's.
"""

import os
import subprocess
import sys
import textwrap

from tests.conftest import ROOT

SCENARIO = """
import gc, resource, sys, time, weakref
import django
django.setup()
from chargehub.management.commands import serve


class Connection:
    \"\"\"Stands in for a closed connection's objects: garbage held by its own cycle.\"\"\"


def old_garbage():
    connection = Connection()
    connection.itself = connection
    gc.collect(1)  # it survives into the oldest generation, as a held socket's objects do
    return weakref.ref(connection)


START = len(gc.get_objects())


def churn():
    # Objects that live long enough to reach the oldest generation, then go, as a busy
    # process's do: over a quarter of what it holds, Python's own rule for a full
    # collection, while its memory stays flat.
    for _ in range(20):
        batch = [[] for _ in range(START // 4)]
        gc.collect(1)
        del batch
    return [[] for _ in range(10_000)]  # the allocations that run Python's collections


def wait_until_collected(garbage):
    deadline = time.monotonic() + 60
    while garbage() is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    print("collected" if garbage() is None else "kept")


INTERVAL = float(sys.argv[1])
"""


def run(scenario: str, interval: float) -> list[str]:
    script = SCENARIO + textwrap.dedent(scenario)
    result = subprocess.run(
        [sys.executable, "-c", script, str(interval)],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "chargehub.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_busy_process_does_not_start_a_full_collection_while_serving():
    printed = run(
        """
        by_default = old_garbage()
        churn()
        print("default:", "collected" if by_default() is None else "kept")
        serve.collect_old_garbage_on_schedule(INTERVAL)
        serving = old_garbage()
        churn()
        print("serving:", "collected" if serving() is None else "kept")
        """,
        interval=3600,
    )
    assert printed == ["default:", "collected", "serving:", "kept"]


def test_old_garbage_is_collected_on_the_schedule():
    printed = run(
        """
        serve.collect_old_garbage_on_schedule(INTERVAL)
        garbage = old_garbage()
        wait_until_collected(garbage)
        """,
        interval=0.1,
    )
    assert printed == ["collected"]


def test_old_garbage_is_collected_as_soon_as_memory_grows_by_a_quarter():
    printed = run(
        """
        serve.collect_old_garbage_on_schedule(INTERVAL)
        garbage = old_garbage()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        grown = b"x" * (2 * 1024 * peak)  # the peak doubles (ru_maxrss is in KiB)
        wait_until_collected(garbage)
        """,
        interval=3600,
    )
    assert printed == ["collected"]
