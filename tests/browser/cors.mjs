// CORS in headless Chromium: a single-page app on its own origin (the client's redirect
// origin) runs fetch() against Warden's token, userinfo and revocation endpoints, with the
// preflights Chromium sends for them; a page on another origin is blocked.
// Env: OP_BASE, SPA_URL, FOREIGN_URL, CLIENT_ID, REDIRECT_URI, CODE, VERIFIER.
import { launch, need, check } from './lib.mjs';

const OP_BASE = need('OP_BASE');
const SPA_URL = need('SPA_URL');
const FOREIGN_URL = need('FOREIGN_URL');
const CID = need('CLIENT_ID');
const REDIRECT_URI = need('REDIRECT_URI');
const CODE = need('CODE');
const VERIFIER = need('VERIFIER');

// Runs in the page: fetch and report {ok, status, body} or {blocked} when CORS forbids it.
async function call(args) {
  const { url, method, headers, body } = args;
  try {
    const r = await fetch(url, { method, headers, body, mode: 'cors', credentials: 'omit' });
    const text = await r.text();
    return { ok: r.ok, status: r.status, body: text };
  } catch (e) {
    return { blocked: String(e) };
  }
}

const form = (o) => new URLSearchParams(o).toString();
const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };

const browser = await launch();
try {
  const ctx = await browser.newContext();

  // Another origin first: its exchange is refused and the page cannot even read why.
  const foreign = await ctx.newPage();
  await foreign.goto(FOREIGN_URL);
  const tokenReq = {
    url: `${OP_BASE}/oauth2/token`, method: 'POST', headers: FORM,
    body: form({ grant_type: 'authorization_code', code: CODE, redirect_uri: REDIRECT_URI,
      client_id: CID, code_verifier: VERIFIER }),
  };
  const f = await foreign.evaluate(call, tokenReq);
  check(f.blocked !== undefined, `a page on another origin is blocked (${JSON.stringify(f)})`);

  // The app's own origin: exchange, userinfo (Authorization header → preflight), refresh,
  // revoke.
  const spa = await ctx.newPage();
  await spa.goto(SPA_URL);
  const t = await spa.evaluate(call, tokenReq);
  check(t.ok, `the app exchanges its code from its origin (${JSON.stringify(t)})`);
  const tokens = JSON.parse(t.body);
  check(tokens.access_token && tokens.id_token && tokens.refresh_token, 'tokens readable');

  const u = await spa.evaluate(call, {
    url: `${OP_BASE}/oauth2/userinfo`, method: 'GET',
    headers: { Authorization: `Bearer ${tokens.access_token}` },
  });
  check(u.ok && JSON.parse(u.body).sub, `userinfo with a bearer token after a preflight (${JSON.stringify(u)})`);

  const r = await spa.evaluate(call, {
    url: `${OP_BASE}/oauth2/token`, method: 'POST', headers: FORM,
    body: form({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: CID }),
  });
  check(r.ok && JSON.parse(r.body).access_token, `refresh from the app (${r.status})`);
  const refreshed = JSON.parse(r.body);

  const fu = await foreign.evaluate(call, {
    url: `${OP_BASE}/oauth2/userinfo`, method: 'GET',
    headers: { Authorization: `Bearer ${refreshed.access_token}` },
  });
  check(fu.blocked !== undefined, 'userinfo is not readable from another origin');

  const v = await spa.evaluate(call, {
    url: `${OP_BASE}/oauth2/revoke`, method: 'POST', headers: FORM,
    body: form({ token: refreshed.refresh_token, client_id: CID }),
  });
  check(v.ok, `revocation from the app (${JSON.stringify(v)})`);
  const gone = await spa.evaluate(call, {
    url: `${OP_BASE}/oauth2/userinfo`, method: 'GET',
    headers: { Authorization: `Bearer ${refreshed.access_token}` },
  });
  check(gone.status === 401, `the revoked grant's access token is refused, readably (${gone.status})`);
  console.log('cors ok');
} finally {
  await browser.close();
}
