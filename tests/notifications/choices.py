"""What the portal's notification page posts (notifications/forms.py PreferencesForm)."""

from notifications import preferences


def ticked(**channels: list[str]) -> dict[str, str]:
    """The page's boxes as a new driver finds them ticked (each kind's defaults), with
    the kinds named here ticked on these channels instead."""
    chosen = {
        str(kind): sorted(rule.default)
        for kind, rule in preferences.KINDS.items()
        if not rule.staff
    }
    chosen.update(channels)
    return {f"{kind}__{channel}": "on" for kind, names in chosen.items() for channel in names}
