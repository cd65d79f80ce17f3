// A Keycloak-like token server for the tenantauth interop suite, built on
// oidc-provider (panva, OpenID Certified). It serves Keycloak's paths:
//
//   GET  /realms/{realm}/.well-known/openid-configuration      discovery (issuer: /realms/{realm})
//   POST /realms/{realm}/protocol/openid-connect/token         token endpoint
//   POST /realms/{realm}/protocol/openid-connect/revoke        RFC 7009 revocation
//   GET  /api/*                                                protected resource
//   POST /admin/revoke-all                                     drop every issued token
//   GET  /admin/stats, POST /admin/reset                       counters for the tests
//
// Grants: client_credentials (built in), refresh_token with rotation (built
// in), and password (registered here with provider.registerGrantType, as
// oidc-provider does not ship it). A client_credentials request may name one
// API with an RFC 8707 resource indicator (RESOURCE below). Everything is in
// memory and the server binds to 127.0.0.1 only. It prints
// "LISTENING <port>" on stdout when ready.
//
// Flags: --port N (0: any free port), --realm NAME, --access-ttl SECONDS,
// --refresh-ttl SECONDS, --no-refresh (password grant issues no refresh
// token), --no-rotate (refresh tokens are reusable), --client-jwk JSON (the
// public JWK, with its kid, of the private_key_jwt client tenantauth-pkjwt,
// which exists only with this flag; the Go tests generate the key pair).
//
// RFC 8705 (mutual TLS), all opt-in: --tls-cert PATH --tls-key PATH serve
// HTTPS (PEM files; the issuer is then https://…) and ask every client for
// a certificate without requiring one (requestCert, rejectUnauthorized
// false), so that oidc-provider's features.mTLS decides.
// --tls-client-ca PATH is the CA (PEM) whose certificates tls_client_auth
// accepts. --mtls-client ID=PATH (repeatable) registers a
// self_signed_tls_client_auth client whose certificate (PEM) is at PATH;
// --pki-client ID=DN (repeatable) a tls_client_auth client whose
// certificate, issued by --tls-client-ca, has the subject DN (RFC 4514,
// as Go's pkix.Name.String writes it). Both get certificate-bound tokens
// (cnf x5t#S256). These flags need --tls-cert.
//
// RFC 9449 (DPoP), opt-in: --dpop enables features.dPoP and registers two
// client_secret_basic clients, tenantauth-dpop (no nonce needed) and
// tenantauth-dpop-nonce (its token requests need a server-provided nonce:
// the first proof without one is answered 400 use_dpop_nonce).

import { X509Certificate, generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { parseArgs } from 'node:util';

import express from 'express';
import Provider, { errors } from 'oidc-provider';

import { Stats, bearerToken, exitWithParent, listen } from './common.mjs';

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    realm: { type: 'string', default: 'fluencypass' },
    'access-ttl': { type: 'string', default: '300' },
    'refresh-ttl': { type: 'string', default: '1800' },
    'no-refresh': { type: 'boolean', default: false },
    'no-rotate': { type: 'boolean', default: false },
    'client-jwk': { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'tls-client-ca': { type: 'string' },
    'mtls-client': { type: 'string', multiple: true, default: [] },
    'pki-client': { type: 'string', multiple: true, default: [] },
    dpop: { type: 'boolean', default: false },
  },
});

const accessTTL = Number(opts['access-ttl']);
const refreshTTL = Number(opts['refresh-ttl']);
if (!(accessTTL > 0) || !(refreshTTL > 0)) {
  throw new Error('--access-ttl and --refresh-ttl must be positive numbers of seconds');
}

// Static resource owners. Keycloak's password grant checks these.
const USERS = new Map([
  ['ana@fluencypass.test', { sub: 'user-ana', password: 'ana-password' }],
  ['bruno@fluencypass.test', { sub: 'user-bruno', password: 'bruno-password' }],
]);

// Confidential clients: one authenticates with client_secret_post (the
// Fluencypass document sends the secret in the form), one with
// client_secret_basic.
const CLIENTS = [
  {
    client_id: 'tenantauth-post',
    client_secret: 'post-secret-0123456789',
    token_endpoint_auth_method: 'client_secret_post',
    grant_types: ['password', 'client_credentials', 'refresh_token'],
    response_types: [],
    redirect_uris: [],
  },
  {
    client_id: 'tenantauth-basic',
    client_secret: 'basic-secret-0123456789',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['password', 'client_credentials', 'refresh_token'],
    response_types: [],
    redirect_uris: [],
  },
  // client_secret_jwt (OpenID Connect Core §9): an HS256 assertion MACed
  // with this secret, which never crosses the wire. 32 bytes or more, as
  // RFC 7518 §3.2 requires of an HS256 key.
  {
    client_id: 'tenantauth-csjwt',
    client_secret: 'csjwt-secret-0123456789abcdef0123456789',
    token_endpoint_auth_method: 'client_secret_jwt',
    token_endpoint_auth_signing_alg: 'HS256',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
  },
];

// private_key_jwt (RFC 7523 §2.2): an assertion signed by the client's
// private key; the server holds only the public JWK given with --client-jwk,
// and the alg its key type calls for.
if (opts['client-jwk']) {
  const clientJWK = JSON.parse(opts['client-jwk']);
  const alg = { OKP: 'EdDSA', EC: 'ES256', RSA: 'RS256' }[clientJWK.kty];
  if (!alg || !clientJWK.kid || 'd' in clientJWK) {
    throw new Error('--client-jwk must be a public OKP, EC or RSA JWK with a kid');
  }
  CLIENTS.push({
    client_id: 'tenantauth-pkjwt',
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: alg,
    jwks: { keys: [clientJWK] },
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
  });
}

// Mutual TLS clients (RFC 8705 §2). "ID=VALUE", split at the first "=".
function idValue(flag, s) {
  const i = s.indexOf('=');
  if (i <= 0 || i === s.length - 1) throw new Error(`--${flag} wants ID=VALUE, got ${JSON.stringify(s)}`);
  return [s.slice(0, i), s.slice(i + 1)];
}
const tls = Boolean(opts['tls-cert'] || opts['tls-key']);
if (tls && !(opts['tls-cert'] && opts['tls-key'])) {
  throw new Error('--tls-cert and --tls-key go together');
}
if (!tls && (opts['tls-client-ca'] || opts['mtls-client'].length || opts['pki-client'].length)) {
  throw new Error('--tls-client-ca, --mtls-client and --pki-client need --tls-cert and --tls-key');
}
if (opts['pki-client'].length && !opts['tls-client-ca']) {
  throw new Error('--pki-client needs --tls-client-ca');
}
// self_signed_tls_client_auth (§2.2): the client's certificate is
// registered in its jwks as x5c; oidc-provider matches the presented
// certificate's SHA-256 thumbprint against it.
for (const flag of opts['mtls-client']) {
  const [clientId, path] = idValue('mtls-client', flag);
  const cert = new X509Certificate(readFileSync(path));
  CLIENTS.push({
    client_id: clientId,
    token_endpoint_auth_method: 'self_signed_tls_client_auth',
    tls_client_certificate_bound_access_tokens: true,
    jwks: { keys: [{ ...cert.publicKey.export({ format: 'jwk' }), x5c: [cert.raw.toString('base64')] }] },
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
  });
}
// tls_client_auth (§2.1): a certificate from the trusted CA whose subject
// is the registered one.
for (const flag of opts['pki-client']) {
  const [clientId, dn] = idValue('pki-client', flag);
  CLIENTS.push({
    client_id: clientId,
    token_endpoint_auth_method: 'tls_client_auth',
    tls_client_auth_subject_dn: dn,
    tls_client_certificate_bound_access_tokens: true,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
  });
}

// DPoP clients (RFC 9449). tenantauth-dpop-nonce must put a server nonce
// in its proofs (§8); see features.dPoP.requireNonce below.
const DPOP_NONCE_CLIENT = 'tenantauth-dpop-nonce';
if (opts.dpop) {
  for (const clientId of ['tenantauth-dpop', DPOP_NONCE_CLIENT]) {
    CLIENTS.push({
      client_id: clientId,
      client_secret: `${clientId}-secret-0123456789`,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
    });
  }
}

// peerCertificate is the certificate the client presented in this
// connection's TLS handshake, or undefined (node gives {} for none).
function peerCertificate(ctx) {
  const peer = ctx.socket?.getPeerCertificate?.();
  return peer?.raw ? new X509Certificate(peer.raw) : undefined;
}

// rfc4514 renders node's multi-line subject ("O=…\nCN=…", in DER order)
// the way Go's pkix.Name.String does: most specific first, comma-separated.
// Enough for the simple names the tests make (no multi-valued RDNs).
const rfc4514 = (subject) => subject.split('\n').reverse().join(',');

// The one resource server (RFC 8707) a client_credentials token may be
// asked for with resource=RESOURCE; its tokens carry it as aud and may hold
// its scope. Any other resource is refused with invalid_target.
const RESOURCE = 'https://api.interop.test/';
const RESOURCE_SCOPE = 'api:read';

const stats = new Stats();

// MapAdapter is a plain in-memory adapter (oidc-provider's storage
// interface) with one extra: dropAll, for "every token was revoked".
const stores = new Map(); // model name → Map(id → {payload, expiresAt})
const refreshSeen = new Map(); // refresh token id → lookups
class MapAdapter {
  constructor(model) {
    this.model = model;
    if (!stores.has(model)) stores.set(model, new Map());
    this.store = stores.get(model);
  }

  async upsert(id, payload, expiresIn) {
    const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : Infinity;
    this.store.set(id, { payload, expiresAt });
  }

  async find(id) {
    if (this.model === 'RefreshToken') {
      // oidc-provider looks a refresh token up once per refresh request: a
      // second lookup means a client presented a (rotated) refresh token again.
      const n = (refreshSeen.get(id) || 0) + 1;
      refreshSeen.set(id, n);
      if (n > 1) stats.refreshReuse();
    }
    const e = this.store.get(id);
    if (!e) return undefined;
    if (e.expiresAt <= Date.now()) {
      this.store.delete(id);
      return undefined;
    }
    return e.payload;
  }

  async findByUid(uid) {
    for (const [id, e] of this.store) if (e.payload.uid === uid) return this.find(id);
    return undefined;
  }

  async findByUserCode(userCode) {
    for (const [id, e] of this.store) if (e.payload.userCode === userCode) return this.find(id);
    return undefined;
  }

  async consume(id) {
    const e = this.store.get(id);
    if (e) e.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    this.store.delete(id);
  }

  async revokeByGrantId(grantId) {
    for (const [id, e] of this.store) if (e.payload.grantId === grantId) this.store.delete(id);
  }

  static dropAll(models) {
    let n = 0;
    for (const m of models) {
      const s = stores.get(m);
      if (s) {
        n += s.size;
        s.clear();
      }
    }
    return n;
  }
}

const app = express();
// With --tls-cert: HTTPS that asks for a client certificate but lets the
// handshake succeed without one or with an untrusted one; socket.authorized
// then says whether it chains to --tls-client-ca.
const server = tls
  ? https.createServer({
    cert: readFileSync(opts['tls-cert']),
    key: readFileSync(opts['tls-key']),
    ...(opts['tls-client-ca'] ? { ca: readFileSync(opts['tls-client-ca']) } : {}),
    requestCert: true,
    rejectUnauthorized: false,
  }, app)
  : http.createServer(app);
const port = await listen(server, Number(opts.port));
const base = `/realms/${opts.realm}`;
const mount = `${base}/protocol/openid-connect`;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'interop', use: 'sig', alg: 'RS256' };

const provider = new Provider(`${tls ? 'https' : 'http'}://127.0.0.1:${port}${base}`, {
  adapter: MapAdapter,
  clients: CLIENTS,
  jwks: { keys: [jwk] },
  cookies: { keys: ['interop-cookie-key-not-secret'] },
  scopes: ['openid', 'offline_access', 'profile', 'email'],
  routes: { token: '/token', revocation: '/revoke', introspection: '/token/introspect' },
  // oidc-provider's default list, plus the RFC 8705 methods with --tls-cert.
  clientAuthMethods: [
    'client_secret_basic', 'client_secret_jwt', 'client_secret_post', 'private_key_jwt', 'none',
    ...(tls ? ['tls_client_auth', 'self_signed_tls_client_auth'] : []),
  ],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
    mTLS: {
      enabled: tls,
      selfSignedTlsClientAuth: tls,
      tlsClientAuth: tls,
      certificateBoundAccessTokens: tls,
      getCertificate: peerCertificate,
      certificateAuthorized: (ctx) => ctx.socket?.authorized === true,
      certificateSubjectMatches: (ctx, property, expected) => {
        const cert = peerCertificate(ctx);
        return property === 'tls_client_auth_subject_dn' && !!cert && rfc4514(cert.subject) === expected;
      },
    },
    dPoP: {
      enabled: opts.dpop,
      // 32 random bytes per run; nonces rotate every 60 s.
      nonceSecret: opts.dpop ? randomBytes(32) : undefined,
      requireNonce: (ctx) => ctx.oidc?.client?.clientId === DPOP_NONCE_CLIENT,
    },
    resourceIndicators: {
      enabled: true,
      getResourceServerInfo: async (_ctx, indicator) => {
        if (indicator !== RESOURCE) throw new errors.InvalidTarget();
        // Opaque, so that the token is in the adapter for /api/* to find.
        return { scope: RESOURCE_SCOPE, audience: RESOURCE, accessTokenFormat: 'opaque', accessTokenTTL: accessTTL };
      },
    },
  },
  findAccount: async (_ctx, sub) => {
    for (const u of USERS.values()) {
      if (u.sub === sub) return { accountId: sub, claims: async () => ({ sub }) };
    }
    return undefined;
  },
  // Keycloak rotates refresh tokens when "Revoke Refresh Token" is on; the
  // suite needs that to prove the Manager never uses one twice.
  rotateRefreshToken: !opts['no-rotate'],
  ttl: {
    AccessToken: accessTTL,
    ClientCredentials: accessTTL,
    RefreshToken: refreshTTL,
    Grant: refreshTTL * 4,
    IdToken: accessTTL,
    Interaction: 600,
    Session: 600,
    AuthorizationCode: 60,
  },
});

// The password grant (RFC 6749 §4.3), the way Keycloak answers it: an access
// token, a refresh token unless disabled, refresh_expires_in and the
// Keycloak-only "not-before-policy".
provider.registerGrantType('password', async (ctx) => {
  const { username, password, scope } = ctx.oidc.params;
  if (!username || !password) {
    throw new errors.InvalidRequest('missing username or password');
  }
  const user = USERS.get(username);
  if (!user || user.password !== password) {
    // Keycloak: {"error":"invalid_grant","error_description":"Invalid user credentials"}
    throw new errors.InvalidGrant('invalid user credentials');
  }
  const { client } = ctx.oidc;
  // Keycloak grants the client's default scopes when none are requested.
  const requested = (scope || '').split(' ').filter(Boolean);
  const scopes = requested.length ? requested : ['profile', 'email'];

  const grant = new provider.Grant({ accountId: user.sub, clientId: client.clientId });
  grant.addOIDCScope(['offline_access', ...scopes].join(' '));
  const grantId = await grant.save();

  const at = new provider.AccessToken({
    accountId: user.sub, client, grantId, gty: 'password', scope: scopes.join(' '),
  });
  const accessToken = await at.save();

  const body = {
    access_token: accessToken,
    expires_in: at.expiration,
    refresh_expires_in: 0,
    token_type: 'Bearer',
    'not-before-policy': 0,
    scope: scopes.join(' '),
  };
  if (!opts['no-refresh'] && client.grantTypeAllowed('refresh_token')) {
    const rt = new provider.RefreshToken({
      accountId: user.sub, client, grantId, gty: 'password', scope: ['offline_access', ...scopes].join(' '), rotations: 0,
    });
    body.refresh_token = await rt.save();
    body.refresh_expires_in = rt.expiration;
  }
  ctx.oidc.entity('AccessToken', at);
  ctx.body = body;
}, ['username', 'password', 'scope']);

provider.on('grant.success', (ctx) => stats.token(ctx.oidc.params?.grant_type, null));
provider.on('grant.error', (ctx, err) => {
  stats.token(ctx.oidc?.params?.grant_type, err.error || 'server_error');
  stats.detail(err.error_detail);
});
provider.on('server_error', (_ctx, err) => process.stderr.write(`server_error: ${err.stack}\n`));

// The protected resource: a Bearer access token issued by this server, not
// expired and not revoked. Tokens from client_credentials are ClientCredentials
// entities in oidc-provider, the others AccessTokens.
app.get('/api/{*rest}', async (req, res) => {
  const token = bearerToken(req);
  let found;
  if (token) {
    found = (await provider.AccessToken.find(token)) || (await provider.ClientCredentials.find(token));
  }
  if (!found) {
    stats.api(false);
    res.set('WWW-Authenticate', 'Bearer realm="interop", error="invalid_token"');
    res.status(401).json({ error: 'invalid_token' });
    return;
  }
  stats.api(true);
  res.json({
    ok: true, client_id: found.clientId, sub: found.accountId ?? null, aud: found.aud ?? null, scope: found.scope ?? null, path: req.path,
  });
});

app.post('/admin/revoke-all', (_req, res) => {
  const dropped = MapAdapter.dropAll(['AccessToken', 'ClientCredentials', 'RefreshToken', 'Grant']);
  res.json({ dropped });
});
app.get('/admin/stats', (_req, res) => res.json(stats.snapshot()));
app.post('/admin/reset', (_req, res) => {
  stats.reset();
  res.json({ ok: true });
});

// OpenID Connect Discovery at the issuer, /realms/{realm}, as Keycloak
// serves it. oidc-provider is mounted below the issuer (at Keycloak's
// protocol/openid-connect), so it serves its document only under the mount;
// this hands the request to it as if it had arrived there, and it names its
// endpoints under the mount (it takes the mount path from originalUrl).
const callback = provider.callback();
app.get(`${base}/.well-known/openid-configuration`, (req, res) => {
  req.originalUrl = `${mount}/.well-known/openid-configuration`;
  req.url = '/.well-known/openid-configuration';
  callback(req, res);
});
app.use(mount, callback);

exitWithParent(server);
console.log(`LISTENING ${port}`);
