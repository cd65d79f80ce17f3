// Shared helpers of the interop servers: loopback listening, Bearer token
// extraction and the counters the Go tests read from /admin/stats.

// listen binds server to 127.0.0.1 only (never a routable address) and
// resolves with the port, which is the OS's choice when port is 0.
export function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve(server.address().port);
    });
  });
}

// bearerToken returns the token of an "Authorization: Bearer …" header
// (scheme case-insensitive, RFC 6750 §2.1), or undefined.
export function bearerToken(req) {
  const h = req.headers.authorization || '';
  const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(h);
  return m ? m[1] : undefined;
}

// Stats counts token endpoint outcomes per grant and OAuth error code, API
// calls, and refresh tokens presented a second time (rotation reuse).
export class Stats {
  constructor() {
    this.reset();
  }

  reset() {
    this.tokens = {};
    this.errors = {};
    this.details = {};
    this.reuse = 0;
    this.apiOK = 0;
    this.apiUnauthorized = 0;
  }

  token(grant, error) {
    const g = String(grant || 'none');
    const t = (this.tokens[g] ||= { ok: 0, error: 0 });
    if (error) {
      t.error += 1;
      this.errors[error] = (this.errors[error] || 0) + 1;
    } else {
      t.ok += 1;
    }
  }

  // detail counts the server's own reason for a refusal (oidc-provider's
  // error_detail, never sent to the client), so that a test can tell why.
  detail(text) {
    if (text) this.details[text] = (this.details[text] || 0) + 1;
  }

  refreshReuse() {
    this.reuse += 1;
  }

  api(ok) {
    if (ok) this.apiOK += 1;
    else this.apiUnauthorized += 1;
  }

  snapshot() {
    return {
      tokens: this.tokens,
      errors: this.errors,
      details: this.details,
      refresh_reuse: this.reuse,
      api_ok: this.apiOK,
      api_unauthorized: this.apiUnauthorized,
    };
  }
}

// Stop cleanly on SIGTERM/SIGINT and, when INTEROP_WATCH_STDIN=1 (the Go
// harness sets it and holds a pipe open), when stdin closes: then no server
// outlives its test process even if that process is killed.
export function exitWithParent(server) {
  const stop = () => {
    server.close();
    server.closeAllConnections?.();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (process.env.INTEROP_WATCH_STDIN === '1') {
    process.stdin.on('end', stop);
    process.stdin.on('close', stop);
    process.stdin.resume();
  }
}
