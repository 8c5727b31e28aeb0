"""The driver portal's pages, at the root of the site (chargehub/urls.py)."""

from django.urls import path

from portal import views

app_name = "portal"

urlpatterns = [
    path("", views.station_list, name="home"),
    path("stations/", views.station_list, name="stations"),
    path("stations/<int:site_id>/", views.station_detail, name="station"),
    path("charging/", views.my_charging, name="charging"),
    path("charging/start/", views.start_charging, name="start"),
    path("charging/<int:session_id>/", views.session_detail, name="session"),
    path("charging/<int:session_id>/figures.json", views.session_figures, name="session-figures"),
    path("charging/<int:session_id>/stop/", views.stop_charging, name="stop"),
    path("account/", views.account, name="account"),
    path("account/sessions.csv", views.sessions_csv, name="sessions-csv"),
    path("account/tokens/<int:token_id>/block/", views.block_token, name="token-block"),
    path("account/tokens/<int:token_id>/unblock/", views.unblock_token, name="token-unblock"),
]
