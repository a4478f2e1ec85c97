#!/usr/bin/env python3
"""Key fixtures for Tollgate's tests, made with pyca/cryptography (not by Tollgate's own code).

The generated files are committed; tests never regenerate them. Run again only to add a fixture:
    python3 Tests/Fixtures/generate_keys.py
"""
import base64
import json
import pathlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

OUT = pathlib.Path(__file__).resolve().parent / "keys"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_pem(key) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def private_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def int_b64(n: int) -> str:
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rsa2048 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa1024 = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    p256 = ec.generate_private_key(ec.SECP256R1())
    p384 = ec.generate_private_key(ec.SECP384R1())
    ed = ed25519.Ed25519PrivateKey.generate()

    files = {
        "rsa2048.pem": public_pem(rsa2048),
        "rsa1024.pem": public_pem(rsa1024),
        "p256.pem": public_pem(p256),
        "p384.pem": public_pem(p384),
        "ed25519.pem": public_pem(ed),
        "p256-private.pem": private_pem(p256),
        "not-a-key.pem": b"-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n",
    }
    numbers = rsa2048.public_key().public_numbers()
    p256_numbers = p256.public_key().public_numbers()
    jwks = {"keys": [
        {"kty": "RSA", "kid": "rsa-1", "n": int_b64(numbers.n), "e": int_b64(numbers.e)},
        {"kty": "EC", "kid": "ec-1", "crv": "P-256",
         "x": b64url(p256_numbers.x.to_bytes(32, "big")), "y": b64url(p256_numbers.y.to_bytes(32, "big"))},
        {"kty": "OKP", "kid": "ed-1", "crv": "Ed25519",
         "x": b64url(ed.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))},
    ]}
    files["jwks.json"] = (json.dumps(jwks, indent=2) + "\n").encode()
    private_jwk = dict(jwks["keys"][1], d=b64url(p256.private_numbers().private_value.to_bytes(32, "big")))
    files["jwks-private.json"] = (json.dumps({"keys": [private_jwk]}, indent=2) + "\n").encode()

    for name, data in files.items():
        (OUT / name).write_bytes(data)
        print(f"wrote {OUT / name}")


if __name__ == "__main__":
    main()
