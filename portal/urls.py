"""The driver portal's pages, at the root of the site (chargehub/urls.py)."""

from django.urls import path

from notifications import nearby_views, push_views
from notifications import views as notification_views
from portal import booking_views, money, reservation_views, support_views, views

app_name = "portal"

urlpatterns = [
    path("", views.station_list, name="home"),
    path("stations/", views.station_list, name="stations"),
    path("stations/<int:site_id>/", views.station_detail, name="station"),
    # "Notify me when free" (notifications/events.py).
    path("stations/<int:site_id>/watch/", notification_views.watch_station, name="watch"),
    # *Find me a charger*: a watch around the driver (notifications/nearby.py).
    path("stations/nearby/", nearby_views.start, name="nearby-start"),
    path("stations/nearby/position/", nearby_views.position, name="nearby-position"),
    path("stations/nearby/stop/", nearby_views.stop, name="nearby-stop"),
    path("charging/", views.my_charging, name="charging"),
    path("charging/start/", views.start_charging, name="start"),
    path("charging/<int:session_id>/", views.session_detail, name="session"),
    path("charging/<int:session_id>/figures.json", views.session_figures, name="session-figures"),
    path("charging/<int:session_id>/stop/", views.stop_charging, name="stop"),
    # Holding a connector for a while (charging/reservations.py).
    path("reservations/", reservation_views.my_reservations, name="reservations"),
    path("reservations/reserve/", reservation_views.reserve, name="reserve"),
    path(
        "reservations/<int:reservation_id>/cancel/",
        reservation_views.cancel,
        name="reservation-cancel",
    ),
    # Booking a connector ahead for a time slot (charging/bookings.py).
    path("bookings/book/", booking_views.book, name="book"),
    path("bookings/<int:booking_id>/cancel/", booking_views.cancel, name="booking-cancel"),
    path("account/", views.account, name="account"),
    path("account/sessions.csv", views.sessions_csv, name="sessions-csv"),
    # The money pages (portal/money.py).
    path("account/card/", money.card, name="money-card"),
    path("account/card/add/", money.add_card, name="money-card-add"),
    path("account/card/done/", money.card_done, name="money-card-done"),
    path("account/wallet/", money.wallet_page, name="money-wallet"),
    path("account/subscription/", money.subscription, name="money-subscription"),
    path(
        "account/subscription/<str:action>/",
        money.subscription_action,
        name="money-subscription-action",
    ),
    path("account/api-token/", money.api_token, name="money-api-token"),
    path("account/statistics/", money.statistics_page, name="money-statistics"),
    # Which emails the driver wants, and their watches (notifications/views.py).
    path(
        "account/notifications/",
        notification_views.notification_settings,
        name="notifications",
    ),
    path("account/notifications/read/", notification_views.mark_read, name="notifications-read"),
    path("account/notifications/unread/", notification_views.unread, name="notifications-unread"),
    # One-click unsubscribe from an email (RFC 8058), no login (notifications/unsubscribe.py).
    path(
        "account/notifications/unsubscribe/<str:token>/",
        notification_views.unsubscribe_page,
        name="unsubscribe",
    ),
    path(
        "account/notifications/watches/<int:watch_id>/stop/",
        notification_views.stop_waiting,
        name="notifications-stop-waiting",
    ),
    # Web Push on the driver's devices (notifications/webpush.py).
    path("account/notifications/push/", push_views.subscribe, name="push-subscribe"),
    path("account/notifications/push/remove/", push_views.unsubscribe, name="push-unsubscribe"),
    # Driver support: report a problem, the cases and their answers (portal/support_views.py).
    path("account/support/", support_views.my_cases, name="support"),
    path("account/support/new/", support_views.report_problem, name="support-report"),
    path("account/support/<int:case_id>/", support_views.case_detail, name="support-case"),
    path("account/tokens/<int:token_id>/rename/", views.rename_token, name="token-rename"),
    path("account/tokens/<int:token_id>/block/", views.block_token, name="token-block"),
    path("account/tokens/<int:token_id>/unblock/", views.unblock_token, name="token-unblock"),
]
