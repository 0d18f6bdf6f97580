// My Account in headless Chromium.
//
// MODE=full   (the real flow; needs /login, /oauth2/authorize and /oauth2/token):
//   /myaccount → authorize → login form (USERNAME/PASSWORD) → back with a code → token →
//   sessions listed → end OTHER_SID → end this device → the page signs out by itself
//   (its token is revoked; the 401 restarts the sign-in, which lands on the login page).
// MODE=inject (the page alone): TOKEN is put into sessionStorage once before the page
//   loads, instead of signing in; then the same list / end / sign-out steps.
//
// Env: BASE, MODE, OTHER_SID, SCREENSHOT (path of the sessions-list screenshot), and
// USERNAME + PASSWORD (full) or TOKEN (inject).
import { launch, need, check } from './lib.mjs';

const base = need('BASE');
const mode = need('MODE');
const otherSid = need('OTHER_SID');
const shot = need('SCREENSHOT');
const TOKEN_KEY = 'warden.myaccount.token';

const browser = await launch();
try {
  const ctx = await browser.newContext({ userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36' });
  const page = await ctx.newPage();
  const cspErrors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') {
      console.log(`console error: ${m.text()}`);
      if (/Content Security Policy/i.test(m.text())) cspErrors.push(m.text());
    }
  });
  page.on('pageerror', (e) => console.log(`page error: ${e.message}`));

  if (mode === 'inject') {
    const token = need('TOKEN');
    await ctx.addInitScript(([key, t]) => {
      if (location.pathname === '/myaccount' && !sessionStorage.getItem('test.injected')) {
        sessionStorage.setItem('test.injected', '1');
        sessionStorage.setItem(key, t);
      }
    }, [TOKEN_KEY, token]);
    const resp = await page.goto(`${base}/myaccount`);
    check(resp.status() === 200, 'GET /myaccount is 200');
    const csp = resp.headers()['content-security-policy'] || '';
    check(/script-src 'sha256-/.test(csp) && !csp.includes('unsafe-inline'), `strict CSP: ${csp}`);
  } else {
    const username = need('USERNAME');
    const password = need('PASSWORD');
    await page.goto(`${base}/myaccount`);
    await page.waitForURL((u) => u.pathname === '/login', { timeout: 15000 });
    const u = new URL(page.url());
    const ret = u.searchParams.get('return_to') || '';
    check(ret.includes('/oauth2/authorize') && ret.includes('client_id=myaccount'),
      `the page went to authorize as myaccount and on to the login page (${ret})`);
    check(ret.includes('code_challenge_method=S256'), 'PKCE S256');
    await page.fill('input[name=username]', username);
    await page.fill('input[name=password]', password);
    await Promise.all([
      page.waitForURL((x) => x.pathname === '/myaccount', { timeout: 15000 }),
      page.click('form [type=submit]'),
    ]);
    check(true, 'signed in and back on /myaccount');
  }

  // The list.
  await page.waitForSelector('#sessions li.session', { timeout: 15000 });
  await page.waitForFunction(() => document.querySelectorAll('#sessions li.session').length >= 2);
  const rows = await page.$$eval('#sessions li.session', (ls) => ls.map((l) => ({
    id: l.dataset.sessionId,
    current: l.classList.contains('current'),
    text: l.textContent,
  })));
  console.log(JSON.stringify(rows));
  check(rows.length === 2, `two sessions listed (${rows.length})`);
  const current = rows.filter((r) => r.current);
  check(current.length === 1 && current[0].text.includes('This device'), '"This device" marks exactly one');
  const other = rows.find((r) => r.id === otherSid);
  check(other && !other.current, 'the other session is listed and not current');
  check(other.text.includes('Firefox') && other.text.includes('Linux'), 'device and browser shown');
  for (const label of ['IP address', 'Signed in', 'Last active', 'Apps']) {
    check(other.text.includes(label), `${label} shown`);
  }
  check(current[0].text.includes('My Account'), 'the My Account app is listed in this session');
  check(cspErrors.length === 0, 'no CSP violations');
  check(!new URL(page.url()).search.includes('code='), 'the code is gone from the address bar');
  await page.screenshot({ path: shot, fullPage: true });
  check(true, `screenshot saved to ${shot}`);

  // End the other session: confirm dialog, then it disappears.
  await page.click(`li.session[data-session-id="${otherSid}"] button.end`);
  await page.waitForSelector('dialog#confirm[open]');
  // Cancel first: nothing happens.
  await page.click('#confirm-cancel');
  check(await page.$(`li.session[data-session-id="${otherSid}"]`) !== null, 'cancel keeps the session');
  await page.click(`li.session[data-session-id="${otherSid}"] button.end`);
  await page.waitForSelector('dialog#confirm[open]');
  await page.click('#confirm-ok');
  await page.waitForFunction((sid) => !document.querySelector(`li.session[data-session-id="${sid}"]`)
    && document.querySelectorAll('#sessions li.session').length === 1, otherSid, { timeout: 10000 });
  check(true, 'the other session is gone from the list');

  // End this device: the token dies, the next call is 401 and the page signs in again.
  await page.click('li.session.current button.end');
  await page.waitForSelector('dialog#confirm[open]');
  await page.click('#confirm-ok');
  await page.waitForURL((u) => u.pathname === '/oauth2/authorize' || u.pathname === '/login', { timeout: 15000 });
  const after = new URL(page.url());
  console.log(`after signing out: ${after.pathname}`);
  if (mode === 'full') {
    await page.waitForURL((u) => u.pathname === '/login', { timeout: 15000 });
    check(true, 'signed out: back on the login page');
  } else {
    check(true, `signed out: the page restarted the sign-in (${after.pathname})`);
  }
  let left;
  for (let i = 0; ; i++) {
    try {
      await page.waitForLoadState('load');
      left = await page.evaluate((k) => sessionStorage.getItem(k), TOKEN_KEY);
      break;
    } catch (e) {
      // A redirect (authorize → login) replaced the document meanwhile: read again.
      if (i >= 5) throw e;
      await page.waitForTimeout(200);
    }
  }
  check(left === null, 'the revoked token was dropped');
  console.log('MYACCOUNT OK');
} finally {
  await browser.close();
}
