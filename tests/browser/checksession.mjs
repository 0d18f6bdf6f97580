// OIDC Session Management 1.0 §3.2 in headless Chromium: an RP page (another origin,
// registered as the client's redirect origin) embeds Warden's check_session iframe and
// posts "<client_id> <session_state>". MODE picks the case:
//
// MODE=basic (default): the browser state and session cookie are set from env.
//   valid → "unchanged"; garbage / another client_id → "error"; a wrong hash → "changed";
//   a page on an unregistered origin gets no answer at all;
//   after a real RP-initiated logout (top-level navigation to end_session, which sets a new
//   warden_bs cookie) the same message gets "changed" at once, and a session_state for the
//   signed-out browser state "unchanged".
//   Env: OP_BASE, CHECK_URL, RP_URL, FOREIGN_URL, CLIENT_ID, SESSION_STATE, BS,
//        SESSION_COOKIE, LOGOUT_URL, BYE_URL, GENERIC.
//
// MODE=ended: the user signs in through Warden's login page (authorize → login → back to the
//   RP with session_state); the RP page polls every 100 ms. The session then ends without
//   this browser — END=admin (Admin API), END=me (Me API, with a token of the same user's
//   other browser) or END=expiry (idle timeout, nothing done) — and the answer must turn
//   "changed" within INTERVAL_MS of the end (+ the poll period and request time). Then the
//   RP's re-check (prompt=none → login_required with a new session_state) reads "unchanged"
//   while the old session_state stays "changed". Prints changed_after_ms=, sid=.
//   Env: OP_BASE, CHECK_URL, RP_URL, REDIRECT_URI, CLIENT_ID, USERNAME, PASSWORD,
//        INTERVAL_MS, END, USER_ID + ADMIN_TOKEN (admin), ME_TOKEN (me), IDLE_MS (expiry).
//
// MODE=cost: PAGES RP pages of one site each poll every 100 ms for DURATION_MS (a live
//   session: all "unchanged"). Prints polls= and status_requests= (the iframes' requests to
//   the status endpoint, cache hits included); the Rust test counts the store reads.
//   Env: OP_BASE, CHECK_URL, RP_URL, CLIENT_ID, SESSION_STATE, BS, SESSION_COOKIE, PAGES,
//        DURATION_MS.
import { createHash } from 'node:crypto';
import { launch, need, check } from './lib.mjs';

const MODE = process.env.MODE || 'basic';
const OP_BASE = need('OP_BASE');
const CHECK_URL = need('CHECK_URL');
const RP_URL = need('RP_URL');
const CID = need('CLIENT_ID');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Load a page and embed the OP iframe in it; window.ask(msg) posts a message to the
// iframe and resolves with its answer, or "(no answer)" after 1.5 s.
async function rpPage(ctx, url) {
  const p = await ctx.newPage();
  await p.goto(url);
  await p.evaluate(async (src) => {
    const f = document.createElement('iframe');
    f.src = src;
    const loaded = new Promise((r) => { f.onload = r; });
    document.body.appendChild(f);
    await loaded;
    window.ask = (msg) => new Promise((resolve) => {
      const h = (e) => {
        if (e.source !== f.contentWindow) return;
        clearTimeout(t);
        window.removeEventListener('message', h);
        resolve(e.data);
      };
      const t = setTimeout(() => { window.removeEventListener('message', h); resolve('(no answer)'); }, 1500);
      window.addEventListener('message', h);
      f.contentWindow.postMessage(msg, new URL(src).origin);
    });
  }, CHECK_URL);
  return p;
}
const ask = (p, m) => p.evaluate((m) => window.ask(m), m);

// Ask every 100 ms for `ms`; every answer must be `want`. Returns how many were asked.
async function steady(p, msg, want, ms) {
  const until = Date.now() + ms;
  let n = 0;
  while (Date.now() < until) {
    const a = await ask(p, msg);
    if (a !== want) return { n, bad: a };
    n++;
    await sleep(100);
  }
  return { n };
}

// Ask every 100 ms until the answer is `want`; returns the time it came, or null.
async function until(p, msg, want, timeoutMs) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if ((await ask(p, msg)) === want) return Date.now();
    await sleep(100);
  }
  return null;
}

// What the authorize endpoint computes (oauth::oidc::session_state), for a browser state.
function sessionState(origin, bs, salt) {
  const h = createHash('sha256').update(`${CID} ${origin} ${bs} ${salt}`).digest('base64url');
  return `${h}.${salt}`;
}

const cookieOf = async (ctx, name) => (await ctx.cookies(OP_BASE)).find((c) => c.name === name);

async function basic(ctx) {
  const FOREIGN_URL = need('FOREIGN_URL');
  const SS = need('SESSION_STATE');
  const BS = need('BS');
  const LOGOUT_URL = need('LOGOUT_URL');
  const BYE_URL = need('BYE_URL');
  await ctx.addCookies([
    { name: 'warden_bs', value: BS, url: OP_BASE },
    { name: 'warden_session', value: need('SESSION_COOKIE'), url: OP_BASE, httpOnly: true },
  ]);
  const rp = await rpPage(ctx, RP_URL);
  let a = await ask(rp, `${CID} ${SS}`);
  check(a === 'unchanged', `valid session_state → unchanged (got ${a})`);
  a = await ask(rp, 'garbage');
  check(a === 'error', `garbage → error (got ${a})`);
  // GENERIC=1: the iframe was loaded as discovery publishes it (no client_id in its URL);
  // it learns the origins of the client named in each message.
  const GENERIC = process.env.GENERIC === '1';
  a = await ask(rp, `someone-else ${SS}`);
  if (GENERIC) {
    check(a === '(no answer)', `another client_id (RP origin not registered for it) → no answer (got ${a})`);
  } else {
    check(a === 'error', `another client_id → error (got ${a})`);
  }
  const salt = SS.slice(SS.lastIndexOf('.') + 1);
  a = await ask(rp, `${CID} AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.${salt}`);
  check(a === 'changed', `wrong hash → changed (got ${a})`);

  const foreign = await rpPage(ctx, FOREIGN_URL);
  a = await ask(foreign, `${CID} ${SS}`);
  check(a === '(no answer)', `unregistered origin gets no answer (got ${a})`);
  a = await ask(foreign, 'garbage');
  if (GENERIC) {
    // No client can be named by garbage: the parent gets "error", which reveals nothing.
    check(a === 'error', `garbage from any parent → error (got ${a})`);
  } else {
    check(a === '(no answer)', `unregistered origin gets no answer to garbage either (got ${a})`);
  }

  // RP-initiated logout as a browser does it: a top-level navigation to end_session.
  const lp = await ctx.newPage();
  await lp.goto(LOGOUT_URL);
  check(lp.url().startsWith(BYE_URL), `end_session redirected to ${lp.url()}`);
  const bs2 = await cookieOf(ctx, 'warden_bs');
  check(bs2 && bs2.value && bs2.value !== BS, 'the browser state cookie changed');
  check(!bs2.value.includes('.'), `a signed-out browser state names no session (${bs2.value})`);
  const sessionCookie = await cookieOf(ctx, 'warden_session');
  check(!sessionCookie || sessionCookie.value === '', 'the session cookie is gone');

  a = await ask(rp, `${CID} ${SS}`);
  check(a === 'changed', `after logout the same message → changed (got ${a})`);
  // The signed-out state is a state too: its session_state stays unchanged.
  const out = sessionState(new URL(RP_URL).origin, bs2.value, `${Date.now()}-signedout`);
  a = await ask(rp, `${CID} ${out}`);
  check(a === 'unchanged', `the signed-out browser state's session_state → unchanged (got ${a})`);
}

// authorize for the RP, as its redirect would send the browser.
function authorizeUrl(extra) {
  const u = new URL(`${OP_BASE}/oauth2/authorize`);
  const q = { client_id: CID, redirect_uri: need('REDIRECT_URI'), response_type: 'code',
    scope: 'openid', state: 'cs', nonce: 'n-cs', ...extra };
  for (const [k, v] of Object.entries(q)) u.searchParams.set(k, v);
  return u.href;
}

async function ended(ctx) {
  const REDIRECT_URI = need('REDIRECT_URI');
  const INTERVAL_MS = Number(need('INTERVAL_MS'));
  const END = need('END');
  const atRp = (u) => u.href.startsWith(REDIRECT_URI);

  // Sign in as a user does: authorize → Warden's login page → back at the RP.
  const lp = await ctx.newPage();
  await lp.goto(authorizeUrl({}));
  await lp.waitForURL((u) => u.pathname === '/login', { timeout: 15000 });
  await lp.fill('input[name=username]', need('USERNAME'));
  await lp.fill('input[name=password]', need('PASSWORD'));
  await Promise.all([lp.waitForURL(atRp, { timeout: 15000 }), lp.click('form [type=submit]')]);
  const signedIn = Date.now();
  const back = new URL(lp.url()).searchParams;
  const SS = back.get('session_state');
  check(back.get('code') && SS, `signed in: back at the RP with a code and session_state`);
  const bs = await cookieOf(ctx, 'warden_bs');
  check(bs && bs.value.split('.').length === 3, `the login set a session-bound browser state (${bs && bs.value})`);
  const sid = bs.value.split('.')[0];
  console.log(`sid=${sid}`);

  const rp = await rpPage(ctx, RP_URL);
  const msg = `${CID} ${SS}`;
  let a = await ask(rp, msg);
  check(a === 'unchanged', `while the session lives → unchanged (got ${a})`);

  let endedAt;
  if (END === 'expiry') {
    // Nothing is done: the session's idle timeout passes (the touch at authorize set it
    // before the redirect back, so it lies at most IDLE_MS after signedIn).
    endedAt = signedIn + Number(need('IDLE_MS'));
  } else {
    const s = await steady(rp, msg, 'unchanged', 2 * INTERVAL_MS + 500);
    check(!s.bad, `unchanged over ${s.n} polls across several intervals${s.bad ? ` (then ${s.bad})` : ''}`);
    const path = END === 'admin'
      ? `/api/users/v1/${need('USER_ID')}/sessions/${sid}`
      : `/api/users/v1/me/sessions/${sid}`;
    const token = END === 'admin' ? need('ADMIN_TOKEN') : need('ME_TOKEN');
    const r = await fetch(`${OP_BASE}${path}`, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } });
    endedAt = Date.now();
    check(r.status === 204, `the ${END === 'admin' ? 'Admin' : 'Me'} API ended the session (${r.status})`);
  }
  const changedAt = await until(rp, msg, 'changed', INTERVAL_MS + 10000 + Math.max(0, endedAt - Date.now()));
  check(changedAt !== null, 'the iframe reported the end');
  const after = changedAt - endedAt;
  console.log(`changed_after_ms=${after}`);
  check(after <= INTERVAL_MS + 1000, `changed ${after} ms after the end (interval ${INTERVAL_MS} ms)`);
  a = await ask(rp, msg);
  check(a === 'changed', `and stays changed (got ${a})`);

  // The RP re-checks as Session Management says: prompt=none in the same browser.
  await sleep(Math.max(0, endedAt + 1300 - Date.now()));
  const cp = await ctx.newPage();
  await cp.goto(authorizeUrl({ prompt: 'none', state: 'cs2' }));
  await cp.waitForURL(atRp, { timeout: 15000 });
  const re = new URL(cp.url()).searchParams;
  check(re.get('error') === 'login_required', `prompt=none → login_required (${cp.url()})`);
  const SS2 = re.get('session_state');
  check(SS2 && SS2 !== SS, 'with a new session_state');
  a = await ask(rp, `${CID} ${SS2}`);
  check(a === 'unchanged', `the re-check's session_state → unchanged: no loop (got ${a})`);
  a = await ask(rp, msg);
  check(a === 'changed', `the old one still → changed (got ${a})`);
}

async function cost(ctx) {
  const PAGES = Number(need('PAGES'));
  const DURATION_MS = Number(need('DURATION_MS'));
  const SS = need('SESSION_STATE');
  await ctx.addCookies([
    { name: 'warden_bs', value: need('BS'), url: OP_BASE },
    { name: 'warden_session', value: need('SESSION_COOKIE'), url: OP_BASE, httpOnly: true },
  ]);
  let statusRequests = 0;
  ctx.on('request', (r) => { if (r.url().includes('browser_state=')) statusRequests++; });
  const pages = [];
  for (let i = 0; i < PAGES; i++) pages.push(await rpPage(ctx, RP_URL));
  const runs = await Promise.all(pages.map((p) => steady(p, `${CID} ${SS}`, 'unchanged', DURATION_MS)));
  for (const r of runs) check(!r.bad, `a polling page got unchanged ${r.n} times${r.bad ? ` (then ${r.bad})` : ''}`);
  console.log(`polls=${runs.reduce((n, r) => n + r.n, 0)}`);
  console.log(`status_requests=${statusRequests}`);
}

const browser = await launch();
try {
  const ctx = await browser.newContext();
  if (MODE === 'basic') await basic(ctx);
  else if (MODE === 'ended') await ended(ctx);
  else if (MODE === 'cost') await cost(ctx);
  else check(false, `unknown MODE ${MODE}`);
} finally {
  await browser.close();
}
