#!/usr/bin/env python3
"""Third-party verification of Warden's back-channel logout tokens with PyPI `oic`
(pyoidc): `BackChannelLogoutRequest.verify`, which checks the signature against the JWKS,
the issuer, the audience, `iat`, the `events` claim (exactly one member, value `{}`),
`sub`/`sid`, and the absence of `nonce` (Back-Channel Logout 1.0 §2.4, §2.6).

Usage: verify_logout_token.py --jwks-uri URL --issuer ISS --aud CLIENT_ID < tokens
One logout token per input line; one JSON result per line on stdout:
{"ok": true, "claims": {...}, "header": {...}} or {"ok": false, "error": "..."}.
Exit status 0 when the script itself ran; the caller inspects each result.
"""

import argparse
import base64
import json
import sys
import urllib.request

from oic.oic.message import BackChannelLogoutRequest
from oic.utils.keyio import KeyBundle, KeyJar


def header_of(token):
    h = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(h + "=" * (-len(h) % 4)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jwks-uri", required=True)
    ap.add_argument("--issuer", required=True)
    ap.add_argument("--aud", required=True)
    a = ap.parse_args()

    with urllib.request.urlopen(a.jwks_uri, timeout=10) as r:
        jwks = json.load(r)
    keyjar = KeyJar()
    keyjar.add_kb(a.issuer, KeyBundle(keys=jwks["keys"]))
    # Also under "" (the verifier looks keys up for the sender and the default owner).
    keyjar.add_kb("", KeyBundle(keys=jwks["keys"]))

    for line in sys.stdin:
        token = line.strip()
        if not token:
            continue
        try:
            req = BackChannelLogoutRequest(logout_token=token)
            req.verify(
                keyjar=keyjar,
                sender=a.issuer,
                iss=a.issuer,
                aud=a.aud,
                algs={"sign": "RS256"},
            )
            claims = req["logout_token"].to_dict()
            print(json.dumps({"ok": True, "claims": claims, "header": header_of(token)}))
        except Exception as e:  # noqa: BLE001 - every failure is a verification failure
            print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"}))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
