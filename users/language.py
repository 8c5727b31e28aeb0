"""The driver's language: User.language, and the cookie LocaleMiddleware reads.

Django no longer keeps the language in the session; the cookie
(settings.LANGUAGE_COOKIE_NAME) is the one place a browser's language is kept, and
User.language is where it is kept for emails and for the next login.
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.views.i18n import set_language as django_set_language

SUPPORTED = frozenset(code for code, _name in settings.LANGUAGES)


def remember(response: HttpResponseBase, code: str) -> None:
    """Set the language cookie as Django's set_language view does."""
    if code not in SUPPORTED:
        return
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        code,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )


def set_language(request: HttpRequest) -> HttpResponse:
    """Django's language switch; a logged-in driver's choice is also saved in
    User.language, so that emails and the next login use it."""
    response = django_set_language(request)
    code = request.POST.get("language", "")
    user = request.user
    if (
        request.method == "POST"
        and code in SUPPORTED
        and user.is_authenticated
        and user.language != code
    ):
        user.language = code
        user.save(update_fields=["language"])
    return response
