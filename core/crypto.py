"""Encryption of secrets kept at rest (for example a connector CA's private key)."""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


def _fernet() -> MultiFernet:
    # SECRETS_ENCRYPTION_KEYS (comma-separated, newest first) allows key rotation; without it
    # the key is derived from SECRET_KEY.
    raw_keys = getattr(settings, "SECRETS_ENCRYPTION_KEYS", None) or [settings.SECRET_KEY]
    keys = [Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest())) for key in raw_keys]
    return MultiFernet(keys)


def encrypt_secret(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt_secret(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError("secret cannot be decrypted with the configured keys") from None
