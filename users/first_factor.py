"""A member of staff adds their first second factor only after an emailed confirmation.

Without it, someone with a stolen staff password alone could log in, set up their own
authenticator app and open the admin (users/admin_mfa.py). So while ADMIN_REQUIRE_MFA asks
a member of staff for a second factor they lack, the pages that add one (and the email
addresses page, else the link could be sent to an address the thief just added) wait for
a signed, short-lived link emailed to the account's address. Following it, logged in,
lets that browser session add the first factor. Drivers are not asked: they enrol freely.
"""

import logging
import smtplib
import time
from datetime import timedelta
from functools import cache

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.mail import send_mail
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from users.admin_mfa import lacks_required_second_factor
from users.middleware import redirecting_middleware
from users.models import User

logger = logging.getLogger(__name__)

LINK_MAX_AGE = timedelta(minutes=30)
SALT = "users.first_factor"
SESSION_KEY = "users.first_factor_confirmed"
# allauth's pages that add a factor, and the one that adds email addresses.
GUARDED_URL_NAMES = [
    "mfa_activate_totp",
    "mfa_add_webauthn",
    "mfa_generate_recovery_codes",
    "account_email",
]


def needs_confirmation(request: HttpRequest) -> bool:
    """Staff without their required factor, in a session that has not followed a link."""
    user = request.user
    if not (user.is_authenticated and lacks_required_second_factor(user)):
        return False
    confirmed = request.session.get(SESSION_KEY) or {}
    fresh = time.time() - confirmed.get("at", 0) < LINK_MAX_AGE.total_seconds()
    return not (confirmed.get("user") == user.pk and fresh)


def link_for(user: User) -> str:
    """The signed path a confirmation email carries (valid for LINK_MAX_AGE)."""
    token = signing.dumps({"user": user.pk, "email": user.email}, salt=SALT)
    return reverse("staff_first_factor_confirm", args=[token])


@cache
def _guarded_paths() -> frozenset[str]:
    # Looked up once: this runs on every request, and the URLs never change while serving.
    return frozenset(reverse(name) for name in GUARDED_URL_NAMES)


def _is_guarded_path(request: HttpRequest) -> bool:
    return request.path in _guarded_paths()


def _to_confirmation(request: HttpRequest) -> HttpResponse | None:
    if needs_confirmation(request):
        return HttpResponseRedirect(reverse("staff_first_factor"))
    return None


# On the guarded pages only (the middleware asks _is_guarded_path first).
first_factor_needs_email_confirmation = redirecting_middleware(_is_guarded_path, _to_confirmation)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def ask(request: HttpRequest) -> HttpResponse:
    """Explain, and on POST email the link to the account's address."""
    if not needs_confirmation(request):
        return redirect("mfa_index")
    user = request.user
    if request.method == "POST":
        url = request.build_absolute_uri(link_for(user))
        with translation.override(user.language):
            subject = settings.ACCOUNT_EMAIL_SUBJECT_PREFIX + _(
                "Confirm that you are setting up a second factor"
            )
            body = render_to_string(
                "users/email/first_factor_link.txt",
                {"user": user, "url": url, "minutes": int(LINK_MAX_AGE.total_seconds() // 60)},
            )
        try:
            send_mail(subject, body, None, [user.email])
        except (OSError, smtplib.SMTPException) as error:
            logger.warning("First-factor link for user %s not sent: %s", user.pk, error)
            messages.error(request, _("The email could not be sent. Please try again later."))
            return redirect("staff_first_factor")
        messages.success(
            request,
            _("We sent a link to %(email)s. Follow it in this browser to continue.")
            % {"email": user.email},
        )
        return redirect("staff_first_factor")
    return render(request, "users/first_factor.html", {"email": user.email})


@login_required
@require_http_methods(["GET", "HEAD"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The emailed link: this session of that account may now add its first factor."""
    user = request.user
    try:
        signed = signing.loads(token, salt=SALT, max_age=LINK_MAX_AGE)
    except signing.SignatureExpired:
        error = _("This link has expired. Ask for a new one.")
    except signing.BadSignature:
        error = _("This link is not valid. Ask for a new one.")
    else:
        if signed.get("user") == user.pk and signed.get("email") == user.email:
            request.session[SESSION_KEY] = {"user": user.pk, "at": time.time()}
            messages.success(request, _("Confirmed. You can now set up your second factor."))
            return redirect("mfa_index")
        error = _("This link was sent to another account. Log in as that account to use it.")
    context = {"email": user.email, "error": error}
    return render(request, "users/first_factor.html", context, status=400)
