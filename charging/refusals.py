"""A driver's action that did not happen, with the one answer every door gives.

The portal shows `str(refused)` on its page with `status`; the API answers the same
message with the same status. Each kind of refusal has one status:

    400  the request itself is wrong (minutes out of range, a payment method not theirs)
    403  money stops the driver (billing.standing, billing.payment_choice)
    404  not theirs (another driver's reservation, a token that is not theirs)
    409  the state of things says no (their token blocked or expired, already ended, the
         charger said no, the site is out of service)
    4xx/5xx  a command that failed: stations.operations.command_failure (also the admin's
         and the guest pages' table)
"""

from http import HTTPStatus

from django.utils.translation import gettext as _

from stations import operations
from stations.models import Reservation
from stations.ocpp import commands
from users.models import IdToken


class Refused(Exception):
    """An action that did not happen; str() is for the driver, `status` for HTTP."""

    status: int = HTTPStatus.CONFLICT

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class RefusedByBilling(Refused):
    """Money stops the driver (billing.standing): the reason is theirs to read."""

    status = HTTPStatus.FORBIDDEN


class PaymentMethodRefused(Refused):
    """A payment method the driver may not choose (billing.payment_choice)."""

    status = HTTPStatus.BAD_REQUEST


class TokenCannotCharge(Refused):
    """One of the driver's own tokens that a charger would refuse now: they can unblock
    it or choose another, so it is a conflict and says which (blocked, expired)."""

    status = HTTPStatus.CONFLICT

    def __init__(self, token: IdToken) -> None:
        if token.status == IdToken.Status.BLOCKED:
            super().__init__(_("That token is blocked."))
        else:
            super().__init__(_("That token has expired."))
        self.token = token


class OutOfService(Refused):
    """Nobody may start at this charger now (stations.authorization.charge_point_refusal:
    its site is stopped in an emergency); the reason is the policy's."""

    status = HTTPStatus.CONFLICT


class ChargerSaidNo(Refused):
    """The charger answered, and not Accepted: `answer` is what it said (OCPP 1.6 §7),
    or `reservation` the one it did not accept (now Rejected)."""

    status = HTTPStatus.CONFLICT

    def __init__(
        self, message: str, *, answer: str | None = None, reservation: Reservation | None = None
    ) -> None:
        super().__init__(message)
        self.answer = answer
        self.reservation = reservation


class CommandFailed(Refused):
    """The charger could not be asked, or gave no answer to act on."""

    def __init__(self, error: commands.CommandError) -> None:
        failure = operations.command_failure(error)
        super().__init__(failure.message, failure.status)
        self.error = error
