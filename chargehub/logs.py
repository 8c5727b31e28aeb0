"""Log lines that a charger or a browser cannot forge.

Messages carry what clients send (a charge point id from the URL path, a WebSocket
path): a CR LF in one would start a line of the attacker's choosing. The formatter
escapes control characters in the message; a traceback after it is the server's own.
"""

import logging
import re

# C0 controls but tab, DEL, C1 controls (NEL) and the Unicode line and paragraph
# separators: everything a log viewer may take for a line break or a terminal command.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def escape_control(text: str) -> str:
    """`text` with each control character written as its Python escape (`\\r`, `\\x1b`)."""
    return _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode(), text)


class EscapingFormatter(logging.Formatter):
    """One record, one line: the message has its control characters escaped."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_control(record.message)
        return super().formatMessage(record)
