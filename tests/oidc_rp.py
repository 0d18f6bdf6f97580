#!/usr/bin/env python3
"""A third-party OpenID Connect relying party against Warden: PyPI `oic` (pyoidc) as a
server-side web app with a client secret, driving a plain HTTP user agent (`requests`)
through Warden's login page. pyoidc does the protocol and its own checks: discovery (the
issuer must equal the URL it came from), the authorization response and `state`, the code
exchange with PKCE and `client_secret_basic`, the ID token (signature against the JWKS,
`iss`, `aud`, `exp`, `iat`, `nonce`, `at_hash`), userinfo (`sub` must match), a refresh,
and an RP-initiated logout request built by pyoidc.

Usage: oidc_rp.py  (env: ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, POST_LOGOUT,
USERNAME, PASSWORD). Prints one JSON object with what it saw; exits non-zero on failure.
"""

import json
import os
import re
import sys
from html import unescape
from urllib.parse import urljoin, urlparse

import requests
from oic import rndstr
from oic.oic import Client
from oic.oic.message import (
    AccessTokenResponse,
    AuthorizationResponse,
    OpenIDSchema,
    RegistrationResponse,
)
from oic.utils.authn.client import CLIENT_AUTHN_METHOD


def env(name):
    v = os.environ.get(name)
    if not v:
        sys.exit(f"missing env {name}")
    return v


def fail(msg):
    print(json.dumps({"ok": False, "error": msg}))
    sys.exit(1)


def hidden_inputs(html):
    out = {}
    for tag in re.findall(r"<input[^>]*>", html):
        if 'type="hidden"' not in tag:
            continue
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name:
            out[unescape(name.group(1))] = unescape(value.group(1)) if value else ""
    return out


def follow(ua, r, stop, where):
    """Follow redirects with the user agent until one points at `stop` (returned
    unfollowed) or an answer is not a redirect; more than five hops fail."""
    for _ in range(6):
        if r.status_code not in (302, 303) or r.headers["location"].startswith(stop):
            return r
        r = ua.get(urljoin(r.url, r.headers["location"]), allow_redirects=False)
    fail(f"too many redirects {where}")


def main():
    issuer = env("ISSUER")
    redirect = env("REDIRECT_URI")
    client = Client(client_authn_method=CLIENT_AUTHN_METHOD, verify_ssl=False)
    client.provider_config(issuer)
    client.store_registration_info(
        RegistrationResponse(
            client_id=env("CLIENT_ID"),
            client_secret=env("CLIENT_SECRET"),
            redirect_uris=[redirect],
            post_logout_redirect_uris=[env("POST_LOGOUT")],
            token_endpoint_auth_method="client_secret_basic",
        )
    )
    client.redirect_uris = [redirect]

    state, nonce = rndstr(32), rndstr(32)
    pkce, verifier = client.add_code_challenge()
    args = {
        "client_id": client.client_id,
        "response_type": "code",
        "scope": ["openid", "profile", "email", "offline_access"],
        "nonce": nonce,
        "redirect_uri": redirect,
        "state": state,
    }
    args.update(pkce)
    url = client.construct_AuthorizationRequest(request_args=args).request(
        client.authorization_endpoint
    )

    # The user agent: authorize → login page → POST credentials → authorize → redirect_uri.
    ua = requests.Session()
    r = follow(ua, ua.get(url, allow_redirects=False), redirect, "before the login page")
    if r.status_code != 200 or 'name="password"' not in r.text:
        fail(f"expected the login page, got {r.status_code}")
    form = hidden_inputs(r.text)
    form.update({"username": env("USERNAME"), "password": env("PASSWORD")})
    action = re.search(r'<form[^>]*action="([^"]*)"', r.text)
    post_to = urljoin(r.url, unescape(action.group(1)) if action else r.url)
    r = follow(ua, ua.post(post_to, data=form, allow_redirects=False), redirect, "after login")
    if r.status_code not in (302, 303):
        fail(f"expected a redirect to the client, got {r.status_code}: {r.text[:200]}")
    query = urlparse(r.headers["location"]).query

    aresp = client.parse_response(AuthorizationResponse, info=query, sformat="urlencoded")
    if aresp["state"] != state:
        fail("state mismatch")
    if "session_state" not in aresp:
        fail("no session_state in the authorization response")

    tresp = client.do_access_token_request(
        state=state,
        request_args={"code": aresp["code"], "code_verifier": verifier, "redirect_uri": redirect},
        authn_method="client_secret_basic",
    )
    if not isinstance(tresp, AccessTokenResponse) or "id_token" not in tresp:
        fail(f"token response: {tresp.to_dict() if hasattr(tresp, 'to_dict') else tresp}")
    idt = tresp["id_token"]  # verified by pyoidc (signature, iss, aud, exp, iat, at_hash)
    if idt["nonce"] != nonce:
        fail("nonce mismatch")

    info = client.do_user_info_request(state=state)
    if not isinstance(info, OpenIDSchema) or info["sub"] != idt["sub"]:
        fail(f"userinfo: {info}")

    refreshed = client.do_access_token_refresh(state=state, authn_method="client_secret_basic")
    if not isinstance(refreshed, AccessTokenResponse) or "access_token" not in refreshed:
        fail(f"refresh: {refreshed}")
    if "id_token" in refreshed and refreshed["id_token"]["sub"] != idt["sub"]:
        fail("refreshed ID token for another subject")

    # RP-initiated logout as pyoidc builds it (id_token_hint, post_logout_redirect_uri,
    # state); the user agent follows it with its session cookie.
    end_state = rndstr(16)
    logout = client.construct_EndSessionRequest(
        state=state,
        request_args={
            "post_logout_redirect_uri": env("POST_LOGOUT"),
            "state": end_state,
            "id_token_hint": tresp["id_token"].jwt,
        },
    ).request(client.end_session_endpoint)
    r = ua.get(logout, allow_redirects=False)
    if r.status_code not in (302, 303) or not r.headers["location"].startswith(env("POST_LOGOUT")):
        fail(f"end_session: {r.status_code} {r.headers.get('location')}")
    back = dict(p.split("=", 1) for p in urlparse(r.headers["location"]).query.split("&") if "=" in p)
    if back.get("state") != end_state:
        fail(f"end_session state: {back}")

    print(
        json.dumps(
            {
                "ok": True,
                "sub": idt["sub"],
                "sid": idt.get("sid"),
                "preferred_username": info.get("preferred_username"),
                "email": info.get("email"),
                "scope": tresp.get("scope"),
                "refreshed": True,
            }
        )
    )


if __name__ == "__main__":
    main()
