// tests/e2e/status.mjs — `ctxd status` against the real `ctxd serve`:
//   up:   after sessions, messages, a token and agent keys made through the MCP tools and
//         `ctxd agent`, status exits 0 and shows the server's version, uptime, live MCP
//         sessions and the database's counts exactly; --json has the documented keys;
//         the configured address (HTTP_PORT) is asked without --url; a 403 (a Host
//         the server does not answer) is reported with its message;
//   down: nothing listening: exit 1 saying "not running" (connection refused), the
//         database part still shown; a listener that never answers: exit 1 on the
//         timeout; a SQLite file that does not exist is reported, not created; a wrong
//         command line: exit 2;
//   tls:  an HTTPS server: up with --cacert, and with HTTP_TLS_CERT_FILE alone (the
//         configured address is then https); without trusting the certificate, or with
//         http:// to it, exit 1 naming the failure.
// Usage: node status.mjs <ctxd> up | down | tls.
// Must not: sleep for timing, leave processes or files behind, or listen beyond loopback.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { API_KEY, agentKey, selfSignedCert, startServe, withBackend } from './lib.mjs';

const bin = process.argv[2];
const mode = process.argv[3];
const GUARD_MS = 30000;

// `ctxd status ARGS` with env on top of a clean one: {code, out, err, json (--json)}.
// Asynchronous: the servers of this process must go on answering meanwhile.
function status(args, env) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) =>
    !/^(HTTP_|DATABASE_|DB_|ALLOWED_|API_KEY|JWT_)/.test(k)));
  const p = spawn(bin, ['status', ...args], { env: { ...clean, LOG_LEVEL: 'warning', ...env },
    stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  p.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
  p.stderr.setEncoding('utf8').on('data', (d) => { err += d; });
  const guard = setTimeout(() => p.kill('SIGKILL'), GUARD_MS);
  return new Promise((resolve, reject) => {
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(guard);
      resolve({ code, out, err, json: args.includes('--json') ? JSON.parse(out) : undefined });
    });
  });
}

const headers = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream',
  'MCP-Protocol-Version': '2025-06-18', 'X-API-Key': API_KEY };
let nextId = 1;

// One JSON-RPC request on the MCP session sid (undefined: initialize one).
async function rpc(srv, sid, method, params) {
  const r = await fetch(srv.url, { method: 'POST', body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params }),
    headers: sid ? { ...headers, 'Mcp-Session-Id': sid } : headers });
  const text = await r.text();
  assert.equal(r.status, 200, `${method}: ${text}`);
  const data = (r.headers.get('content-type') || '').includes('text/event-stream')
    ? JSON.parse(text.split('\n').filter((l) => l.startsWith('data:')).pop().slice(5)) : JSON.parse(text);
  return { sid: r.headers.get('mcp-session-id'), data };
}

async function tool(srv, sid, name, args) {
  const sc = (await rpc(srv, sid, 'tools/call', { name, arguments: args })).data.result?.structuredContent;
  assert.equal(sc?.success, true, `${name}: ${JSON.stringify(sc)}`);
  return sc;
}

const DOCUMENTED = ['status', 'reason', 'problem', 'url', 'version', 'server', 'database', 'version_mismatch'];
const DB_COUNTS = ['sessions', 'messages', 'agents_with_keys', 'agents_revoked', 'tokens'];

async function up({ url }) {
  const env = { DATABASE_URL: url };
  const srv = await startServe(bin, { env });
  try {
    const { sid } = await rpc(srv, undefined, 'initialize',
      { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'e2e', version: '1' } });
    const token = (await tool(srv, sid, 'authenticate_agent', { agent_id: 'st-writer', agent_type: 'claude' })).token;
    const s1 = (await tool(srv, sid, 'create_session', { purpose: 'status one', auth_token: token })).session_id;
    const s2 = (await tool(srv, sid, 'create_session', { purpose: 'status two', auth_token: token })).session_id;
    for (const [s, content] of [[s1, 'a'], [s1, 'b'], [s2, 'c']])
      await tool(srv, sid, 'add_message', { session_id: s, content, auth_token: token });
    agentKey(bin, url, 'st-keyed', 'claude');
    agentKey(bin, url, 'st-gone', 'gemini');
    spawnSync(bin, ['agent', 'revoke', 'st-gone'], { env: { ...process.env, DATABASE_URL: url, LOG_LEVEL: 'warning' } });

    let r = await status(['--url', srv.url], env); // the ready line's URL, /mcp and all
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /^status: +up$/m);
    assert.match(r.out, new RegExp(`^server: +http://127\\.0\\.0\\.1:${srv.port}$`, 'm'));
    assert.match(r.out, /^version: +server \d+\.\d+\.\d+\S*, this ctxd \d+\.\d+\.\d+/m);
    assert.match(r.out, /^uptime: +(\d+[dhm] )*\d+s$/m);
    assert.match(r.out, /^MCP sessions: +1 live \(http\)$/m);
    assert.match(r.out, /^server database: +healthy \(sqlite/m);
    assert.match(r.out, /^database: +sqlite:\/\/\/.*e2e\.db \(sqlite\)$/m);
    assert.match(r.out, /^schema version: +(\d+) \(this ctxd expects \1\)$/m);
    assert.match(r.out, /^sessions: +2$/m);
    assert.match(r.out, /^messages: +3$/m);
    assert.match(r.out, /^agents with keys: +1 \(1 revoked\)$/m);
    assert.match(r.out, /^protected tokens: +1$/m);
    assert.equal(r.err, '', 'no warning: same version, same backend');

    r = await status(['--json'], { ...env, HTTP_PORT: String(srv.port) }); // the configured address
    assert.equal(r.code, 0, r.out + r.err);
    assert.deepEqual(Object.keys(r.json).sort(), [...DOCUMENTED].sort());
    assert.equal(r.json.status, 'up');
    assert.equal(r.json.reason, null);
    assert.equal(r.json.problem, null);
    assert.equal(r.json.url, `http://127.0.0.1:${srv.port}`);
    assert.equal(r.json.version_mismatch, false);
    assert.equal(r.json.server.version, r.json.version);
    assert.equal(r.json.server.reachable, true);
    assert.equal(r.json.server.http_status, 200);
    assert.equal(r.json.server.health, 'healthy');
    assert.equal(r.json.server.transport, 'http');
    assert.equal(r.json.server.mcp_sessions, 1);
    assert.ok(Number.isInteger(r.json.server.uptime_seconds));
    assert.equal(r.json.server.database.status, 'healthy');
    assert.equal(r.json.server.database.backend, 'sqlite');
    assert.equal(r.json.database.backend, 'sqlite');
    assert.equal(r.json.database.schema_version, r.json.database.schema_expected);
    assert.deepEqual(DB_COUNTS.map((k) => r.json.database[k]), [2, 3, 1, 1, 1]);
    assert.ok(!('error' in r.json.database));
  } finally {
    assert.equal(await srv.stop(), 0);
  }
  // every address bound, asked by a name it does not answer: its 403 and reason shown
  const wide = await startServe(bin, { env, args: ['--host', '0.0.0.0'] });
  try {
    const r = await status(['--json', '--url', `http://127.0.0.2:${wide.port}`], env);
    assert.equal(r.code, 1);
    assert.equal(r.json.status, 'unreachable');
    assert.equal(r.json.reason, 'http_status');
    assert.match(r.json.problem, /answers GET \/health with 403: .*Host '127\.0\.0\.2:\d+' is not a host name/);
  } finally {
    assert.equal(await wide.stop(), 0);
  }
}

// A loopback port nothing listens on (one just closed).
async function freePort() {
  const s = net.createServer();
  await new Promise((res) => s.listen(0, '127.0.0.1', res));
  const { port } = s.address();
  await new Promise((res) => s.close(res));
  return port;
}

async function down({ url, dir }) {
  // a database with data and no server
  const srv = await startServe(bin, { env: { DATABASE_URL: url } });
  assert.equal(await srv.stop(), 0);
  agentKey(bin, url, 'st-keyed', 'claude');
  const port = await freePort();
  let r = await status(['--url', `http://127.0.0.1:${port}`], { DATABASE_URL: url });
  assert.equal(r.code, 1, r.out + r.err);
  assert.match(r.out, /^status: +down$/m);
  assert.match(r.out, new RegExp(`^problem: +not running at http://127\\.0\\.0\\.1:${port} \\(connection refused\\)$`, 'm'));
  assert.match(r.out, /^version: +this ctxd \d/m);
  assert.match(r.out, /^sessions: +0$/m, 'the database part is shown with the server down');
  assert.match(r.out, /^agents with keys: +1 \(0 revoked\)$/m);
  r = await status(['--json'], { DATABASE_URL: url, HTTP_PORT: String(port) });
  assert.equal(r.code, 1);
  assert.deepEqual(Object.keys(r.json).sort(), [...DOCUMENTED].sort());
  assert.equal(r.json.status, 'down');
  assert.equal(r.json.reason, 'refused');
  assert.equal(r.json.server.reachable, false);
  assert.equal(r.json.database.agents_with_keys, 1);

  // something listening that never answers: the timeout, not a hang
  const stuck = net.createServer(() => {});
  await new Promise((res) => stuck.listen(0, '127.0.0.1', res));
  try {
    const t0 = Date.now();
    r = await status(['--json', '--timeout', '1', '--url', `http://127.0.0.1:${stuck.address().port}`], { DATABASE_URL: url });
    assert.equal(r.code, 1);
    assert.equal(r.json.status, 'unreachable');
    assert.equal(r.json.reason, 'timeout');
    assert.match(r.json.problem, /no answer from .* within 1 s/);
    assert.ok(Date.now() - t0 < 10000, 'the timeout bounds the wait');
  } finally {
    stuck.close();
  }

  // another HTTP server on the port: its chunked answer read, and not taken for ctxd
  const other = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.write('{"status": ');
    res.end('"healthy"}');
  });
  // and one whose answer has no end: the size bound, not the memory, stops it
  const flood = net.createServer((sock) => {
    sock.on('error', () => {});
    sock.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n');
    const chunk = Buffer.alloc(16384, 'x');
    const pump = () => { while (!sock.destroyed && sock.write(chunk)); };
    sock.on('drain', pump);
    pump();
  });
  await Promise.all([other, flood].map((s) => new Promise((res) => s.listen(0, '127.0.0.1', res))));
  try {
    r = await status(['--json', '--url', `http://127.0.0.1:${other.address().port}/mcp`], { DATABASE_URL: url });
    assert.equal(r.code, 1);
    assert.equal(r.json.reason, 'not_ctxd', r.json.problem);
    assert.match(r.json.problem, /answers GET \/health with 200 but not as ctxd \(no server\.name "ctxd"\)/,
      'the chunked JSON was read whole');
    r = await status(['--json', '--url', `http://127.0.0.1:${flood.address().port}`], { DATABASE_URL: url });
    assert.equal(r.code, 1);
    assert.equal(r.json.reason, 'protocol');
    assert.match(r.json.problem, /an answer larger than 65536 bytes/);
  } finally {
    other.close();
    flood.close();
  }

  // the configured SQLite file does not exist: said, and not created
  const missing = join(dir, 'missing.db');
  r = await status(['--url', `http://127.0.0.1:${port}`], { DATABASE_URL: `sqlite:///${missing}` });
  assert.equal(r.code, 1);
  assert.match(r.out, /^database error: +SQLite file .*missing\.db does not exist$/m);
  assert.equal(existsSync(missing), false, 'status must not create the database');

  for (const args of [['--url', 'ftp://example'], ['--url', 'http://u:p@127.0.0.1:1'], ['--timeout', '0'],
                      ['--timeout', 'x'], ['--bogus'], ['extra'], ['--url']]) {
    r = await status(args, { DATABASE_URL: url });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, /^ctxd: .*(status|--url|--timeout)/, args.join(' '));
    assert.equal(r.out, '');
  }
  r = await status(['--help'], {});
  assert.equal(r.code, 0);
  assert.match(r.out, /^Usage: ctxd status/);
}

async function tls({ url, dir }) {
  const cert = join(dir, 'cert.pem'), key = join(dir, 'key.pem');
  selfSignedCert(key, cert);
  const tlsEnv = { HTTP_TLS_CERT_FILE: cert, HTTP_TLS_KEY_FILE: key };
  const srv = await startServe(bin, { env: { DATABASE_URL: url, ...tlsEnv } });
  try {
    const base = `https://127.0.0.1:${srv.port}`;
    let r = await status(['--url', base, '--cacert', cert], { DATABASE_URL: url });
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /^status: +up$/m);
    r = await status(['--url', `https://localhost:${srv.port}`, '--cacert', cert, '--json'], { DATABASE_URL: url });
    assert.equal(r.code, 0, r.out + r.err);
    // the server's own configuration: https to HTTP_PORT, its certificate trusted
    r = await status(['--json'], { DATABASE_URL: url, ...tlsEnv, HTTP_PORT: String(srv.port) });
    assert.equal(r.code, 0, r.out + r.err);
    assert.equal(r.json.url, base);
    assert.equal(r.json.server.health, 'healthy');

    r = await status(['--url', base, '--json'], { DATABASE_URL: url });
    assert.equal(r.code, 1, 'a certificate nobody trusts');
    assert.equal(r.json.status, 'unreachable');
    assert.equal(r.json.reason, 'tls');
    assert.match(r.json.problem, /certificate verify failed: self-signed certificate .*--cacert/);
    assert.equal(r.json.database.sessions, 0, 'the database part is still shown');

    r = await status(['--url', `http://127.0.0.1:${srv.port}`, '--timeout', '5'], { DATABASE_URL: url });
    assert.equal(r.code, 1, 'plain HTTP to the HTTPS port');
    assert.match(r.out, /^status: +unreachable$/m);

    r = await status(['--url', base, '--cacert', join(dir, 'missing.pem')], { DATABASE_URL: url });
    assert.equal(r.code, 2, 'a --cacert file that cannot be read is a wrong command line');
    assert.match(r.err, /--cacert .*missing\.pem/);
  } finally {
    assert.equal(await srv.stop(), 0);
  }
}

const modes = { up, down, tls };
if (!modes[mode]) { console.error('usage: status.mjs <ctxd> up|down|tls'); process.exit(2); }
await withBackend('sqlite', modes[mode]);
console.log(`status ${mode}: ok`);
