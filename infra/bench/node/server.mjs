// node-oidc-provider configured like Warden's bench fixtures: two confidential clients
// (client_secret_basic) with back-channel logout URIs, one user found by findAccount, and
// the backchannelLogout, rpInitiatedLogout, introspection and revocation features. The
// interaction route signs the bench user in and grants consent at once (the benchmark
// measures the protocol endpoints, not a login page). Loopback only; in-memory storage.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 3001);
const sink = process.env.BACKCHANNEL_URI || 'http://127.0.0.1:9099/backchannel';
const issuer = `http://127.0.0.1:${port}`;
const USER = 'bench-user';
const REDIRECT = 'http://localhost:9000/callback';
const POST_LOGOUT = 'http://localhost:9000/';

const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
key.kid = randomUUID();
key.use = 'sig';
key.alg = 'RS256';

const clients = ['bench-a', 'bench-b'].map((id) => ({
  client_id: id,
  client_secret: `secret-${id}`,
  token_endpoint_auth_method: 'client_secret_basic',
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  redirect_uris: [REDIRECT],
  post_logout_redirect_uris: [POST_LOGOUT],
  backchannel_logout_uri: sink,
  backchannel_logout_session_required: true,
}));

// An unbounded in-memory adapter. The package's own development adapter is an LRU of 1,000
// entries, which drops codes and sessions under a benchmark's volume (codes then fail with
// invalid_grant and logouts find no session); this keeps everything until it expires.
const storage = new Map();
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);
class MapAdapter {
  constructor(name) { this.name = name; }
  key(id) { return `${this.name}:${id}`; }
  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    if (this.name === 'Session') storage.set(`sessionUid:${payload.uid}`, id);
    if (GRANTABLE.has(this.name) && payload.grantId) {
      const gk = `grant:${payload.grantId}`;
      const list = storage.get(gk);
      if (list) list.push(key); else storage.set(gk, [key]);
    }
    if (payload.userCode) storage.set(`userCode:${payload.userCode}`, id);
    storage.set(key, { payload, exp: expiresIn ? Date.now() + expiresIn * 1000 : 0 });
  }
  async find(id) {
    const e = storage.get(this.key(id));
    if (!e) return undefined;
    if (e.exp && e.exp < Date.now()) { storage.delete(this.key(id)); return undefined; }
    return e.payload;
  }
  async findByUid(uid) { const id = storage.get(`sessionUid:${uid}`); return id ? this.find(id) : undefined; }
  async findByUserCode(code) { const id = storage.get(`userCode:${code}`); return id ? this.find(id) : undefined; }
  async consume(id) { const e = storage.get(this.key(id)); if (e) e.payload.consumed = Math.floor(Date.now() / 1000); }
  async destroy(id) { storage.delete(this.key(id)); }
  async revokeByGrantId(grantId) {
    const gk = `grant:${grantId}`;
    for (const k of storage.get(gk) || []) storage.delete(k);
    storage.delete(gk);
  }
}

const provider = new Provider(issuer, {
  adapter: MapAdapter,
  clients,
  jwks: { keys: [key] },
  cookies: { keys: ['bench-cookie-signing-key-0123456789'] },
  findAccount: async (ctx, id) => (id === USER
    ? { accountId: id, claims: async () => ({ sub: id, name: 'Bench User', email: 'bench@example.com' }) }
    : undefined),
  claims: { openid: ['sub'], profile: ['name'], email: ['email'] },
  pkce: { required: () => false },
  // Warden issues a refresh token to every client allowed the refresh_token grant (online,
  // session-bound refresh tokens, as Keycloak and WSO2 do); node-oidc-provider's default
  // issues one only with `offline_access`. Same policy here, so both exchanges hand out an
  // ID token, an access token and a refresh token (the bench checks each response).
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  ttl: { Interaction: 600, Grant: 14 * 86400, Session: 14 * 86400, AuthorizationCode: 60, AccessToken: 3600, IdToken: 3600, RefreshToken: 14 * 86400 },
  features: {
    devInteractions: { enabled: false },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
  },
  // Its SSRF guard refuses loopback addresses; the bench sink RP is on loopback, so the
  // back-channel POSTs use the plain global fetch (same as Warden's dispatcher here).
  fetch: (url, options) => {
    const { dispatcher, ...rest } = options;
    return globalThis.fetch(url, rest);
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
});

provider.use(async (ctx, next) => {
  if (!ctx.path.startsWith('/interaction/')) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { prompt, params } = details;
  const result = {};
  if (prompt.name === 'login') result.login = { accountId: USER };
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: USER, clientId: params.client_id });
  grant.addOIDCScope(params.scope || 'openid');
  result.consent = { grantId: await grant.save() };
  const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
  ctx.status = 303;
  ctx.redirect(to);
});

provider.on('backchannel.error', (ctx, err, client) => { console.error('backchannel.error', client?.clientId, err?.message); });
provider.on('server_error', (ctx, err) => { console.error('server_error', err); });

provider.listen(port, '127.0.0.1', () => {
  console.log(`node-oidc-provider listening at ${issuer}`);
});
