"""What users does when allauth reports a sign-up or a login (connected in users/apps.py)."""

from typing import Any

from allauth.account.signals import user_logged_in, user_signed_up
from django.contrib.auth.models import Group
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponseBase

from users import language
from users.models import User
from users.roles import DRIVER


@receiver(user_signed_up, dispatch_uid="users.signed_up_joins_drivers")
def join_drivers(sender: type[User], request: HttpRequest, user: User, **kwargs: Any) -> None:
    """Whoever signs up in the portal is a driver (users/roles.py); the group is made here
    when `setup_roles` has not run yet, so that no sign-up is left out of it."""
    group, _created = Group.objects.get_or_create(name=DRIVER.name)
    user.groups.add(group)


@receiver(user_signed_up, dispatch_uid="users.signed_up_keeps_language")
def keep_sign_up_language(
    sender: type[User], request: HttpRequest, user: User, **kwargs: Any
) -> None:
    """A driver who signed up on the English pages gets English pages, emails and
    receipts (User.language would otherwise be the default)."""
    code = getattr(request, "LANGUAGE_CODE", "")
    if code in language.SUPPORTED and user.language != code:
        user.language = code
        user.save(update_fields=["language"])


@receiver(user_logged_in, dispatch_uid="users.logged_in_language")
def switch_to_users_language(
    sender: type[User],
    request: HttpRequest,
    user: User,
    response: HttpResponseBase | None = None,
    **kwargs: Any,
) -> None:
    """After login the portal speaks the driver's language (User.language): the language
    cookie is what LocaleMiddleware reads on the next request."""
    if response is not None:
        language.remember(response, user.language)
