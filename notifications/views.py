"""The driver's notification pages: the "Notify me when free" button of the station page
(portal:watch) and "My account → Notifications" (portal:notifications). Rules live in
events.py and preferences.py."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from notifications import events, inbox, preferences, unsubscribe
from notifications.forms import PreferencesForm
from notifications.models import Watch
from notifications.push_views import vapid_public_key
from stations import finder
from stations.models import Site


@login_required
@require_POST
def watch_station(request: HttpRequest, site_id: int) -> HttpResponse:
    """Watch one connector (POST connector=<pk>) or, without one, every connector of the
    station that is not free now."""
    site = get_object_or_404(Site, pk=site_id)
    states = [
        state
        for result in finder.group_by_site(finder.public_connectors(site_id=site.pk))
        for state in result.connectors
    ]
    wanted = request.POST.get("connector", "")
    if wanted:
        states = [state for state in states if str(state.connector.pk) == wanted]
        if not states:
            return redirect("portal:station", site_id=site.pk)  # not a connector of this place
    else:
        states = [state for state in states if not state.available]
    events.watch(request.user, [state.connector for state in states])
    if states:
        messages.success(
            request, _("We will email you once when a connector here becomes available.")
        )
    return redirect("portal:station", site_id=site.pk)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def notification_settings(request: HttpRequest) -> HttpResponse:
    """The driver's notifications, on which channels they want each kind (staff: with
    the staff alerts and the daily digest), and the connectors they are waiting for."""
    user = request.user
    saved = preferences.preferences_of(user)
    if request.method == "POST":
        form = PreferencesForm(request.POST, saved=saved)
        if form.is_valid():
            choices = {
                "channels": form.channels(),
                "quiet_start": form.cleaned_data["quiet_start"],
                "quiet_end": form.cleaned_data["quiet_end"],
            }
            if form.staff:
                choices["staff_digest"] = form.cleaned_data["staff_digest"]
            preferences.save_choices(user, choices)
            messages.success(request, _("Your notification settings are saved."))
            return redirect("portal:notifications")
        status = 400
    else:
        initial = {"quiet_start": saved.quiet_start, "quiet_end": saved.quiet_end}
        form = PreferencesForm(initial=initial, saved=saved)
        status = 200
    watches = (
        Watch.objects.filter(user=user, notified_at=None)
        .select_related("connector__charge_point__site")
        .order_by("created_at", "pk")
    )
    context = {
        "form": form,
        "watches": watches,
        "notifications": list(inbox.latest(user)),
        "unread": inbox.unread_count(user),
        # Push: on this device (the button), or why the push boxes go to the list.
        "vapid_key": vapid_public_key(),
        "push_devices": user.push_subscriptions.count(),
        "push_without_device": [
            kind.label for kind in preferences.push_without_device(user, saved)
        ],
    }
    return render(request, "notifications/preferences.html", context, status=status)


@login_required
@require_POST
def mark_read(request: HttpRequest) -> HttpResponse:
    """Mark the driver's notifications read (the list's button)."""
    inbox.mark_read(request.user)
    return redirect("portal:notifications")


@require_http_methods(["GET", "HEAD"])
def unread(request: HttpRequest) -> JsonResponse:
    """{"unread": n} for the header's badge (fetched by notifications/inbox.js, so that
    pages do not count on every load); 0 for a visitor."""
    count = inbox.unread_count(request.user) if request.user.is_authenticated else 0
    return JsonResponse({"unread": count}, headers={"Cache-Control": "no-store"})


@login_required
def stop_waiting(request: HttpRequest, watch_id: int) -> HttpResponse:
    """Close one of the driver's open watches ("Stop waiting")."""
    # Looked up before the method is checked: another driver's watch is a 404 either way.
    watch = get_object_or_404(Watch, pk=watch_id, user=request.user, notified_at=None)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    watch.delete()
    messages.success(request, _("You will not be emailed when that connector becomes free."))
    return redirect("portal:notifications")


# RFC 8058 §3.2: the mail app's POST carries no cookie and no CSRF token; the signed
# link is the proof. A GET only asks (link scanners follow GETs).
@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe_page(request: HttpRequest, token: str) -> HttpResponse:
    """One-click unsubscribe from an email's List-Unsubscribe link; no login needed."""
    found = unsubscribe.read(token)
    if found is None:
        return render(request, "notifications/unsubscribe.html", {"invalid": True}, status=400)
    user, kind = found
    label = preferences.Kind(kind).label
    if request.method == "POST":
        unsubscribe.unsubscribe(user, kind)
        return render(request, "notifications/unsubscribe.html", {"done": True, "label": label})
    return render(request, "notifications/unsubscribe.html", {"label": label, "token": token})
