#!/usr/bin/env python3
"""Mints a demo token for the `partner` issuer of policies/issuers.yaml, signed RS256 with
demo/keys/partner-rsa.key by the `openssl` command (Python's standard library has no RSA; this
keeps the demo free of pip installs and independent of Tollgate's own code).

Usage: demo/token.py [SUB] [SCOPE ...]     (default: demo-user orders.read; valid for one hour)"""
import base64
import json
import pathlib
import subprocess
import sys
import time

KEY = pathlib.Path(__file__).resolve().parent / "keys" / "partner-rsa.key"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main() -> None:
    subject = sys.argv[1] if len(sys.argv) > 1 else "demo-user"
    scopes = sys.argv[2:] or ["orders.read"]
    now = int(time.time())
    header = {"alg": "RS256", "typ": "JWT"}
    claims = {"iss": "partner-idp", "aud": "orders", "sub": subject, "scope": " ".join(scopes),
              "iat": now, "exp": now + 3600}
    signing_input = b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + \
        b64url(json.dumps(claims, separators=(",", ":")).encode())
    signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(KEY)], input=signing_input.encode(),
                               capture_output=True, check=True).stdout
    print(signing_input + "." + b64url(signature))


if __name__ == "__main__":
    main()
