"""Run the whole system in one terminal: what `make run` starts.

    python manage.py run_stack --host 127.0.0.1 --port 8000 --chargers 3

Children: the web and OCPP server (`manage.py serve`), a Celery worker, Celery beat and,
with --chargers > 0, simulated chargers (`manage.py simulate_chargers`) for the demo
charge points of `manage.py load_demo`. Every line a child prints is prefixed with its
name. Ctrl-C or SIGTERM stops them all (chargers first, web server last); if one dies
on its own the others are stopped too and the command exits non-zero.

Quiet unless --verbose: no line per request, Celery at warning level, libraries that talk
at INFO (settings.LIBRARY_LOG_LEVEL) at WARNING. The banner (where to go, the demo logins,
where mail is written) is printed once the web server answers, again once the simulated
chargers are connected, on Ctrl-\\ (SIGQUIT), and alone with --info (`make info`).

This is a development and demo supervisor. In production each part runs as its own
service (systemd, containers): see README.md, "Deployment".
"""

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from types import FrameType
from typing import IO, Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, close_old_connections
from django.utils.translation import gettext as _

from billing.management.commands.load_billing_demo import DEMO_DRIVER_PASSWORD, DEMO_DRIVERS
from stations.management.commands.load_demo import (
    DEMO_ADMIN_EMAIL,
    DEMO_ADMIN_PASSWORD,
    DEMO_CHARGER_PASSWORD,
    DEMO_CHARGER_PREFIX,
)
from stations.models import ChargePoint

# How long the web server may take to answer /health/ before the stack gives up.
STARTUP_TIMEOUT = 60.0
# How long a child has to exit after SIGTERM before it is killed.
STOP_TIMEOUT = 10.0
# How long the simulated chargers may take to connect before the banner stops waiting.
CHARGERS_TIMEOUT = 120.0


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[str] | None = None
    reader: threading.Thread | None = field(default=None, repr=False)


class Command(BaseCommand):
    help = _("Run web+OCPP server, Celery worker, Celery beat and simulated chargers together.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help=_("Address to serve on."))
        parser.add_argument("--port", type=int, default=8000, help=_("Port to serve on."))
        parser.add_argument(
            "--chargers",
            type=int,
            default=3,
            help=_("Simulated demo chargers to run (0 for none)."),
        )
        parser.add_argument(
            "--verbose",
            action="store_true",
            help=_("Show every request, Celery's INFO lines and the libraries' chatter."),
        )
        parser.add_argument(
            "--info",
            action="store_true",
            help=_("Print the banner (addresses, demo logins, mail folder) and exit."),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host: str = options["host"]
        port: int = options["port"]
        chargers: int = options["chargers"]
        if chargers < 0:
            raise CommandError(_("--chargers must be 0 or more."))
        # 0.0.0.0 / :: listen everywhere; the local children connect over loopback.
        local = "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host
        base_url = f"http://{local}:{port}"
        ws_url = f"ws://{local}:{port}/ocpp"
        self.verbose: bool = options["verbose"]
        self.banner_args = (base_url, ws_url, chargers)
        self.output_lock = threading.Lock()
        if options["info"]:
            self._banner(*self.banner_args, running=False)
            return

        # A plain flag, not a threading.Event: the signal handler runs in the main
        # thread, and Event.set() there deadlocks when it interrupts Event.wait(),
        # which holds the same lock at that moment.
        self.stopping = False
        self.banner_wanted = False  # Ctrl-\ (SIGQUIT): the handler only sets the flag
        self.children: list[Child] = []
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        previous[signal.SIGQUIT] = signal.signal(signal.SIGQUIT, self._on_quit_signal)
        try:
            failed = self._run(host, port, chargers, base_url, ws_url)
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if failed:
            raise CommandError(failed)
        self.stdout.write(_("Stopped."))

    # --- Running ----------------------------------------------------------------------

    def _run(self, host: str, port: int, chargers: int, base_url: str, ws_url: str) -> str:
        """Start and watch the children; return why the stack failed, "" after a signal."""
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        celery = [sys.executable, "-m", "celery", "-A", "chargehub"]
        level = "info" if self.verbose else "warning"
        quiet = [] if self.verbose else ["--no-access-log"]
        self._start("web", [*manage, "serve", "--host", host, "--port", str(port), *quiet])
        failure = self._wait_for_web(base_url)
        if failure or self.stopping:
            return failure

        self._start(
            "worker",
            # The threads pool: no forked copies of Django; two threads so that a task
            # waiting for a charger's answer does not hold up the periodic rules.
            [*celery, "worker", "-l", level, "--pool", "threads", "--concurrency", "2"],
        )
        self._start(
            "beat",
            [*celery, "beat", "-l", level, "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME],
        )
        if chargers:
            self._start(
                "chargers",
                [
                    *manage,
                    "simulate_chargers",
                    "--count",
                    str(chargers),
                    "--prefix",
                    DEMO_CHARGER_PREFIX,
                    "--password",
                    DEMO_CHARGER_PASSWORD,
                    "--url",
                    ws_url,
                    "--auto-sessions",
                ],
            )
        self._banner(base_url, ws_url, chargers)

        # Once every simulated charger is connected, the banner again: by then the
        # chargers' boot lines have pushed the first one off the screen.
        waiting_for_chargers = chargers > 0
        chargers_deadline = time.monotonic() + CHARGERS_TIMEOUT
        next_look = 0.0
        while not self.stopping:
            failure = self._failure()
            if failure:
                return failure
            if self.banner_wanted:
                self.banner_wanted = False
                self._banner(base_url, ws_url, chargers)
            if waiting_for_chargers and time.monotonic() >= next_look:
                next_look = time.monotonic() + 1.0
                if _connected_demo_chargers(chargers) >= chargers:
                    waiting_for_chargers = False
                    self._banner(base_url, ws_url, chargers, connected=True)
                elif time.monotonic() > chargers_deadline:
                    waiting_for_chargers = False
            time.sleep(0.2)  # a signal interrupts it, and the handler sets the flag
        return ""

    def _start(self, name: str, argv: list[str]) -> None:
        child = Child(name, argv)
        child.process = subprocess.Popen(
            argv,
            cwd=settings.BASE_DIR,
            env={
                **os.environ,
                "PYTHONUNBUFFERED": "1",
                **({"LIBRARY_LOG_LEVEL": "INFO"} if self.verbose else {}),
            },
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            # Own process group: Ctrl-C reaches this supervisor only, which then stops
            # the children in order instead of all of them at once.
            process_group=0,
        )
        assert child.process.stdout is not None
        child.reader = threading.Thread(
            target=self._relay, args=(name, child.process.stdout), daemon=True
        )
        child.reader.start()
        self.children.append(child)

    def _relay(self, name: str, stream: IO[str]) -> None:
        prefix = f"{name:<8} | "
        for line in stream:
            with self.output_lock:
                self.stdout.write(prefix + line.rstrip("\n"))
                self.stdout.flush()

    def _wait_for_web(self, base_url: str) -> str:
        """Wait until /health/ answers; return why it never did ("" when up or stopped)."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline and not self.stopping:
            failure = self._failure()
            if failure:
                return failure
            try:
                with urllib.request.urlopen(f"{base_url}/health/", timeout=2) as response:
                    if response.status == 200:
                        return ""
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        if self.stopping:
            return ""
        return _("The web server did not answer %s/health/ in time.") % base_url

    def _failure(self) -> str:
        for child in self.children:
            assert child.process is not None
            code = child.process.poll()
            if code is not None:
                return _("%(name)s exited with code %(code)s; the others were stopped.") % {
                    "name": child.name,
                    "code": code,
                }
        return ""

    def _banner(
        self,
        base_url: str,
        ws_url: str,
        chargers: int,
        *,
        running: bool = True,
        connected: bool = False,
    ) -> None:
        if not running:
            heading = _("ChargeHub (make run) serves:")
        elif connected:
            heading = _("ChargeHub is running; the simulated chargers are connected.")
        else:
            heading = _("ChargeHub is running.")
        lines = [
            "",
            heading,
            _("  Portal: %s/") % base_url,
            _("  Admin:  %s/admin/") % base_url,
        ]
        if settings.DEBUG:
            lines.append(
                _("  Login:  %(email)s / %(password)s (demo data, manage.py load_demo)")
                % {"email": DEMO_ADMIN_EMAIL, "password": DEMO_ADMIN_PASSWORD}
            )
            lines.append(
                _("  Driver: %(email)s / %(password)s (manage.py load_billing_demo)")
                % {"email": DEMO_DRIVERS[0][1], "password": DEMO_DRIVER_PASSWORD}
            )
        lines.append(_("  OCPP:   %s/<charge point id>  (OCPP 1.6, HTTP Basic auth)") % ws_url)
        if chargers:
            lines.append(
                _("  Simulated chargers: %(first)s001 … %(first)s%(last)03d")
                % {"first": DEMO_CHARGER_PREFIX, "last": chargers}
            )
        mailer = settings.MAILERS["default"]
        if mailer["BACKEND"] == settings.FILE_EMAIL_BACKEND:
            lines.append(
                _("  Mail:   %s/ (a file per message batch)") % mailer["OPTIONS"]["file_path"]
            )
        if running:
            lines += [_("  Ctrl-C stops everything; Ctrl-\\ shows this again."), ""]
        else:
            lines.append("")
        self._note("\n".join(lines))

    def _note(self, text: str) -> None:
        with self.output_lock:
            self.stdout.write(self.style.SUCCESS(text))
            self.stdout.flush()

    # --- Stopping ---------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _on_quit_signal(self, signum: int, frame: FrameType | None) -> None:
        self.banner_wanted = True

    def _stop_all(self) -> None:
        # Chargers first (they close their sockets), then the scheduler, the worker and
        # last the server, so that every goodbye still reaches someone.
        for child in reversed(self.children):
            assert child.process is not None
            if child.process.poll() is None:
                child.process.terminate()
                try:
                    child.process.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self._note(_("%s did not stop in time; killed.") % child.name)
                    child.process.kill()
                    child.process.wait()
            if child.reader is not None:
                child.reader.join(timeout=2)


def _connected_demo_chargers(count: int) -> int:
    """How many of the `count` simulated demo chargers are connected now."""
    ids = [f"{DEMO_CHARGER_PREFIX}{number:03d}" for number in range(1, count + 1)]
    try:
        return ChargePoint.objects.filter(charge_point_id__in=ids, is_connected=True).count()
    except DatabaseError:
        return 0  # a busy SQLite file: asked again in a second
    finally:
        # The supervisor holds no connection between looks (SQLite: no lock kept).
        close_old_connections()
