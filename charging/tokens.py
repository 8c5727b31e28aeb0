"""The driver's tokens that may charge, and the App token the portal and the API start
with when the driver names none."""

import secrets
from http import HTTPStatus

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from charging.refusals import Refused, TokenCannotCharge
from users.models import IdToken, User


def own_tokens(user: User) -> QuerySet[IdToken]:
    """All the driver's tokens, usable or not: what a door looks a named token up in, so
    that check_own_usable() can say why one of theirs cannot charge."""
    return IdToken.objects.filter(owner=user)


def usable_tokens(user: User) -> QuerySet[IdToken]:
    """The driver's tokens a charger would accept now."""
    now = timezone.now()
    return (
        own_tokens(user)
        .filter(status=IdToken.Status.ACCEPTED)
        .exclude(expires_at__lte=now)
        .order_by("type", "uid")
    )


def _new_app_uid() -> str:
    # An OCPP 1.6 idTag is a CiString20; "APP" and 16 hex digits fit, and cannot be
    # guessed from the driver's other tokens.
    return f"APP{secrets.token_hex(8).upper()}"


def app_token(user: User) -> IdToken:
    """The driver's App token: an existing usable one, else a new one."""
    existing = usable_tokens(user).filter(type=IdToken.Type.APP).first()
    if existing is not None:
        return existing
    for _attempt in range(5):
        try:
            with transaction.atomic():
                return IdToken.objects.create(
                    uid=_new_app_uid(), type=IdToken.Type.APP, owner=user, name=_("Portal")
                )
        except IntegrityError:  # 64 random bits already taken: draw again
            continue
    raise RuntimeError("No free App token uid after 5 draws")


def check_own_usable(user: User, token: IdToken) -> None:
    """Refuse a token that is not the driver's, or one of theirs that a charger would not
    accept now (charging.refusals.TokenCannotCharge)."""
    # The doors only look named tokens up among the driver's own; kept as a rule for all.
    if token.owner_id != user.pk:
        raise Refused(_("That token is not yours."), HTTPStatus.NOT_FOUND)
    if not usable_tokens(user).filter(pk=token.pk).exists():
        raise TokenCannotCharge(token)
