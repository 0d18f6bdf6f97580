// A third-party OpenID Connect client in the browser: oidc-client-ts (npm), loaded by a
// single-page app on its own origin, against Warden in headless Chromium. Discovery, the
// code flow with PKCE through Warden's login page, the token exchange and userinfo by
// fetch (CORS), a silent renew with the refresh token, revocation, and RP-initiated
// logout back to the app.
// Env: OP_BASE, SPA_BASE, CLIENT_ID, USERNAME, PASSWORD.
import { launch, need, check } from './lib.mjs';

const OP = need('OP_BASE');
const SPA = need('SPA_BASE');
const CID = need('CLIENT_ID');
const USERNAME = need('USERNAME');
const PASSWORD = need('PASSWORD');

const settings = {
  authority: OP,
  client_id: CID,
  redirect_uri: `${SPA}/callback`,
  post_logout_redirect_uri: `${SPA}/bye`,
  response_type: 'code',
  scope: 'openid profile email offline_access',
  loadUserInfo: true,
  automaticSilentRenew: false,
  monitorSession: false,
};

const browser = await launch();
try {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  page.on('console', (m) => { if (m.type() === 'error') console.log(`console error: ${m.text()}`); });
  page.on('pageerror', (e) => console.log(`page error: ${e.message}`));

  await page.goto(`${SPA}/app`);
  // signinRedirect navigates away; the evaluation's context goes with it.
  page.evaluate((s) => new oidc.UserManager(s).signinRedirect(), settings).catch(() => {});
  await page.waitForURL((u) => u.origin === new URL(OP).origin && u.pathname === '/login', { timeout: 15000 });
  check(true, 'signinRedirect led to Warden\'s login page');
  await page.fill('input[name=username]', USERNAME);
  await page.fill('input[name=password]', PASSWORD);
  await Promise.all([
    page.waitForURL((u) => u.href.startsWith(`${SPA}/callback`), { timeout: 15000 }),
    page.click('form [type=submit]'),
  ]);
  check(new URL(page.url()).searchParams.get('code'), 'back at the app with a code');

  const user = await page.evaluate(async (s) => {
    try {
      const u = await new oidc.UserManager(s).signinCallback();
      return { ok: true, sub: u.profile.sub, name: u.profile.preferred_username, email: u.profile.email,
        sid: u.profile.sid, at: u.access_token, rt: u.refresh_token, idt: u.id_token, scope: u.scope };
    } catch (e) { return { ok: false, error: String(e) }; }
  }, settings);
  check(user.ok, `signinCallback: token exchange and userinfo from the app's origin (${user.error || ''})`);
  check(user.sub && user.sid && user.idt, `ID token with sub and sid (${user.sub})`);
  check(user.name === USERNAME, `userinfo profile claims loaded (${user.name})`);
  check(user.at && user.rt, 'access and refresh tokens');

  const renewed = await page.evaluate(async (s) => {
    try {
      const u = await new oidc.UserManager(s).signinSilent();
      return { ok: true, at: u.access_token, rt: u.refresh_token };
    } catch (e) { return { ok: false, error: String(e) }; }
  }, settings);
  check(renewed.ok, `signinSilent renewed with the refresh token (${renewed.error || ''})`);
  check(renewed.at !== user.at && renewed.rt !== user.rt, 'new access and rotated refresh token');

  const revoked = await page.evaluate(async (s) => {
    try {
      await new oidc.UserManager(s).revokeTokens(['access_token', 'refresh_token']);
      return { ok: true };
    } catch (e) { return { ok: false, error: String(e) }; }
  }, settings);
  check(revoked.ok, `revokeTokens through the revocation endpoint (${revoked.error || ''})`);
  const after = await page.evaluate(async ([op, at]) => {
    const r = await fetch(`${op}/oauth2/userinfo`, { headers: { Authorization: `Bearer ${at}` } });
    return r.status;
  }, [OP, renewed.at]);
  check(after === 401, `the revoked access token is refused (${after})`);

  page.evaluate((s) => new oidc.UserManager(s).signoutRedirect(), settings).catch(() => {});
  await page.waitForURL((u) => u.href.startsWith(`${SPA}/bye`), { timeout: 15000 });
  check(true, 'signoutRedirect: end_session sent the browser back to the app');
  console.log(`SID=${user.sid}`);
  console.log('spa ok');
} finally {
  await browser.close();
}
