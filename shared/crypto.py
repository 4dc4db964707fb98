"""Personal data at rest: AES-GCM field encryption with key rotation, and a keyed hash
(a "blind index") so an encrypted ID number or phone can still be looked up and de-duplicated.

Ciphertexts name their key (`v1:<key id>:<base64 nonce+ciphertext>`): rotating means adding a
new key, making it current, and re-encrypting at leisure; old rows stay readable meanwhile.
"""

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr
from sqlalchemy import Dialect, Text
from sqlalchemy.types import TypeDecorator

from shared.settings import CommonSettings

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
        """A ciphertext under the current key, naming that key."""
        nonce = os.urandom(12)
        sealed = AESGCM(self.keys[self.current]).encrypt(nonce, plaintext.encode(), None)
        return f"{PREFIX}:{self.current}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str) -> str:
        """The plaintext of a ciphertext made under any configured key."""
        prefix, key_id, payload = token.split(":", 2)
        if prefix != PREFIX or key_id not in self.keys:
            raise ValueError("unknown ciphertext format or key id")
        raw = base64.b64decode(payload)
        return AESGCM(self.keys[key_id]).decrypt(raw[:12], raw[12:], None).decode()

    def blind_index(self, value: str) -> str:
        """A keyed hash for equality look-ups; normalise `value` before calling."""
        return hmac.new(self.index_key, value.encode(), hashlib.sha256).hexdigest()


class PiiKeysMissing(RuntimeError):
    """The process holds encrypted columns but was given no keys to read or write them."""


def cipher_from_settings(common: CommonSettings) -> FieldCipher:
    """The cipher the settings describe; PiiKeysMissing (naming the variables) if they do not."""
    if not (common.pii_keys and common.pii_current_key and common.pii_index_key):
        raise PiiKeysMissing(
            "personal data keys are not configured: set LIANJIE_PII_KEYS, "
            "LIANJIE_PII_CURRENT_KEY and LIANJIE_PII_INDEX_KEY (`lianjie up` generates them "
            "into <var_dir>/keys/pii.env; see docs/personal-data.md)"
        )
    return FieldCipher.from_settings(
        keys=common.pii_keys.get_secret_value(),
        current=common.pii_current_key,
        index_key=common.pii_index_key.get_secret_value(),
    )


# One cipher per process. A column type has no way to reach the app or the session it is
# used in, and the keys are process-wide settings anyway (environment variables), so a
# module-level cipher is the honest shape: the app factory configures it once, at start-up,
# and refuses to start without keys; tools (the CLI, tests) fall back to the environment.
_cipher: FieldCipher | None = None


def configure(cipher: FieldCipher | None) -> None:
    """Make `cipher` the one the encrypted columns of this process use (None: forget it)."""
    global _cipher
    _cipher = cipher


def field_cipher() -> FieldCipher:
    """The configured cipher, or one built from the environment on first use."""
    if _cipher is None:
        configure(cipher_from_settings(CommonSettings()))
    assert _cipher is not None
    return _cipher


def normalise_phone(phone: str) -> str:
    """The phone as its blind index sees it: spaces and dashes taken out."""
    return re.sub(r"[\s-]", "", phone)


def index_of(value: str | None) -> str | None:
    """The blind index of a normalised value (None stays None)."""
    return None if value is None else field_cipher().blind_index(value)


def normalise_text(text: str) -> str:
    """A name or address as its blind index sees it: whitespace (also full-width) taken out."""
    return re.sub(r"\s+", "", text.replace("\u3000", " "))


def name_index(text: str | None) -> str | None:
    """The blind index of a name or an address, however it was spaced: exact look-ups only."""
    return None if text is None else index_of(normalise_text(text))


def phone_index(phone: str | None) -> str | None:
    """The blind index of a phone number, however it was written."""
    return None if phone is None else index_of(normalise_phone(phone))


class EncryptedText(TypeDecorator[str]):
    """A text column stored as an AES-GCM ciphertext that names its key (`v1:<kid>:…`).

    SQL can compare nothing but NULL on it: look values up through their blind index.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else field_cipher().encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else field_cipher().decrypt(value)


PII_VARIABLES = ("LIANJIE_PII_KEYS", "LIANJIE_PII_CURRENT_KEY", "LIANJIE_PII_INDEX_KEY")


def pii_key_file(var_dir: Path) -> Path:
    """Where `lianjie up` keeps the personal-data keys it generated."""
    return var_dir / "keys" / "pii.env"


def configure_for_tool(common: CommonSettings) -> FieldCipher:
    """Configure the cipher of a command-line tool: the settings' keys, or else those
    `lianjie up` generated under the var dir."""
    key_file = pii_key_file(common.var_dir)
    if not common.pii_keys and key_file.exists():
        found = ensure_key_file(key_file)
        common = common.model_copy(
            update={
                "pii_keys": SecretStr(found.get("LIANJIE_PII_KEYS", "")),
                "pii_current_key": found.get("LIANJIE_PII_CURRENT_KEY"),
                "pii_index_key": SecretStr(found.get("LIANJIE_PII_INDEX_KEY", "")),
            }
        )
    cipher = cipher_from_settings(common)
    configure(cipher)
    return cipher


def ensure_key_file(path: Path) -> dict[str, str]:
    """The `LIANJIE_PII_*` variables kept in `path` (an env file, mode 0600), made once.

    Losing this file loses every encrypted field: production keeps its keys in a secret store
    and sets the variables itself (docs/personal-data.md).
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [
            f"LIANJIE_PII_KEYS=k1:{new_key()}",
            "LIANJIE_PII_CURRENT_KEY=k1",
            f"LIANJIE_PII_INDEX_KEY={new_key()}",
        ]
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")
    variables = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name.startswith("LIANJIE_PII_"):
            variables[name] = value
    return variables
