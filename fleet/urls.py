from django.urls import path

from fleet import views

app_name = "fleet"

urlpatterns = [
    path("firmware/<str:token>/<str:name>", views.firmware, name="firmware"),
    # Chargers append a file name to the location they were given, or not (OCPP 1.6
    # §5.9 leaves it to them).
    path("upload/<str:token>/", views.upload, name="upload"),
    path("upload/<str:token>/<path:name>", views.upload, name="upload-named"),
]
