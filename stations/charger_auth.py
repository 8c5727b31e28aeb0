"""Charger passwords (OCPP security profile 1/2: HTTP Basic auth on the upgrade).

Chargers reconnect in storms after a network or power cut, and each connection checks
its password. Django's user hasher spends ~hundreds of milliseconds per check on purpose,
which would make 5,000 reconnecting chargers queue for minutes. Charger passwords are
machine secrets of at least 16 characters (OCPP 1.6 security whitepaper,
AuthorizationKey), not human passwords, so far fewer PBKDF2 rounds keep them safe.
"""

import secrets

from django.contrib.auth.hashers import PBKDF2PasswordHasher

MIN_PASSWORD_LENGTH = 16


class ChargerPasswordHasher(PBKDF2PasswordHasher):
    algorithm = "pbkdf2_sha256_charger"
    iterations = 5_000


CHARGER_HASHER = ChargerPasswordHasher.algorithm


def generate_password() -> str:
    """A new random AuthorizationKey: 24 URL-safe characters (144 bits)."""
    return secrets.token_urlsafe(18)
