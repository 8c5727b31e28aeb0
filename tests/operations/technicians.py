"""Technicians for the tickets tests: staff in the technician role, covering a site."""

from itertools import count

from django.contrib.auth.models import Group

from operations.models import SiteTechnician
from stations.models import Site
from users.models import User
from users.roles import TECHNICIAN

_numbers = count(1)


def make_technician(site: Site | None = None, *, digest: bool = False, **fields) -> User:
    """Active staff in the technician role (English unless told), covering `site` if given."""
    fields = {"is_staff": True, "language": "en", **fields}
    user = User.objects.create_user(f"tech{next(_numbers)}@example.com", "pw", **fields)
    user.groups.add(Group.objects.get_or_create(name=TECHNICIAN.name)[0])
    if site is not None:
        SiteTechnician.objects.create(site=site, user=user, digest=digest)
    return user
