"""Device credentials: tokens (CIK) and passwords, kept only as hashes."""

import hashlib
import re
import secrets
import threading
from collections import OrderedDict

from django.contrib.auth.hashers import PBKDF2PasswordHasher, check_password, make_password

TOKEN_LENGTH = 40
PASSWORD_MIN_BYTES = 20
_TOKEN = re.compile(r"^[0-9a-fA-F]{40}$")


def token_new() -> str:
    return secrets.token_hex(TOKEN_LENGTH // 2)


def token_is_well_formed(token: str) -> bool:
    return bool(_TOKEN.match(token))


def token_hash(token: str) -> str:
    # Tokens are 160 random bits, so a fast hash is safe and lets us index the lookup.
    return hashlib.sha256(token.lower().encode()).hexdigest()


class DevicePasswordHasher(PBKDF2PasswordHasher):
    """PBKDF2 with fewer rounds than user passwords: device passwords are at least 20 bytes,
    and devices authenticate far more often than people log in. Verification uses the
    standard Django hasher, which reads the rounds from the stored hash."""

    iterations = 60_000


_hasher = DevicePasswordHasher()
_verified_lock = threading.Lock()
_verified: OrderedDict[bytes, bool] = OrderedDict()
_VERIFIED_MAX = 20_000


def password_hash(password: str) -> str:
    return make_password(password, hasher=_hasher)


_dummy_hash: str | None = None


def password_check_dummy(password: str) -> None:
    """Spend what checking a password costs, for an identity that has none to check: a wrong
    guess must take as long for an unknown identity as for a real one, or the time of the
    answer tells which identities exist (Django's ModelBackend does the same for people)."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = password_hash(secrets.token_urlsafe(24))
    check_password(password, _dummy_hash)


def password_matches(*, device_id: int, password: str, stored_hash: str) -> bool:
    """Check a device password; a success is remembered (by digest only) so repeated requests
    from the same device do not pay the key-derivation cost every time. A device without a
    password costs a check all the same (``password_check_dummy``)."""
    if not stored_hash:
        password_check_dummy(password)
        return False
    digest = hashlib.sha256(f"{device_id}\0{stored_hash}\0{password}".encode()).digest()
    with _verified_lock:
        if digest in _verified:
            _verified.move_to_end(digest)
            return True
    if not check_password(password, stored_hash):
        return False
    with _verified_lock:
        _verified[digest] = True
        if len(_verified) > _VERIFIED_MAX:
            _verified.popitem(last=False)
    return True
