// A third-party relying party in Node: openid-client (npm, panva; on oauth4webapi, which
// checks responses strictly against the specs) runs against Warden over HTTP, with a
// plain cookie-keeping user agent going through Warden's login page. Discovery, the code
// flow with PKCE, state and nonce (client_secret_post), the ID token claims, userinfo,
// introspection (RFC 7662), refresh, revocation (RFC 7009) and an end-session URL.
// No browser: this is the server-side web app case.
// Env: ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, POST_LOGOUT, USERNAME, PASSWORD.
import * as oidc from 'openid-client';
import { need, check } from './lib.mjs';

const ISSUER = need('ISSUER');
const REDIRECT = need('REDIRECT_URI');
const BYE = need('POST_LOGOUT');

// A user agent: keeps cookies per host, never follows redirects by itself.
const jar = new Map();
async function ua(url, init = {}) {
  const u = new URL(url);
  const headers = new Headers(init.headers || {});
  const cookies = jar.get(u.host);
  if (cookies && cookies.size) headers.set('cookie', [...cookies].map(([k, v]) => `${k}=${v}`).join('; '));
  const r = await fetch(u, { ...init, headers, redirect: 'manual' });
  for (const c of r.headers.getSetCookie()) {
    const [pair] = c.split(';');
    const i = pair.indexOf('=');
    if (!jar.has(u.host)) jar.set(u.host, new Map());
    jar.get(u.host).set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
  }
  return r;
}
// Follow redirects until one leaves for `stop` (returned unfollowed) or a page answers.
async function follow(r, stop) {
  for (let i = 0; i < 6 && r.status >= 300 && r.status < 400; i++) {
    const next = new URL(r.headers.get('location'), r.url || ISSUER).href;
    if (next.startsWith(stop)) return { location: next };
    r = await ua(next);
  }
  return { page: r };
}

const config = await oidc.discovery(new URL(ISSUER), need('CLIENT_ID'), need('CLIENT_SECRET'),
  undefined, { execute: [oidc.allowInsecureRequests] });
check(config.serverMetadata().issuer === ISSUER, 'discovery: the issuer is the URL it came from');

const verifier = oidc.randomPKCECodeVerifier();
const challenge = await oidc.calculatePKCECodeChallenge(verifier);
const nonce = oidc.randomNonce();
const state = oidc.randomState();
const authUrl = oidc.buildAuthorizationUrl(config, {
  redirect_uri: REDIRECT, scope: 'openid profile email offline_access',
  code_challenge: challenge, code_challenge_method: 'S256', nonce, state,
});

let got = await follow(await ua(authUrl.href), REDIRECT);
check(got.page && got.page.status === 200, 'authorize led to the login page');
const html = await got.page.text();
const form = new URLSearchParams();
for (const m of html.matchAll(/<input[^>]*type="hidden"[^>]*>/g)) {
  const name = /name="([^"]*)"/.exec(m[0]); const value = /value="([^"]*)"/.exec(m[0]);
  if (name) form.set(name[1], (value ? value[1] : '').replaceAll('&amp;', '&').replaceAll('&quot;', '"').replaceAll('&#39;', "'").replaceAll('&lt;', '<').replaceAll('&gt;', '>'));
}
form.set('username', need('USERNAME'));
form.set('password', need('PASSWORD'));
const action = /<form[^>]*action="([^"]*)"/.exec(html);
const postTo = new URL(action ? action[1].replaceAll('&amp;', '&') : got.page.url, got.page.url);
got = await follow(await ua(postTo.href, { method: 'POST', body: form,
  headers: { 'content-type': 'application/x-www-form-urlencoded' } }), REDIRECT);
check(got.location, `back at the app (${got.location})`);

const tokens = await oidc.authorizationCodeGrant(config, new URL(got.location), {
  pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: state, idTokenExpected: true,
});
const claims = tokens.claims();
check(claims.sub && claims.sid && claims.nonce === nonce, `ID token claims (sub, sid, nonce): ${claims.sub}`);
check(tokens.refresh_token && tokens.token_type.toLowerCase() === 'bearer', 'bearer access token and a refresh token');

const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
check(info.preferred_username === need('USERNAME'), `userinfo for the same subject (${info.preferred_username})`);

const intro = await oidc.tokenIntrospection(config, tokens.access_token);
check(intro.active === true && intro.sub === claims.sub, 'introspection: active, same subject');

const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
check(refreshed.access_token && refreshed.access_token !== tokens.access_token, 'refresh: a new access token');

await oidc.tokenRevocation(config, refreshed.refresh_token, { token_type_hint: 'refresh_token' });
const gone = await oidc.tokenIntrospection(config, refreshed.access_token);
check(gone.active === false, 'revoking the refresh token revoked its grant\'s access token');

const endUrl = oidc.buildEndSessionUrl(config, {
  id_token_hint: tokens.id_token, post_logout_redirect_uri: BYE, state: 'bye-state',
});
got = await follow(await ua(endUrl.href), BYE);
check(got.location && new URL(got.location).searchParams.get('state') === 'bye-state',
  `end_session sent the user agent back with its state (${got.location})`);
console.log(`SID=${claims.sid}`);
console.log('openid-client ok');
