#!/usr/bin/env python3
"""Verify a tollgate-control access token with an independent JOSE library (joserfc).

usage: verify_jwt.py JWKS_FILE TOKEN ISSUER
Prints the header and claims as JSON ({"header": ..., "claims": ...}) and exits 0 when the
signature verifies against the JWKS and iss/exp/nbf/iat hold; prints the reason and exits 1
otherwise. ControlTests runs it so our signer is checked by code we did not write.
"""
import json
import sys

from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry


def main() -> int:
    jwks_path, token, issuer = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(jwks_path) as handle:
        key_set = KeySet.import_key_set(json.load(handle))
    try:
        decoded = jwt.decode(token, key_set, algorithms=["ES256", "RS256"])
        registry = JWTClaimsRegistry(
            iss={"essential": True, "value": issuer},
            exp={"essential": True},
            sub={"essential": True},
            jti={"essential": True},
        )
        registry.validate(decoded.claims)
    except Exception as error:  # noqa: BLE001 - report any failure as a refusal
        print(f"refused: {type(error).__name__}: {error}")
        return 1
    print(json.dumps({"header": decoded.header, "claims": decoded.claims}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
