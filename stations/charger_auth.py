"""Charger passwords (OCPP security profile 1/2: HTTP Basic auth on the upgrade).

Chargers reconnect in storms after a network or power cut, and each connection checks
its password. Django's user hasher spends ~hundreds of milliseconds per check on purpose,
which would make 5,000 reconnecting chargers queue for minutes. Charger passwords are
machine secrets of at least 16 characters (OCPP 1.6 security whitepaper,
AuthorizationKey), not human passwords, so far fewer PBKDF2 rounds keep them safe.
"""

import hashlib
import hmac
import secrets
from typing import Any

from django.contrib.auth.hashers import PBKDF2PasswordHasher, check_password

MIN_PASSWORD_LENGTH = 16
# OCPP 1.6 security whitepaper ed. 3, use case A01: the configuration key holding the
# charger's password, set by ChangeConfiguration (stations.operations.change_configuration).
AUTHORIZATION_KEY = "AuthorizationKey"
HIDDEN = "(hidden)"
# At most this many verified passwords are remembered per process (~250 bytes each);
# past it the memory starts again empty.
VERIFIED_MOST = 100_000


class ChargerPasswordHasher(PBKDF2PasswordHasher):
    algorithm = "pbkdf2_sha256_charger"
    iterations = 5_000


CHARGER_HASHER = ChargerPasswordHasher.algorithm


def is_authorization_key(key: object) -> bool:
    """Whether a configuration key is AuthorizationKey (keys are CiString50: any case)."""
    return isinstance(key, str) and key.casefold() == AUTHORIZATION_KEY.casefold()


def new_authorization_key(action: str, payload: dict[str, Any]) -> str | None:
    """The new password a command gives the charger (ChangeConfiguration of
    AuthorizationKey, camelCase payload), else None."""
    if action == "ChangeConfiguration" and is_authorization_key(payload.get("key")):
        value = payload.get("value")
        return value if isinstance(value, str) else None
    return None


def on_record(action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as the message log and the command record keep it: a new
    AuthorizationKey shows as "(hidden)" (whitepaper A01.FR.09: no password in clear in
    logs); any other payload is returned as it is."""
    if new_authorization_key(action, payload) is not None:
        return {**payload, "value": HIDDEN}
    return payload


def generate_password() -> str:
    """A new random AuthorizationKey: 24 URL-safe characters (144 bits)."""
    return secrets.token_urlsafe(18)


class VerifiedPasswords:
    """Which password each stored hash was last verified with, in this process only.

    Even 5,000 PBKDF2 rounds are 2-9 ms of CPU per connection: a storm of 5,000
    chargers spends tens of seconds of CPU on them alone, and the same chargers come
    back after every network cut. A password that passed PBKDF2 against a stored hash
    is remembered as an HMAC-SHA256 under a random key of this process (never stored or
    sent), keyed by that hash: the same charger with the same password is then checked
    in microseconds, a wrong one is refused as cheaply (the hash has one password), and
    a new password (a new hash, new salt) is checked by PBKDF2 again. The database keeps
    only the PBKDF2 hashes, so a stolen database is no easier to crack; whoever can read
    this process's memory sees the passwords in the Basic auth headers anyway.
    """

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._digests: dict[str, bytes] = {}

    def _digest(self, raw_password: str) -> bytes:
        return hmac.new(self._key, raw_password.encode(), hashlib.sha256).digest()

    def check(self, raw_password: str, password_hash: str) -> bool:
        """Whether raw_password is the one password_hash was made from."""
        remembered = self._digests.get(password_hash)
        if remembered is not None:
            return hmac.compare_digest(remembered, self._digest(raw_password))
        if not check_password(raw_password, password_hash):
            return False
        if len(self._digests) >= VERIFIED_MOST:
            self._digests.clear()
        self._digests[password_hash] = self._digest(raw_password)
        return True


verified_passwords = VerifiedPasswords()
