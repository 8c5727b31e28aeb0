"""Staff reach the admin only with a second factor (ADMIN_REQUIRE_MFA).

Two rules, both only while the setting is on:
- the admin's own login page sends people to allauth's, which asks for the second factor
  of those who have one (Django's admin login would take the password alone);
- a member of staff without a second factor (TOTP or a security key) who opens the admin
  is sent to set one up first.

With the setting off (the default under DEBUG) the admin logs in with a password, as
`make run`'s demo admin does.
"""

from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext

from users.middleware import redirecting_middleware

# Recovery codes are a way back in when the second factor is lost, not a factor of their own.
SECOND_FACTORS = [Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]


def has_second_factor(user: object) -> bool:
    return is_mfa_enabled(user, types=SECOND_FACTORS)


def lacks_required_second_factor(user: object) -> bool:
    """A member of staff without the second factor ADMIN_REQUIRE_MFA asks of them.

    The one rule for every way staff work: the admin (below), the staff endpoints of
    the API (api/permissions.py), whether they come with a session or a token, making an
    API token in the portal, and the emailed link before the first factor
    (users/first_factor.py).
    """
    return bool(
        settings.ADMIN_REQUIRE_MFA
        and getattr(user, "is_staff", False)
        and not has_second_factor(user)
    )


def admin_redirect(request: HttpRequest) -> HttpResponse | None:
    """Where to send this request instead of the admin, or None to let it through."""
    if not settings.ADMIN_REQUIRE_MFA:
        return None
    admin_root = reverse("admin:index")
    if not request.path.startswith(admin_root):
        return None
    if request.path == reverse("admin:login"):
        query = urlencode({REDIRECT_FIELD_NAME: request.GET.get(REDIRECT_FIELD_NAME, admin_root)})
        return HttpResponseRedirect(f"{reverse('account_login')}?{query}")
    if request.path == reverse("admin:logout"):
        return None  # leaving is always allowed
    user = request.user
    if user.is_authenticated and lacks_required_second_factor(user):
        messages.warning(
            request,
            gettext(
                "Staff need a second factor to use the admin: set up an authenticator app "
                "or a security key."
            ),
        )
        return HttpResponseRedirect(reverse("mfa_index"))
    return None


def _is_admin_path(request: HttpRequest) -> bool:
    return request.path.startswith(reverse("admin:index"))


admin_requires_mfa = redirecting_middleware(_is_admin_path, admin_redirect)
