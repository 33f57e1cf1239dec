"""Secret (`secure:`) values of stack files, read as the Pulumi CLI reads them, never printed.

With the passphrase secrets provider (the stack file's `encryptionsalt`, no `secretsprovider` or
`secretsprovider: passphrase`) and the passphrase in PULUMI_CONFIG_PASSPHRASE or
PULUMI_CONFIG_PASSPHRASE_FILE, a value is decrypted as the CLI decrypts it (pulumi sdk v3.274
go/common/resource/config/crypt.go, NewSymmetricCrypterFromPassphrase: PBKDF2-SHA256 with
1,000,000 iterations, AES-256-GCM, `v1:<nonce>:<ciphertext>` in base64; the salt's check value
decrypts to "pulumi", pkg/secrets/passphrase/manager.go). Without them (another secrets provider,
no passphrase), the value is an opaque placeholder: the key's declared default when it has one, so
that type checks pass, and the tools mask it wherever they print.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# What stands in for a value that cannot be opened where its key has no default: text that the
# checks of names, labels and images accept, and that the tools mask (it is 16+ characters).
PLACEHOLDER = "secret-not-decrypted"
_ITERATIONS = 1_000_000  # crypt.go, NewSymmetricCrypterFromPassphrase
_KEY_BYTES = 32


class SecretText(str):
    """A configuration value that came from a `secure:` value; `known` says whether it is the
    decrypted text (True) or a placeholder standing in for it (False)."""

    known: bool = True

    def __new__(cls, text: str, *, known: bool) -> SecretText:
        value = super().__new__(cls, text)
        value.known = known
        return value

    def __repr__(self) -> str:  # never the text itself, not even in a traceback
        return "SecretText([secret])"


class SecretsError(ValueError):
    """A passphrase was given but does not open this stack's secrets."""


def is_secure(value: Any) -> bool:
    """A stack file's encrypted value: exactly `{secure: <ciphertext>}`."""
    return isinstance(value, Mapping) and set(value) == {"secure"}


def _passphrase() -> str | None:
    if "PULUMI_CONFIG_PASSPHRASE" in os.environ:
        return os.environ["PULUMI_CONFIG_PASSPHRASE"]
    path = os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    if path:
        try:
            return Path(path).expanduser().read_text(encoding="utf-8")
        except OSError as err:
            raise SecretsError(
                f"PULUMI_CONFIG_PASSPHRASE_FILE {path}: cannot be read ({err.strerror})"
            ) from None
    return None


@functools.cache
def _key(phrase: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", phrase.encode(), salt, _ITERATIONS, _KEY_BYTES)


def _open(key: bytes, ciphertext: str) -> str:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    version, _, rest = ciphertext.partition(":")
    nonce_text, _, sealed_text = rest.partition(":")
    if version != "v1" or not sealed_text:
        raise SecretsError("a secure value is not of the form v1:<nonce>:<ciphertext>")
    try:
        return (
            AESGCM(key)
            .decrypt(base64.b64decode(nonce_text), base64.b64decode(sealed_text), None)
            .decode()
        )
    except (InvalidTag, ValueError):
        raise SecretsError("a secure value does not decrypt with this passphrase") from None


class Decrypter:
    """Opens a stack file's secure values, or stands in for them when it cannot."""

    def __init__(self, document: Mapping[str, Any], stack_file: str) -> None:
        self.stack_file = stack_file
        self.key: bytes | None = None
        provider = document.get("secretsprovider") or "passphrase"
        salt_state = document.get("encryptionsalt")
        if provider != "passphrase" or not isinstance(salt_state, str):
            return  # a cloud KMS or the Pulumi service holds the key: not reachable offline
        phrase = _passphrase()
        if phrase is None:
            return
        version, _, rest = salt_state.partition(":")
        salt_text, _, check = rest.partition(":")
        if version != "v1" or not check:
            raise SecretsError(f"{stack_file}: encryptionsalt is not of the form v1:<salt>:<check>")
        key = _key(phrase, base64.b64decode(salt_text))
        try:
            opened = _open(key, check)
        except SecretsError:
            opened = None
        if opened != "pulumi":
            raise SecretsError(
                f"{stack_file}: the passphrase in PULUMI_CONFIG_PASSPHRASE(_FILE) does not open "
                "this stack's secrets (incorrect passphrase)"
            )
        self.key = key

    def reveal(self, value: Any, placeholder: str = PLACEHOLDER) -> Any:
        """`value` with every secure leaf opened, or replaced by `placeholder` (nested leaves by
        PLACEHOLDER); a secure value at the top is a SecretText."""
        if is_secure(value):
            if self.key is None:
                return SecretText(placeholder, known=False)
            return SecretText(_open(self.key, str(value["secure"])), known=True)
        if isinstance(value, Mapping):
            return {k: _plain(self.reveal(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [_plain(self.reveal(v)) for v in value]
        return value


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, SecretText) else value
