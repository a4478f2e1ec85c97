#!/usr/bin/env python3
"""JWKS rotation fixtures for Tollgate's tests, made with joserfc and pyca/cryptography (not by
Tollgate's own code). A test JWKS server serves `jwks-a.json`, then `jwks-ab.json` (key `a` plus the
new key `b`, and an RSA key `r`); the tokens are signed by each key.

Fixtures are committed; tests never regenerate them.
Run `python3 Tests/Fixtures/generate_jwks_rotation.py` to regenerate (needs `pip install cryptography joserfc`).

Output, in Tests/Fixtures/jwt/rotation/:
    jwks-a.json    {"keys": [a]}        EC P-256, kid "a"
    jwks-ab.json   {"keys": [a, b, r]}  plus EC P-256 kid "b" and RSA-2048 kid "r"
    tokens.json    {"a": ..., "a2": ..., "b": ..., "r": ..., "unknown": ...}: iss https://jwks.test,
                   aud rotation, exp 2100-01-01; "unknown" is signed by a key in no JWKS (kid "z").
"""
import json
import pathlib

from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

OUT = pathlib.Path(__file__).resolve().parent / "jwt" / "rotation"
CLAIMS = {"iss": "https://jwks.test", "aud": "rotation", "iat": 1700000000, "exp": 4102444800}


def public(key) -> dict:
    return key.as_dict(private=False)


def token(key, alg: str, sub: str) -> str:
    return jwt.encode({"alg": alg, "kid": key.kid}, {**CLAIMS, "sub": sub}, key)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    a = ECKey.generate_key("P-256", parameters={"kid": "a"})
    b = ECKey.generate_key("P-256", parameters={"kid": "b"})
    r = RSAKey.generate_key(2048, parameters={"kid": "r"})
    z = ECKey.generate_key("P-256", parameters={"kid": "z"})
    (OUT / "jwks-a.json").write_text(json.dumps({"keys": [public(a)]}, indent=2) + "\n")
    (OUT / "jwks-ab.json").write_text(json.dumps({"keys": [public(a), public(b), public(r)]}, indent=2) + "\n")
    tokens = {
        "a": token(a, "ES256", "user-a"),
        "a2": token(a, "ES256", "user-a2"),
        "a3": token(a, "ES256", "user-a3"),
        "b": token(b, "ES256", "user-b"),
        "r": token(r, "RS256", "user-r"),
        "unknown": token(z, "ES256", "user-z"),
    }
    (OUT / "tokens.json").write_text(json.dumps(tokens, indent=2) + "\n")
    # Self-check with joserfc: each token verifies with the set that holds its key.
    full = KeySet.import_key_set(json.loads((OUT / "jwks-ab.json").read_text()))
    for name in ["a", "a2", "a3", "b", "r"]:
        jwt.decode(tokens[name], full, algorithms=["ES256", "RS256"])
    for path in sorted(OUT.iterdir()):
        print("wrote", path.relative_to(OUT.parent.parent.parent.parent))


if __name__ == "__main__":
    main()
