"""What a driver wants to be told: the one rule every sender asks (`wants`).

Drivers choose on the portal page "My account → Notifications" (notifications/views.py).
Some emails cannot be turned off:

- payment problems: a failed payment counts towards blocking the driver's cards
  (billing/standing.py), so the driver must hear of it;
- monthly invoices and credit notes: they are the legal document of what is owed, and
  billing sends them without asking.

A receipt turned off here is still issued and listed in the portal; only the email is
left out.
"""

from notifications.models import Kind, Preferences
from users.models import User

RECEIPTS = Kind.RECEIPTS
CHARGING_FINISHED = Kind.CHARGING_FINISHED
PAYMENT_PROBLEMS = Kind.PAYMENT_PROBLEMS

# The kinds a driver may turn off, and the Preferences field that holds the choice.
CHOICE_FIELDS: dict[Kind, str] = {
    RECEIPTS: "receipts_by_email",
    CHARGING_FINISHED: "charging_finished",
}
ALWAYS_SENT: frozenset[Kind] = frozenset({PAYMENT_PROBLEMS})


def wants(user: User, kind: Kind | str) -> bool:
    """Whether `user` wants emails of this kind; a driver who never chose gets them."""
    kind = Kind(kind)  # an unknown kind is a programming error: ValueError
    if kind in ALWAYS_SENT:
        return True
    chosen = (
        Preferences.objects.filter(user=user).values_list(CHOICE_FIELDS[kind], flat=True).first()
    )
    return True if chosen is None else chosen


def preferences_of(user: User) -> Preferences:
    """The driver's preferences; the defaults (not saved) until they first choose."""
    return Preferences.objects.filter(user=user).first() or Preferences(user=user)


def save_preferences(user: User, choices: dict[str, bool]) -> Preferences:
    """Store the driver's choices ({field: on?}); creates the row on the first save."""
    unknown = set(choices) - set(CHOICE_FIELDS.values())
    if unknown:
        raise ValueError(f"Not a notification choice: {', '.join(sorted(unknown))}")
    preferences, _created = Preferences.objects.update_or_create(user=user, defaults=choices)
    return preferences
