"""Middleware that sends some requests elsewhere: the staff's second-factor rules
(users/admin_mfa.py, users/first_factor.py) are each one of these."""

from collections.abc import Awaitable, Callable
from inspect import iscoroutinefunction

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware

type GetResponse = Callable[[HttpRequest], HttpResponse | Awaitable[HttpResponse]]


def redirecting_middleware(
    concerns: Callable[[HttpRequest], bool],
    redirect_for: Callable[[HttpRequest], HttpResponse | None],
) -> Callable[[GetResponse], GetResponse]:
    """A middleware answering `redirect_for(request)` where that is not None.

    `concerns` is a cheap look at the path: only the requests it picks reach
    `redirect_for`, which may read the database (off the event loop under ASGI); any
    other request passes untouched.
    """

    @sync_and_async_middleware
    def middleware_for(get_response: GetResponse) -> GetResponse:
        if iscoroutinefunction(get_response):

            async def middleware_async(request: HttpRequest) -> HttpResponse:
                if concerns(request):
                    redirect = await sync_to_async(redirect_for)(request)
                    if redirect is not None:
                        return redirect
                return await get_response(request)  # type: ignore[misc]

            return middleware_async

        def middleware(request: HttpRequest) -> HttpResponse:
            if concerns(request) and (redirect := redirect_for(request)) is not None:
                return redirect
            return get_response(request)  # type: ignore[return-value]

        return middleware

    return middleware_for
