#!/usr/bin/env python3
"""AES-256-GCM and scrypt vectors for Tollgate's Core crypto tests, made with pyca/cryptography and
Python's hashlib (not by Tollgate's own code).

Fixtures are committed; tests never regenerate them.
Run `python3 Tests/Fixtures/generate_crypto_vectors.py` to regenerate (needs `pip install cryptography`).
Output: Tests/Fixtures/crypto-vectors.json
"""
import hashlib
import json
import os
import pathlib

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

OUT = pathlib.Path(__file__).resolve().parent / "crypto-vectors.json"


def main() -> None:
    aes = []
    for plaintext, aad in [(b"", b""), (b"alice@example.com", b""), (b"x" * 1000, b"users.email"),
                           ("Zoë Ünïcode ✓".encode(), b"users.display_name")]:
        key, nonce = os.urandom(32), os.urandom(12)
        sealed = AESGCM(key).encrypt(nonce, plaintext, aad)
        aes.append({"key": key.hex(), "nonce": nonce.hex(), "aad": aad.hex(), "plaintext": plaintext.hex(),
                    "ciphertext": sealed[:-16].hex(), "tag": sealed[-16:].hex()})
    scrypt = []
    for password, ln, r, p in [(b"correct horse battery staple", 10, 8, 1), (b"", 4, 1, 1),
                               ("pässwörd".encode(), 12, 8, 2), (b"owasp-default", 17, 8, 1)]:
        salt = os.urandom(16)
        derived = hashlib.scrypt(password, salt=salt, n=1 << ln, r=r, p=p, dklen=32, maxmem=512 * 1024 * 1024)
        scrypt.append({"password": password.hex(), "salt": salt.hex(), "ln": ln, "r": r, "p": p, "derived": derived.hex()})
    OUT.write_text(json.dumps({"aes256gcm": aes, "scrypt": scrypt}, indent=2) + "\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
