"""CPU per frame of the OCPP-J edge on the event loop: parse, validate, encode the answer.

    .venv/bin/python bench/ocpp_framing.py
    .venv/bin/python bench/ocpp_framing.py --checkout /path/to/another/checkout

Times stations/ocpp/rpc.py on the frames of the bench session (bench/ocpp_database_calls.py
SESSION: a StatusNotification, a MeterValues with two samples, ...) in this process:
parse_frame, validate (inbound, as the consumer calls it) and encode_call_result; and,
where the code has it, the slow path alone (jsonschema, what the fast path spares a valid
payload). CPU time, best of --rounds rounds of --calls calls each, in microseconds, so a
busy machine disturbs it little. --checkout times another checkout's rpc.py (an older
commit, for before and after) with the same frames.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

NOW = "2026-01-01T10:00:00.000Z"
FRAMES = {
    "Heartbeat": {},
    "StatusNotification": {
        "connectorId": 1,
        "errorCode": "NoError",
        "status": "Charging",
        "timestamp": NOW,
    },
    "Authorize": {"idTag": "TRIPS-TAG"},
    "StartTransaction": {
        "connectorId": 1,
        "idTag": "TRIPS-TAG",
        "meterStart": 1000,
        "timestamp": NOW,
    },
    "MeterValues": {
        "connectorId": 1,
        "transactionId": 5,
        "meterValue": [
            {
                "timestamp": NOW,
                "sampledValue": [
                    {"value": "1500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                    {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"},
                ],
            }
        ],
    },
    "StopTransaction": {
        "transactionId": 5,
        "meterStop": 5000,
        "timestamp": NOW,
        "reason": "EVDisconnected",
    },
}
ANSWER = {"idTagInfo": {"status": "Accepted"}, "transactionId": 5}


def best_microseconds(function, calls: int, rounds: int) -> float:
    function()
    best = float("inf")
    for _ in range(rounds):
        before = time.process_time()
        for _ in range(calls):
            function()
        best = min(best, (time.process_time() - before) / calls)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    checkout = str(args.checkout.resolve())
    os.chdir(checkout)  # Django's set-up puts the working directory first on the path
    sys.path.insert(0, checkout)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chargehub.settings")
    import django

    django.setup()
    from stations.ocpp import rpc

    slow = getattr(rpc, "_validate_slowly", None)
    print(f"{rpc.__file__}: CPU per frame, best of {args.rounds} rounds of {args.calls}")
    print(f"load average {os.getloadavg()[0]:.1f}")
    print(f"  {'action':20s} {'parse':>7s} {'validate':>9s} {'encode':>7s} {'slow path':>10s}")
    for action, payload in FRAMES.items():
        text = json.dumps([2, "1234", action, payload])
        call = rpc.parse_frame(text)
        figures = [
            best_microseconds(lambda text=text: rpc.parse_frame(text), args.calls, args.rounds),
            best_microseconds(
                lambda action=action, call=call: rpc.validate(
                    "1.6", action, "request", call.payload, inbound=True
                ),
                args.calls,
                args.rounds,
            ),
            best_microseconds(
                lambda: rpc.encode_call_result("1234", ANSWER), args.calls, args.rounds
            ),
        ]
        if slow is not None:
            figures.append(
                best_microseconds(
                    lambda action=action, call=call: slow(
                        "1.6", action, "request", call.payload, inbound=True
                    ),
                    args.calls,
                    args.rounds,
                )
            )
        print(f"  {action:20s}" + "".join(f" {figure:7.1f} µs" for figure in figures))


if __name__ == "__main__":
    main()
