// A Laravel-Passport-like token server for the tenantauth interop suite,
// built on @jmondi/oauth2-server (a TypeScript port of league/oauth2-server,
// the library Passport wraps) with express:
//
//   POST /oauth/token                  token endpoint (JSON or form bodies)
//   GET  /api/*                        protected resource (auth:api)
//   POST /admin/revoke-all             drop every token ("after an upgrade all tokens are dropped")
//   GET  /admin/stats, POST /admin/reset
//
// Grants: password, client_credentials and refresh_token; a refresh revokes
// the old access and refresh token (rotation), as league/oauth2-server does.
// Repositories are in memory. The server binds to 127.0.0.1 only and prints
// "LISTENING <port>" on stdout when ready.
//
// Flags: --port N (0: any free port), --access-ttl SECONDS, --refresh-ttl
// SECONDS, --no-refresh (no refresh tokens), --no-password (the password
// grant is disabled, as in Passport 12 by default).

import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { parseArgs } from 'node:util';

import express from 'express';
import { AuthorizationServer, DateInterval, JwtService, OAuthException } from '@jmondi/oauth2-server';
import { handleExpressError, handleExpressResponse, requestFromExpress } from '@jmondi/oauth2-server/express';

import { Stats, bearerToken, exitWithParent, listen } from './common.mjs';

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'access-ttl': { type: 'string', default: '300' },
    'refresh-ttl': { type: 'string', default: '1800' },
    'no-refresh': { type: 'boolean', default: false },
    'no-password': { type: 'boolean', default: false },
  },
});

const accessTTL = Number(opts['access-ttl']);
const refreshTTL = Number(opts['refresh-ttl']);
if (!(accessTTL > 0) || !(refreshTTL > 0)) {
  throw new Error('--access-ttl and --refresh-ttl must be positive numbers of seconds');
}

const stats = new Stats();
const newID = () => randomBytes(20).toString('hex');

// The HubSoft document's client: id "3", password grant, e-mail usernames.
const CLIENTS = new Map([
  ['3', {
    id: '3',
    name: 'hubsoft-integration',
    secret: 'hubsoft-client-secret-0123456789',
    redirectUris: [],
    allowedGrants: ['password', 'client_credentials', 'refresh_token'],
    scopes: [],
  }],
]);

const USERS = new Map([
  ['ops@hubsoft.test', { id: 101, email: 'ops@hubsoft.test', password: 'ops-password' }],
  ['noc@hubsoft.test', { id: 102, email: 'noc@hubsoft.test', password: 'noc-password' }],
]);

const SCOPES = new Map([['*', { name: '*' }], ['read', { name: 'read' }]]);

const clientRepository = {
  async getByIdentifier(clientId) {
    const c = CLIENTS.get(String(clientId));
    if (!c) throw OAuthException.invalidClient('Client not found');
    return c;
  },
  async isClientValid(grantType, client, clientSecret) {
    return client.allowedGrants.includes(grantType) && client.secret === clientSecret;
  },
};

const userRepository = {
  async getUserByCredentials(identifier, password) {
    const u = USERS.get(String(identifier));
    if (!u || u.password !== password) return undefined;
    return { id: u.id, email: u.email };
  },
};

const scopeRepository = {
  async getAllByIdentifiers(names) {
    return names.filter((n) => SCOPES.has(n)).map((n) => SCOPES.get(n));
  },
  async finalize(scopes) {
    return scopes;
  },
};

// Tokens, by access token id (the JWT's jti) and by refresh token id.
const byAccess = new Map();
const byRefresh = new Map();
const refreshSeen = new Map();

const tokenRepository = {
  async issueToken(client, scopes, user) {
    return {
      accessToken: newID(),
      accessTokenExpiresAt: new Date(Date.now() + accessTTL * 1000),
      client,
      user,
      scopes,
      revoked: false,
    };
  },
  async issueRefreshToken(token, client) {
    if (opts['no-refresh'] || !client.allowedGrants.includes('refresh_token') || !token.user) {
      return token;
    }
    token.refreshToken = newID();
    token.refreshTokenExpiresAt = new Date(Date.now() + refreshTTL * 1000);
    byRefresh.set(token.refreshToken, token);
    return token;
  },
  async persist(token) {
    byAccess.set(token.accessToken, token);
  },
  // Called with the old token when a refresh token is exchanged: Passport
  // revokes both the old access token and its refresh token.
  async revoke(token) {
    token.revoked = true;
  },
  async isRefreshTokenRevoked(token) {
    // Every presentation of a refresh token passes here once; a second one
    // means a client used a rotated refresh token again.
    const n = (refreshSeen.get(token.refreshToken) || 0) + 1;
    refreshSeen.set(token.refreshToken, n);
    if (n > 1) stats.refreshReuse();
    return token.revoked || !token.refreshTokenExpiresAt || token.refreshTokenExpiresAt <= new Date();
  },
  async getByRefreshToken(refreshTokenId) {
    const t = byRefresh.get(refreshTokenId);
    if (!t) throw OAuthException.invalidParameter('refresh_token', 'Token has been revoked');
    return t;
  },
  async getByAccessToken(accessTokenId) {
    const t = byAccess.get(accessTokenId);
    if (!t) throw OAuthException.invalidParameter('token', 'Token not found');
    return t;
  },
};

const jwt = new JwtService(`interop-signing-key-${newID()}`);
const authorizationServer = new AuthorizationServer(clientRepository, tokenRepository, scopeRepository, jwt, {
  requiresPKCE: false,
});
const ttl = new DateInterval(`${accessTTL}s`);
authorizationServer.enableGrantType('client_credentials', ttl);
authorizationServer.enableGrantType('refresh_token', ttl);
if (!opts['no-password']) {
  authorizationServer.enableGrantType({ grant: 'password', userRepository }, ttl);
}

const app = express();
app.use(express.json({ limit: '16kb' }));
app.use(express.urlencoded({ extended: false, limit: '16kb' }));

app.post('/oauth/token', async (req, res) => {
  const grant = req.body?.grant_type;
  try {
    const oauthResponse = await authorizationServer.respondToAccessTokenRequest(requestFromExpress(req));
    stats.token(grant, null);
    handleExpressResponse(res, oauthResponse);
  } catch (e) {
    stats.token(grant, e?.errorType || 'server_error');
    if (!e?.errorType) process.stderr.write(`token endpoint: ${e?.stack || e}\n`);
    handleExpressError(e, res);
  }
});

// auth:api: a JWT signed by this server whose token record exists, is not
// revoked and has not expired. Laravel answers 401 {"message":"Unauthenticated."}.
app.get('/api/{*rest}', async (req, res) => {
  const raw = bearerToken(req);
  let token;
  if (raw) {
    try {
      const claims = await jwt.verify(raw);
      token = byAccess.get(claims.jti);
    } catch {
      token = undefined;
    }
  }
  if (!token || token.revoked || token.accessTokenExpiresAt <= new Date()) {
    stats.api(false);
    res.status(401).json({ message: 'Unauthenticated.' });
    return;
  }
  stats.api(true);
  res.json({ ok: true, client_id: token.client.id, user: token.user?.email ?? null, path: req.path });
});

app.post('/admin/revoke-all', (_req, res) => {
  const dropped = byAccess.size;
  byAccess.clear();
  byRefresh.clear();
  res.json({ dropped });
});
app.get('/admin/stats', (_req, res) => res.json(stats.snapshot()));
app.post('/admin/reset', (_req, res) => {
  stats.reset();
  res.json({ ok: true });
});

const server = http.createServer(app);
const port = await listen(server, Number(opts.port));
exitWithParent(server);
console.log(`LISTENING ${port}`);
