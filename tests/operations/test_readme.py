"""The README is part of the contract of #11: a section "Operations" telling staff what
they do (its settings are in the configuration table: tests/test_readme.py)."""

import re

from tests.test_readme import section


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
