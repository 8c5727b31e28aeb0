"""Text for a CSV cell that a spreadsheet opens (every CSV export uses it)."""


def text_cell(value: str) -> str:
    """The text as a spreadsheet should show it: a cell starting with = + - @ would run as
    a formula (CSV injection), so it gets a leading apostrophe."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@") else value
