"""The staff's first second factor: the page that emails the link, and the link itself
(users/first_factor.py). Under /accounts/2fa/, beside allauth's pages."""

from django.urls import path

from users import first_factor

urlpatterns = [
    path("confirm/", first_factor.ask, name="staff_first_factor"),
    path("confirm/<str:token>/", first_factor.confirm, name="staff_first_factor_confirm"),
]
