// A real OpenID provider (npm `oidc-provider` 8.x) for deskbroker's tests.
//
//   node provider.mjs [--port N] [--client JSON] [--accounts-file PATH] [--keys-file PATH] [--require-pkce]
//   node provider.mjs --print-default-accounts
//
// Every option also has an environment variable: OIDC_PORT, OIDC_CLIENT, OIDC_ACCOUNTS_FILE,
// OIDC_ACCOUNTS (inline JSON), OIDC_KEYS_FILE, OIDC_REQUIRE_PKCE=1.
//
// - Listens on 127.0.0.1; issuer is http://127.0.0.1:PORT. Port 0 picks a free port.
//   Prints exactly one line `READY http://127.0.0.1:PORT` on stdout when listening.
// - --client: one client object or a list of them:
//   {"client_id", "client_secret", "redirect_uris": [...], "post_logout_redirect_uris"?: [...],
//    "token_endpoint_auth_method"?: "client_secret_basic"}. Whatever the registered method,
//   oidc-provider accepts both client_secret_basic and client_secret_post for a secret client.
// - Accounts: {"<login>": {"password": "x", "claims": {...}}}. The file is re-read at every login
//   and claims lookup, so tests can add accounts while the provider runs. Entries override the
//   defaults below by login name. `sub` defaults to the login name; `password` defaults to "x".
// - Login is this script's own page (not devInteractions: that one accepts ANY login name and
//   pulls web fonts). An unknown login or a wrong password re-renders the form with HTTP 401 and
//   `Unknown account or wrong password.`; nothing is sent to the client. "Cancel" returns
//   error=access_denied to the client. Consent is automatic (every requested scope is granted).
// - Claims go into BOTH the ID token and userinfo (conformIdTokenClaims: false).
// - --keys-file: signing JWKS and cookie keys are kept there (created if missing) so a restarted
//   provider keeps the same keys. Sessions and grants are in memory and are lost on restart.
// - Requests are logged to stderr one line each; SIGTERM/SIGINT exit at once with status 0.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

const DEFAULT_ACCOUNTS = {
  // Generic provider shape: groups is a list of strings.
  alice: {
    password: 'x',
    claims: {
      sub: 'alice-0001',
      preferred_username: 'alice',
      name: 'Alice Student',
      given_name: 'Alice',
      family_name: 'Student',
      email: 'alice@example.org',
      email_verified: true,
      groups: ['students'],
    },
  },
  tina: {
    password: 'x',
    claims: {
      sub: 'tina-0002',
      preferred_username: 'tina',
      name: 'Tina Teacher',
      given_name: 'Tina',
      family_name: 'Teacher',
      email: 'tina@example.org',
      email_verified: true,
      groups: ['teachers'],
    },
  },
  adam: {
    password: 'x',
    claims: {
      sub: 'adam-0003',
      preferred_username: 'adam',
      name: 'Adam Admin',
      email: 'adam@example.org',
      email_verified: true,
      groups: ['admins', 'teachers'],
    },
  },
  // No groups claim at all.
  bob: {
    password: 'x',
    claims: {
      sub: 'bob-0004',
      preferred_username: 'bob',
      name: 'Bob Nogroups',
      email: 'bob@example.org',
      email_verified: true,
    },
  },
  // IServ shape: a `uuid` claim, and groups as an object keyed by numeric-ish ids whose values
  // are {"act": <group account name>, "name": <display name>}.
  iadmin: {
    password: 'x',
    claims: {
      sub: '1001',
      uuid: '6f1c2a4e-5b7d-4e8f-9a0b-1c2d3e4f5a61',
      preferred_username: 'iadmin',
      name: 'Ingrid Admin',
      given_name: 'Ingrid',
      family_name: 'Admin',
      email: 'iadmin@schule.example',
      email_verified: true,
      groups: {
        1: { act: 'admins', name: 'Administratoren' },
        12: { act: 'teachers', name: 'Lehrer' },
      },
    },
  },
  iteacher: {
    password: 'x',
    claims: {
      sub: '1002',
      uuid: '7a2b3c4d-6e8f-4a0b-8c1d-2e3f4a5b6c72',
      preferred_username: 'iteacher',
      name: 'Igor Lehrer',
      email: 'iteacher@schule.example',
      email_verified: true,
      groups: {
        12: { act: 'teachers', name: 'Lehrer' },
      },
    },
  },
  istudent: {
    password: 'x',
    claims: {
      sub: '1003',
      uuid: '8b3c4d5e-7f9a-4b1c-9d2e-3f4a5b6c7d83',
      preferred_username: 'istudent',
      name: 'Ida Schülerin',
      email: 'istudent@schule.example',
      email_verified: true,
      groups: {
        4: { act: 'students', name: 'Schüler' },
        23: { act: '5a', name: 'Klasse 5a' },
      },
    },
  },
};

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.OIDC_PORT ?? '0' },
    client: { type: 'string', default: process.env.OIDC_CLIENT },
    'accounts-file': { type: 'string', default: process.env.OIDC_ACCOUNTS_FILE },
    'keys-file': { type: 'string', default: process.env.OIDC_KEYS_FILE },
    'require-pkce': { type: 'boolean', default: ['1', 'true', 'yes'].includes(process.env.OIDC_REQUIRE_PKCE ?? '') },
    'print-default-accounts': { type: 'boolean', default: false },
  },
});

if (opts['print-default-accounts']) {
  process.stdout.write(`${JSON.stringify(DEFAULT_ACCOUNTS)}\n`);
  process.exit(0);
}

const log = (msg) => process.stderr.write(`[oidc] ${msg}\n`);

function loadAccounts() {
  const accounts = { ...DEFAULT_ACCOUNTS };
  const sources = [];
  if (process.env.OIDC_ACCOUNTS) sources.push(process.env.OIDC_ACCOUNTS);
  if (opts['accounts-file'] && existsSync(opts['accounts-file'])) {
    sources.push(readFileSync(opts['accounts-file'], 'utf8'));
  }
  for (const src of sources) Object.assign(accounts, JSON.parse(src));
  return accounts;
}

function lookupAccount(login) {
  const accounts = loadAccounts();
  if (!login || !Object.hasOwn(accounts, login)) return undefined;
  const entry = accounts[login];
  return { password: entry.password ?? 'x', claims: { sub: login, ...(entry.claims ?? {}) } };
}

function loadClients() {
  const raw = opts.client ? JSON.parse(opts.client) : {
    client_id: 'deskbroker',
    client_secret: 'deskbroker-secret',
    redirect_uris: ['http://127.0.0.1:5000/api/auth/authorize'],
  };
  return (Array.isArray(raw) ? raw : [raw]).map((c) => ({
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    ...c,
  }));
}

function loadKeys() {
  const path = opts['keys-file'];
  if (path && existsSync(path)) return JSON.parse(readFileSync(path, 'utf8'));
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keys = {
    jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), use: 'sig', alg: 'RS256' }] },
    cookieKeys: [randomBytes(32).toString('hex')],
  };
  if (path) writeFileSync(path, JSON.stringify(keys), { mode: 0o600 });
  return keys;
}

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage({ uid, clientId, loginHint, error }) {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Test IdP: sign in</title></head>
<body>
<main>
<h1>Test IdP: sign in</h1>
<p>to continue to <b id="client">${escapeHtml(clientId)}</b></p>
${error ? `<p id="error" class="error" role="alert">${escapeHtml(error)}</p>` : ''}
<form id="login-form" method="post" action="/interaction/${escapeHtml(uid)}/login" autocomplete="off">
  <input type="hidden" name="prompt" value="login">
  <label>Username <input type="text" name="login" id="login" required value="${escapeHtml(loginHint ?? '')}" autofocus></label>
  <label>Password <input type="password" name="password" id="password" required></label>
  <button type="submit" id="submit">Sign in</button>
</form>
<form id="abort-form" method="post" action="/interaction/${escapeHtml(uid)}/abort">
  <button type="submit" id="abort">Cancel</button>
</form>
</main>
</body>
</html>`;
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function send(res, status, type, body) {
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Cache-Control', 'no-store');
  res.end(body);
}

// Finds or creates the client's grant and adds whatever the request asks for, so the consent
// prompt never shows (a test IdP for a first-party app).
async function grantEverything(provider, ctx) {
  const { oidc } = ctx;
  const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
  let grant = grantId ? await provider.Grant.find(grantId) : undefined;
  if (!grant) grant = new provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.session.accountId });
  const scope = [...oidc.requestParamOIDCScopes].join(' ');
  if (scope) grant.addOIDCScope(scope);
  if (oidc.requestParamClaims.size) grant.addOIDCClaims([...oidc.requestParamClaims]);
  await grant.save();
  return grant;
}

async function main() {
  // The issuer needs the port, which with --port 0 is known only after listen(); requests
  // that arrive before the provider exists (none should) get 503.
  let handler = (req, res) => send(res, 503, 'text/plain', 'starting');
  const server = createServer((req, res) => {
    const started = Date.now();
    res.on('finish', () => log(`${req.method} ${req.url.split('?')[0]} ${res.statusCode} ${Date.now() - started}ms`));
    Promise.resolve(handler(req, res)).catch((err) => {
      log(`handler error: ${err?.stack ?? err}`);
      if (!res.headersSent) send(res, 500, 'text/plain', 'internal error');
    });
  });
  const port = Number(opts.port);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const issuer = `http://127.0.0.1:${server.address().port}`;

  const { default: Provider } = await import('oidc-provider');
  const keys = loadKeys();
  const provider = new Provider(issuer, {
    clients: loadClients(),
    jwks: keys.jwks,
    cookies: {
      keys: keys.cookieKeys,
      // Prefixed so they never clash with the broker's cookies: cookies ignore ports, and the
      // broker runs on the same 127.0.0.1. SameSite=None (the default for `long`) needs Secure,
      // which plain http can't have, so Chromium would drop it: use Lax.
      names: { session: 'op_session', interaction: 'op_interaction', resume: 'op_interaction_resume' },
      long: { httpOnly: true, sameSite: 'lax', signed: true },
      short: { httpOnly: true, sameSite: 'lax', signed: true },
    },
    async findAccount(ctx, id) {
      const account = lookupAccount(id);
      if (!account) return undefined;
      return {
        accountId: id,
        async claims() { return { ...account.claims }; },
      };
    },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'groups', 'uuid', 'roles'],
    claims: {
      openid: ['sub'],
      // uuid is also under profile so it arrives whether or not the client asks for `uuid`.
      profile: ['name', 'given_name', 'family_name', 'preferred_username', 'nickname', 'picture', 'locale', 'uuid'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
      uuid: ['uuid'],
      roles: ['roles'],
    },
    conformIdTokenClaims: false,
    // Explicit, so oidc-provider doesn't print notices about its defaults (all in seconds).
    ttl: { Interaction: 600, Session: 3600, Grant: 3600, AuthorizationCode: 60, AccessToken: 3600, IdToken: 3600 },
    pkce: { methods: ['S256'], required: () => opts['require-pkce'] },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    loadExistingGrant: (ctx) => grantEverything(provider, ctx),
    clientBasedCORS: () => true,
    renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Test IdP error</title></head><body>
<h1>Test IdP error</h1><p id="error">${escapeHtml(out.error)}</p><p id="error_description">${escapeHtml(out.error_description ?? '')}</p></body></html>`;
    },
  });
  provider.on('server_error', (ctx, err) => log(`server_error: ${err?.stack ?? err}`));
  for (const event of ['authorization.error', 'grant.error', 'userinfo.error', 'end_session.error']) {
    provider.on(event, (ctx, err) => log(`${event}: ${err.error ?? err.name}: ${err.error_description ?? err.message}`));
  }

  const oidcCallback = provider.callback();
  handler = async (req, res) => {
    const m = req.url.match(/^\/interaction\/([^/?]+)(\/(login|abort))?(\?.*)?$/);
    if (!m) return oidcCallback(req, res);
    const action = m[3];
    let details;
    try {
      details = await provider.interactionDetails(req, res);
    } catch (err) {
      return send(res, 400, 'text/html', `<!DOCTYPE html><p id="error">interaction expired or not found: ${escapeHtml(err.message)}</p>`);
    }
    const { uid, prompt, params } = details;
    if (action === 'abort' && req.method === 'POST') {
      return provider.interactionFinished(req, res, {
        error: 'access_denied', error_description: 'End-User aborted interaction',
      }, { mergeWithLastSubmission: false });
    }
    if (prompt.name === 'consent') {
      // Only reached with prompt=consent; grantEverything has added what was asked for.
      const grant = await provider.Grant.find(details.grantId);
      return provider.interactionFinished(req, res, { consent: { grantId: grant ? grant.jti : undefined } }, { mergeWithLastSubmission: true });
    }
    if (action === 'login' && req.method === 'POST') {
      const form = await readForm(req);
      const login = form.get('login') ?? '';
      const account = lookupAccount(login);
      if (!account || form.get('password') !== account.password) {
        log(`login failed for ${JSON.stringify(login)}`);
        return send(res, 401, 'text/html', loginPage({
          uid, clientId: params.client_id, loginHint: login, error: 'Unknown account or wrong password.',
        }));
      }
      return provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
    }
    return send(res, 200, 'text/html', loginPage({ uid, clientId: params.client_id, loginHint: params.login_hint }));
  };

  const stop = () => { server.close(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdout.write(`READY ${issuer}\n`);
}

main().catch((err) => {
  log(`failed to start: ${err?.stack ?? err}`);
  process.exit(1);
});
