// My Account's receipts and "Recently ended" in headless Chromium (issue 20).
//
// The page gets a real token (put into sessionStorage before it loads, as in
// myaccount.mjs MODE=inject). It must list ADMIN_SID (ended by an administrator) under
// "Recently ended" with its reason; then the person ends OTHER_SID, and the ended session
// shows each app's receipt: FAST_CLIENT signed out, DOWN_CLIENT still trying. The app name
// PROBE (markup) is shown as text. Screenshots go to SHOTS.
//
// Env: BASE, TOKEN, OTHER_SID, ADMIN_SID, FAST_CLIENT, DOWN_CLIENT, PROBE, SHOTS.
import { launch, need, check } from './lib.mjs';

const base = need('BASE');
const token = need('TOKEN');
const otherSid = need('OTHER_SID');
const adminSid = need('ADMIN_SID');
const fast = need('FAST_CLIENT');
const down = need('DOWN_CLIENT');
const probe = need('PROBE');
const shots = need('SHOTS');

const browser = await launch();
try {
  const ctx = await browser.newContext({ viewport: { width: 360, height: 800 } });
  const page = await ctx.newPage();
  const cspErrors = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) cspErrors.push(m.text());
  });
  page.on('dialog', (d) => { console.error(`FAILED: a dialog opened: ${d.message()}`); process.exit(1); });
  page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
  await ctx.addInitScript(([t]) => {
    if (location.pathname === '/myaccount' && !sessionStorage.getItem('test.injected')) {
      sessionStorage.setItem('test.injected', '1');
      sessionStorage.setItem('warden.myaccount.token', t);
    }
  }, [token]);
  const resp = await page.goto(`${base}/myaccount`);
  check(resp.status() === 200, 'GET /myaccount is 200');

  // The administrator's end is listed with its reason.
  const adminRow = `#ended li[data-session-id="${adminSid}"]`;
  await page.waitForSelector(adminRow, { timeout: 15000 });
  const adminText = await page.$eval(adminRow, (l) => l.textContent);
  check(adminText.includes('An administrator ended it') && adminText.includes('by an administrator'),
    `reason and actor shown: ${adminText}`);

  // End the other session through the page.
  await page.click(`li.session[data-session-id="${otherSid}"] button.end`);
  await page.waitForSelector('dialog#confirm[open]');
  await page.click('#confirm-ok');
  const row = `#ended li[data-session-id="${otherSid}"]`;
  await page.waitForSelector(`${row} li[data-app-id="${fast}"][data-told="signed-out"]`, { timeout: 15000 });
  const receipts = await page.$$eval(`${row} ul.receipts li`, (ls) => ls.map((l) => ({
    id: l.dataset.appId, told: l.dataset.told, name: l.querySelector('.app-name').textContent, text: l.textContent,
  })));
  console.log(JSON.stringify(receipts));
  check(receipts.find((r) => r.id === fast).text.includes('Signed out'), 'the app that answered was told');
  const d = receipts.find((r) => r.id === down);
  check(d && d.told === 'trying' && d.text.includes('Still trying'), 'the app that is down is still being tried');
  check(receipts.some((r) => r.name === probe), 'the probe app name is shown as text');
  check(await page.$$eval('#ended img, #ended script, #sessions img, #sessions script', (x) => x.length) === 0,
    'no markup from the probe');
  const text = await page.$eval(row, (l) => l.textContent);
  check(text.includes('You signed out of it') && text.includes('by you'), `reason shown: ${text}`);
  check(cspErrors.length === 0, 'no CSP violations');
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  check(wide <= 360, `readable at 360 px (scrollWidth ${wide})`);
  await page.screenshot({ path: `${shots}/myaccount-recently-ended.png`, fullPage: true });
  console.log('MYACCOUNT ENDED OK');
} finally {
  await browser.close();
}
