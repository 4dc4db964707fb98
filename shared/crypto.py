"""Personal data at rest: AES-GCM field encryption with key rotation, and a keyed hash
(a "blind index") so an encrypted ID number or phone can still be looked up and de-duplicated.

Ciphertexts name their key (`v1:<key id>:<base64 nonce+ciphertext>`): rotating means adding a
new key, making it current, and re-encrypting at leisure; old rows stay readable meanwhile.
"""

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "v1"


def new_key() -> str:
    """A fresh 256-bit key, base64 encoded, for settings."""
    return base64.b64encode(os.urandom(32)).decode()


@dataclass(frozen=True)
class FieldCipher:
    """Encrypts and decrypts text fields; `keys` maps key ids to 32-byte keys."""

    keys: dict[str, bytes]
    current: str
    index_key: bytes

    @classmethod
    def from_settings(cls, *, keys: str, current: str, index_key: str) -> "FieldCipher":
        """Parse `id:base64,id:base64` key lists as settings hold them."""
        parsed = {}
        for item in filter(None, (part.strip() for part in keys.split(","))):
            key_id, _, encoded = item.partition(":")
            parsed[key_id] = base64.b64decode(encoded)
        if current not in parsed:
            raise ValueError("the current PII key id is not among the configured keys")
        if any(len(k) != 32 for k in parsed.values()):
            raise ValueError("every PII key must be 32 bytes (base64 of 32 random bytes)")
        return cls(parsed, current, base64.b64decode(index_key))

    def encrypt(self, plaintext: str) -> str:
        nonce = os.urandom(12)
        sealed = AESGCM(self.keys[self.current]).encrypt(nonce, plaintext.encode(), None)
        return f"{PREFIX}:{self.current}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str) -> str:
        prefix, key_id, payload = token.split(":", 2)
        if prefix != PREFIX or key_id not in self.keys:
            raise ValueError("unknown ciphertext format or key id")
        raw = base64.b64decode(payload)
        return AESGCM(self.keys[key_id]).decrypt(raw[:12], raw[12:], None).decode()

    def blind_index(self, value: str) -> str:
        """A keyed hash for equality look-ups; normalise `value` before calling."""
        return hmac.new(self.index_key, value.encode(), hashlib.sha256).hexdigest()
