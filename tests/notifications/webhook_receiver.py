"""An integrator's side of webhooks, for the tests: a local HTTP receiver and the
signature check exactly as README documents it."""

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.http_stand_in import QuietHandler, StandIn

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_verify() -> Callable[[str, dict[str, str], bytes], bool]:
    """The receiver's check exactly as README documents it (its python block on webhooks)."""
    text = README.read_text()
    start = text.index("Verifying a delivery")
    block = re.search(r"```python\n(.*?)```", text[start:], re.S)
    assert block is not None
    code = "\n".join(line.removeprefix("  ") for line in block.group(1).splitlines())
    scope: dict = {}
    exec(code, scope)
    return scope["verify"]


class Receiver:
    """A local HTTP server standing in for an integrator; answers `status`."""

    def __init__(self) -> None:
        self.requests: list[tuple[Any, bytes]] = []
        self.status = 200
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                # As a web framework gives them: case-insensitive (http.client's Message).
                receiver.requests.append((self.headers, body))
                self.send_response(receiver.status)
                self.end_headers()

        self.stand_in = StandIn(Handler)
        self.url = f"{self.stand_in.origin}/hooks"

    def stop(self) -> None:
        self.stand_in.stop()
