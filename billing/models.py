from django.db import models  # noqa: F401

# Models arrive with their issues (billing: #3; notifications: later).
