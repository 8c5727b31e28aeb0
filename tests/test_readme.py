"""The README's configuration table is what operators set: every setting read from the
environment is in it, under its full name."""

import re

from django.conf import settings

README = (settings.BASE_DIR / "README.md").read_text(encoding="utf-8")
SETTINGS = (settings.BASE_DIR / "chargehub" / "settings.py").read_text(encoding="utf-8")


def section(title: str) -> str:
    """The text of a `## title` section, up to the next section of that level."""
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def read_from_the_environment() -> set[str]:
    """The variables settings.py reads: through env(), env_int() and the like, os.environ,
    or a library's env= argument (dj-database-url)."""
    helpers = re.findall(r"""\benv(?:_\w+)?\(\s*"([A-Z][A-Z0-9_]+)\"""", SETTINGS)
    direct = re.findall(r"""os\.environ(?:\.get\(|\[)\s*"([A-Z][A-Z0-9_]+)\"""", SETTINGS)
    named = re.findall(r"""\benv="([A-Z][A-Z0-9_]+)\"""", SETTINGS)
    return set(helpers) | set(direct) | set(named)


def test_every_setting_read_from_the_environment_is_in_the_configuration_table():
    read = read_from_the_environment()
    # The finder itself: both ways of reading, and the operations settings of #11.
    assert {"DATABASE_URL", "API_PAGE_SIZE", "OPERATIONS_SLA_HOURS", "EMAIL_PORT"} <= read
    table = "\n".join(
        line for line in section("Configuration").splitlines() if line.startswith("| `")
    )
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table))
    assert read - documented == set()
