"""The README is part of the contract of #11: a section "Operations" telling staff what
they do, and every operations setting in the configuration table."""

import re

from django.conf import settings

README = (settings.BASE_DIR / "README.md").read_text(encoding="utf-8")
SETTINGS = (settings.BASE_DIR / "chargehub" / "settings.py").read_text(encoding="utf-8")


def section(title: str) -> str:
    """The text of a `## title` section, up to the next section of that level."""
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def test_every_operations_setting_read_from_the_environment_is_in_the_configuration_table():
    read = set(re.findall(r"""env(?:_\w+)?\(\s*"(OPERATIONS_\w+)\"""", SETTINGS))
    assert {"OPERATIONS_OFFLINE_ALERT_AFTER", "OPERATIONS_SLA_HOURS"} <= read
    rows = set(re.findall(r"^\| `(OPERATIONS_\w+)` \|", section("Configuration"), re.MULTILINE))
    assert read - rows == set()


def test_the_operations_section_tells_staff_what_they_do():
    operations = section("Operations")
    headings = re.findall(r"^### (.+)$", operations, re.MULTILINE)
    assert headings == [
        "Network dashboard",
        "Tickets and alerts",
        "Remote repair",
        "Uptime",
        "Maintenance and inspections",
        "Driver support",
        "Emergency stop",
    ]
