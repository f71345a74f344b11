// tests/e2e/exposure.mjs — `ctxd serve` reached from beyond this machine:
//   hosts: with --host 0.0.0.0, ALLOWED_HOSTS and ALLOWED_ORIGINS, the listed names and
//          origins are answered and others get 403 naming the header and its value;
//          without ALLOWED_HOSTS a warning says how to allow more; * allows any Host;
//          malformed lists stop the server at start-up naming the variable;
//   tls:   with HTTP_TLS_CERT_FILE and HTTP_TLS_KEY_FILE (a certificate made here with
//          openssl), /health and MCP initialize answer over HTTPS checked against that
//          certificate, plain HTTP gets no answer; a key readable by others, a key of
//          another certificate, or one file without the other stop the server at
//          start-up with the reason.
// Usage: node exposure.mjs <ctxd> hosts | tls.
// Must not: sleep for timing, leave processes or files behind; listen beyond loopback
// for longer than the test (0.0.0.0 is bound, only 127.0.0.1 is used).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import { API_KEY, JWT_SECRET, selfSignedCert, startServe, withBackend } from './lib.mjs';

const bin = process.argv[2];
const mode = process.argv[3];
const GUARD_MS = 30000;
const initBody = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'e2e', version: '1' } } });

function request(mod, srv, { method = 'GET', path = '/health', headers = {}, body, ca } = {}) {
  return new Promise((resolve, reject) => {
    const req = mod.request({ host: '127.0.0.1', port: srv.port, method, path, headers, ca,
      servername: 'localhost', agent: false, timeout: GUARD_MS }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in ${GUARD_MS} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

// `ctxd serve` that must refuse to start: its exit code and stderr.
function refused(env, args = []) {
  const r = spawnSync(bin, ['serve', '--port', '0', ...args], {
    env: { ...process.env, API_KEY, JWT_SECRET_KEY: JWT_SECRET, LOG_LEVEL: 'info', ...env },
    encoding: 'utf8', timeout: GUARD_MS });
  return { code: r.status, err: r.stderr };
}

async function hosts({ url }) {
  const env = { DATABASE_URL: url, ALLOWED_HOSTS: 'ctxd.example, 10.1.2.3,[fd00::5]',
                ALLOWED_ORIGINS: 'https://app.example:8443' };
  const srv = await startServe(bin, { env, args: ['--host', '0.0.0.0'] });
  try {
    const h = (host, extra = {}) => request(http, srv, { headers: { Host: host, ...extra } });
    assert.equal((await h(`ctxd.example:${srv.port}`)).status, 200, 'a listed name');
    assert.equal((await h('CTXD.EXAMPLE')).status, 200, 'names compare without case');
    assert.equal((await h(`10.1.2.3:${srv.port}`)).status, 200, 'a listed address');
    assert.equal((await h(`[fd00::5]:${srv.port}`)).status, 200, 'a listed IPv6 address');
    assert.equal((await h(`localhost:${srv.port}`)).status, 200, 'loopback names stay allowed');
    let r = await h('evil.example');
    assert.equal(r.status, 403);
    assert.match(JSON.parse(r.text).error.message, /Host 'evil\.example' is not a host name/);
    assert.equal((await h('ctxd.example.evil.example')).status, 403, 'a suffix is not the name');
    r = await h('localhost', { Origin: 'https://app.example:8443' });
    assert.equal(r.status, 200, 'a listed origin');
    r = await h('localhost', { Origin: 'https://app.example:9999' });
    assert.equal(r.status, 403, 'the same host on another port is another origin');
    assert.match(JSON.parse(r.text).error.message, /Origin 'https:\/\/app\.example:9999'/);
    assert.equal((await h('localhost', { Origin: 'http://ctxd.example' })).status, 200,
      'an origin on an allowed host');
    // MCP itself on an allowed name
    r = await request(http, srv, { method: 'POST', path: '/mcp', body: initBody, headers: {
      Host: 'ctxd.example', 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' } });
    assert.equal(r.status, 200, r.text);
    assert.ok(r.headers['mcp-session-id']);
    assert.doesNotMatch(srv.stderr(), /set ALLOWED_HOSTS/, 'no warning when names are listed');
  } finally {
    assert.equal(await srv.stop(), 0);
  }
  // every address, no names: loopback only, and a warning says what to set
  const bare = await startServe(bin, { env: { DATABASE_URL: url }, args: ['--host', '0.0.0.0'] });
  try {
    assert.equal((await request(http, bare, { headers: { Host: 'ctxd.example' } })).status, 403);
    assert.match(bare.stderr(), /only requests for localhost.*set ALLOWED_HOSTS/);
  } finally {
    assert.equal(await bare.stop(), 0);
  }
  const any = await startServe(bin, { env: { DATABASE_URL: url, ALLOWED_HOSTS: '*' } });
  try {
    assert.equal((await request(http, any, { headers: { Host: 'anything.example' } })).status, 200);
    assert.match(any.stderr(), /ALLOWED_HOSTS=\*: any Host is answered/);
  } finally {
    assert.equal(await any.stop(), 0);
  }
  for (const [v, val, why] of [['ALLOWED_HOSTS', 'http://ctxd.example/', /ALLOWED_HOSTS: 'http:\/\/ctxd\.example\/' is not a host name/],
                               ['ALLOWED_HOSTS', 'ctxd.example:8080', /is not a host name/],
                               ['ALLOWED_HOSTS', 'a b', /ALLOWED_HOSTS: 'a b'/],
                               ['ALLOWED_ORIGINS', 'app.example', /ALLOWED_ORIGINS: 'app\.example' is not an origin/],
                               ['ALLOWED_ORIGINS', 'https://app.example/path', /is not an origin/],
                               ['ALLOWED_HOSTS', Array.from({ length: 65 }, (_, i) => `h${i}.example`).join(','), /more than 64 entries/]]) {
    const r = refused({ DATABASE_URL: url, [v]: val });
    assert.notEqual(r.code, 0, `${v}=${val} must stop the server`);
    assert.match(r.err, why);
  }
}

async function tls({ url, dir }) {
  const cert = join(dir, 'cert.pem'), key = join(dir, 'key.pem');
  const other = join(dir, 'other.pem'), otherCert = join(dir, 'other-cert.pem');
  selfSignedCert(key, cert);
  selfSignedCert(other, otherCert);
  const ca = readFileSync(cert);
  const srv = await startServe(bin, { env: { DATABASE_URL: url, HTTP_TLS_CERT_FILE: cert, HTTP_TLS_KEY_FILE: key } });
  try {
    assert.match(srv.url, /^https:\/\/127\.0\.0\.1:\d+\/mcp$/, 'the ready line says https');
    let r = await request(https, srv, { ca });
    assert.equal(r.status, 200, 'GET /health over HTTPS, certificate verified');
    assert.equal(JSON.parse(r.text).status, 'healthy');
    r = await request(https, srv, { ca, method: 'POST', path: '/mcp', body: initBody, headers: {
      'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'X-API-Key': API_KEY } });
    assert.equal(r.status, 200, r.text);
    assert.ok(r.headers['mcp-session-id']);
    await assert.rejects(request(https, srv, { ca: readFileSync(otherCert) }), 'another certificate is not trusted');
    const plain = await request(http, srv).then((x) => x.status, () => 'no answer');
    assert.notEqual(plain, 200, 'plain HTTP is not served on the TLS port');
  } finally {
    assert.equal(await srv.stop(), 0);
  }
  chmodSync(key, 0o644);
  let r = refused({ DATABASE_URL: url, HTTP_TLS_CERT_FILE: cert, HTTP_TLS_KEY_FILE: key });
  assert.notEqual(r.code, 0);
  assert.match(r.err, /HTTP_TLS_KEY_FILE: '.*key\.pem' is readable by group or others \(mode 644\): chmod 600 it/);
  assert.doesNotMatch(r.err, /BEGIN/, 'the key is never echoed');
  chmodSync(key, 0o600);
  r = refused({ DATABASE_URL: url, HTTP_TLS_CERT_FILE: cert, HTTP_TLS_KEY_FILE: other });
  assert.notEqual(r.code, 0);
  assert.match(r.err, /the key in '.*other\.pem' does not belong to the certificate/);
  r = refused({ DATABASE_URL: url, HTTP_TLS_CERT_FILE: cert });
  assert.match(r.err, /HTTP_TLS_CERT_FILE and HTTP_TLS_KEY_FILE go together/);
  r = refused({ DATABASE_URL: url, HTTP_TLS_CERT_FILE: key, HTTP_TLS_KEY_FILE: key });
  assert.match(r.err, /HTTP_TLS_CERT_FILE: no PEM certificate in/);
  r = refused({ DATABASE_URL: url, HTTP_TLS_CERT_FILE: join(dir, 'missing.pem'), HTTP_TLS_KEY_FILE: key });
  assert.match(r.err, /HTTP_TLS_CERT_FILE: cannot open '.*missing\.pem'/);
}

const modes = { hosts, tls };
if (!modes[mode]) { console.error('usage: exposure.mjs <ctxd> hosts|tls'); process.exit(2); }
await withBackend('sqlite', modes[mode]);
console.log(`exposure ${mode}: ok`);
