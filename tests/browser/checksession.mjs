// OIDC Session Management 1.0 §3.2 in headless Chromium: an RP page (another origin,
// registered as the client's redirect origin) embeds Warden's check_session iframe and
// posts "<client_id> <session_state>".
//   valid → "unchanged"; garbage / another client_id → "error"; a wrong hash → "changed";
//   a page on an unregistered origin gets no answer at all;
//   after a real RP-initiated logout (top-level navigation to end_session, which sets a new
//   warden_bs cookie) the same message gets "changed".
// Env: OP_BASE, CHECK_URL, RP_URL, FOREIGN_URL, CLIENT_ID, SESSION_STATE, BS,
//      SESSION_COOKIE, LOGOUT_URL, BYE_URL.
import { launch, need, check } from './lib.mjs';

const OP_BASE = need('OP_BASE');
const CHECK_URL = need('CHECK_URL');
const RP_URL = need('RP_URL');
const FOREIGN_URL = need('FOREIGN_URL');
const CID = need('CLIENT_ID');
const SS = need('SESSION_STATE');
const BS = need('BS');
const SESSION_COOKIE = need('SESSION_COOKIE');
const LOGOUT_URL = need('LOGOUT_URL');
const BYE_URL = need('BYE_URL');

const browser = await launch();
try {
  const ctx = await browser.newContext();
  await ctx.addCookies([
    { name: 'warden_bs', value: BS, url: OP_BASE },
    { name: 'warden_session', value: SESSION_COOKIE, url: OP_BASE, httpOnly: true },
  ]);

  // Load a page and embed the OP iframe in it; window.ask(msg) posts a message to the
  // iframe and resolves with its answer, or "(no answer)" after 1.5 s.
  async function rpPage(url) {
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

  const rp = await rpPage(RP_URL);
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

  const foreign = await rpPage(FOREIGN_URL);
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
  const bs2 = (await ctx.cookies(OP_BASE)).find((c) => c.name === 'warden_bs');
  check(bs2 && bs2.value && bs2.value !== BS, 'the browser state cookie changed');
  const sessionCookie = (await ctx.cookies(OP_BASE)).find((c) => c.name === 'warden_session');
  check(!sessionCookie || sessionCookie.value === '', 'the session cookie is gone');

  a = await ask(rp, `${CID} ${SS}`);
  check(a === 'changed', `after logout the same message → changed (got ${a})`);
} finally {
  await browser.close();
}
