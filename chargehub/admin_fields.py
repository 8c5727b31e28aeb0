"""Admin form widgets shared by the apps' admins."""

from django import forms
from django.db import models

# Times of day in a site's local time, whatever the browser's or the server's zone: a
# plain input, without admin's clock widget and its "you are N hours behind" note, which
# compares the browser with the server and means nothing for a site's hours.
LOCAL_TIME_INPUT = {models.TimeField: {"widget": forms.TimeInput(format="%H:%M")}}
