"""The admin home (chargehub/admin_site.py): apps in the order staff use them, dj-stripe's
synced models behind one entry."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_apps_come_in_the_order_staff_use_them_with_stripe_last_and_folded(admin_client):
    apps = admin_client.get(reverse("admin:index")).context["app_list"]
    labels = [app["app_label"] for app in apps]

    assert labels.index("stations") < labels.index("billing") < labels.index("users")
    assert labels[-1] == "djstripe"
    stripe = apps[-1]
    assert str(stripe["name"]) == "Stripe (synced)"
    assert stripe["models"] == []


def test_stripes_own_page_still_lists_every_synced_model(admin_client):
    page = admin_client.get(reverse("admin:app_list", args=["djstripe"]))
    [stripe] = page.context["app_list"]
    assert len(stripe["models"]) > 20
