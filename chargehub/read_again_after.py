"""A rarely changing answer a process reads from the database and trusts for a while."""

import time
from collections.abc import Callable

from django.conf import settings


class ReadAgainAfter[T]:
    """`read()`'s answer, kept by this process until `ttl_setting` (a setting's name:
    seconds) has passed or forget() is called. For questions asked in a charger's request
    whose answer rarely changes: a change made in this process calls forget() (at once
    and after commit), one made in another process is heard within the setting."""

    def __init__(self, read: Callable[[], T], ttl_setting: str) -> None:
        self.read = read
        self.ttl_setting = ttl_setting
        self.kept: tuple[float, T] | None = None  # (time.monotonic() of the read, answer)

    def get(self) -> T:
        now = time.monotonic()
        kept = self.kept
        if kept is not None and now - kept[0] < getattr(settings, self.ttl_setting):
            return kept[1]
        answer = self.read()
        self.kept = (now, answer)
        return answer

    def forget(self) -> None:
        self.kept = None
