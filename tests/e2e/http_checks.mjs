// tests/e2e/http_checks.mjs — raw HTTP checks against the real `ctxd serve`:
//   bad   : malformed JSON, wrong jsonrpc version, unknown method, wrong argument types,
//           a body over the limit, a bad Origin, an unknown session id, a missing or
//           invalid API key on authenticate_agent each get the right JSON-RPC error or
//           HTTP status, and the server keeps answering afterwards;
//   health: GET /health, /health/database and /metrics (checked with `promtool check
//           metrics` when promtool is installed) on SQLite or the mongo fixture, with
//           the backend's pool and operation figures, then SIGTERM ends it with exit 0;
//   down  : on a fresh database of a private PostgreSQL (or MongoDB emulator) server
//           this test starts (tests/servers/server.sh) and then stops:
//           /health/database turns 503 while /health still answers;
//   sessions: two MCP sessions on one server authenticate as different agents and each
//           reads agent://{agent_id}/memory as its own agent only; after DELETE a new
//           session does not inherit the ended session's identity;
//   peers : with a rate limit of one call a minute, a second client address is not
//           throttled by the first one's calls (the pre-authentication limit is per peer).
// Usage: node http_checks.mjs <ctxd> bad | health [sqlite|mongo] | down [pg|mongo] |
//        sessions | peers.
// Must not: sleep for timing (polls
// with a deadline), leave processes, files or databases behind, or print secrets.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { API_KEY, startServe, tempDir, withBackend } from './lib.mjs';

const bin = process.argv[2];
const mode = process.argv[3];
const kind = process.argv[4];
// the fixture name -> the backend name the server reports
const DIALECT = { sqlite: 'sqlite', pg: 'postgresql', mongo: 'mongodb' };
const here = dirname(fileURLToPath(import.meta.url));

const step = (m) => { if (process.env.E2E_VERBOSE) console.error(`step: ${m}`); };

function rpcHeaders(sid, headers) {
  const h = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream',
    'MCP-Protocol-Version': '2025-06-18', ...headers };
  if (sid) h['Mcp-Session-Id'] = sid;
  return h;
}

// The JSON-RPC response in a body (JSON, or the response event of an SSE stream).
function rpcBody(contentType, text) {
  if ((contentType || '').includes('text/event-stream')) {
    const datas = text.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).filter(Boolean);
    const msgs = datas.map((d) => JSON.parse(d));
    return msgs.find((m) => 'result' in m || 'error' in m) ?? null;
  }
  if (!text) return null;
  try { return JSON.parse(text); } catch { return null; }
}

async function rpc(srv, body, { sid, headers = {}, raw } = {}) {
  step(raw ? raw.slice(0, 60) : JSON.stringify(body).slice(0, 80));
  const r = await fetch(srv.url, { method: 'POST', headers: rpcHeaders(sid, headers), body: raw ?? JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, json: rpcBody(r.headers.get('content-type'), text), headers: r.headers };
}

// rpc from a given local address (a second client on the loopback network, 127.0.0.2).
function rpcFrom(srv, localAddress, body, { sid, headers = {} } = {}) {
  step(`from ${localAddress}: ${JSON.stringify(body).slice(0, 80)}`);
  return new Promise((resolve, reject) => {
    const req = http.request(srv.url, { method: 'POST', localAddress, headers: rpcHeaders(sid, headers) }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, json: rpcBody(res.headers['content-type'], text),
        sid: res.headers['mcp-session-id'] }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

// POSTs headers announcing a body over the limit; resolves the response status.
function rawPostStatus(srv, sid, size) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(srv.port, '127.0.0.1');
    let data = '';
    sock.on('connect', () => {
      sock.write(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\nContent-Type: application/json\r\n` +
        `Accept: application/json, text/event-stream\r\nMcp-Session-Id: ${sid}\r\nContent-Length: ${size}\r\n\r\n`);
      // no body: the announced length alone must be refused (writing it while the server
      // closes would race a TCP reset against the response)
    });
    sock.on('data', (d) => {
      data += d.toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(data);
      if (m) { resolve(Number(m[1])); sock.destroy(); }
    });
    sock.on('error', (e) => { if (!['EPIPE', 'ECONNRESET'].includes(e.code)) reject(e); });
    sock.on('close', () => reject(new Error(`connection closed without a status: ${JSON.stringify(data.slice(0, 100))}`)));
  });
}

async function initSession(srv, headers = {}) {
  const r = await rpc(srv, { jsonrpc: '2.0', id: 1, method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'e2e', version: '1' } } }, { headers });
  assert.equal(r.status, 200);
  const sid = r.headers.get('mcp-session-id');
  assert.ok(sid);
  const n = await rpc(srv, { jsonrpc: '2.0', method: 'notifications/initialized' }, { sid, headers });
  assert.equal(n.status, 202);
  return sid;
}

async function stillServing(srv, sid) {
  const p = await rpc(srv, { jsonrpc: '2.0', id: 'alive', method: 'ping' }, { sid });
  assert.equal(p.status, 200);
  assert.deepEqual(p.json, { jsonrpc: '2.0', id: 'alive', result: {} });
  const h = await fetch(`${srv.base}/health`);
  assert.equal(h.status, 200);
}

async function badRequests(srv) {
  const sid = await initSession(srv);
  // malformed JSON -> parse error
  let r = await rpc(srv, null, { sid, raw: '{"jsonrpc": "2.0", "id": 1, "method": ' });
  assert.equal(r.status, 400); assert.equal(r.json.error.code, -32700);
  await stillServing(srv, sid);
  // wrong jsonrpc version -> invalid request
  r = await rpc(srv, { jsonrpc: '1.0', id: 2, method: 'ping' }, { sid });
  assert.equal(r.json.error.code, -32600, JSON.stringify(r.json));
  // unknown method
  r = await rpc(srv, { jsonrpc: '2.0', id: 3, method: 'no/such/method' }, { sid });
  assert.equal(r.status, 200); assert.equal(r.json.error.code, -32601); assert.equal(r.json.id, 3);
  // wrong argument types: invalid params (schema) or an INVALID_INPUT envelope
  r = await rpc(srv, { jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'add_message', arguments: { session_id: 42, content: ['x'] } } }, { sid });
  assert.equal(r.status, 200);
  if (r.json.error) assert.equal(r.json.error.code, -32602);
  else { assert.equal(r.json.result.isError, true); assert.match(r.json.result.content[0].text, /session_id/); }
  r = await rpc(srv, { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'no_such_tool', arguments: {} } }, { sid });
  assert.ok(r.json.error ? r.json.error.code === -32602 : r.json.result.isError, JSON.stringify(r.json));
  r = await rpc(srv, { jsonrpc: '2.0', id: 6, method: 'tools/call', params: 'not an object' }, { sid });
  assert.equal(r.json.error.code, -32602);
  // a body over the limit (4 MiB)
  assert.equal(await rawPostStatus(srv, sid, (4 << 20) + 4096), 413);
  await stillServing(srv, sid);
  // a bad Origin (DNS rebinding)
  r = await rpc(srv, { jsonrpc: '2.0', id: 8, method: 'ping' }, { sid, headers: { Origin: 'http://evil.example' } });
  assert.equal(r.status, 403);
  // unknown session id; missing session id
  r = await rpc(srv, { jsonrpc: '2.0', id: 9, method: 'ping' }, { sid: 'ffffffff-ffff-4fff-8fff-ffffffffffff' });
  assert.equal(r.status, 404);
  r = await rpc(srv, { jsonrpc: '2.0', id: 10, method: 'ping' });
  assert.equal(r.status, 400);
  // wrong Content-Type / Accept
  r = await rpc(srv, { jsonrpc: '2.0', id: 11, method: 'ping' }, { sid, headers: { 'Content-Type': 'text/plain' } });
  assert.equal(r.status, 415);
  r = await rpc(srv, { jsonrpc: '2.0', id: 12, method: 'ping' }, { sid, headers: { Accept: 'text/html' } });
  assert.equal(r.status, 406);
  // unsupported method on /mcp
  const put = await fetch(srv.url, { method: 'PUT', body: '{}' });
  assert.equal(put.status, 405);
  // authenticate_agent without / with a wrong API key: an error envelope, no token
  for (const headers of [{}, { 'X-API-Key': 'not-the-key' }, { 'X-API-Key': '' }]) {
    const s2 = await initSession(srv, headers);
    r = await rpc(srv, { jsonrpc: '2.0', id: 13, method: 'tools/call', params: { name: 'authenticate_agent', arguments: { agent_id: 'm', agent_type: 'claude' } } }, { sid: s2, headers });
    assert.equal(r.json.result.isError, true);
    const env = JSON.parse(r.json.result.content[0].text);
    assert.equal(env.success, false); assert.ok(!env.token); assert.ok(env.code);
  }
  // and with the right key it works
  const s3 = await initSession(srv, { 'X-API-Key': API_KEY });
  r = await rpc(srv, { jsonrpc: '2.0', id: 14, method: 'tools/call', params: { name: 'authenticate_agent', arguments: { agent_id: 'ok', agent_type: 'claude' } } }, { sid: s3, headers: { 'X-API-Key': API_KEY } });
  assert.match(JSON.parse(r.json.result.content[0].text).token, /^sct_/);
  // DELETE (with the session's credential) ends the session; using it afterwards is 404
  const del = await fetch(srv.url, { method: 'DELETE', headers: { 'Mcp-Session-Id': s3, 'X-API-Key': API_KEY } });
  assert.ok([200, 204].includes(del.status), `DELETE ${del.status}`);
  r = await rpc(srv, { jsonrpc: '2.0', id: 15, method: 'ping' }, { sid: s3 });
  assert.equal(r.status, 404);
  await stillServing(srv, sid);
}

const initBody = { jsonrpc: '2.0', id: 1, method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'e2e', version: '1' } } };
const authBody = (id, agent) => ({ jsonrpc: '2.0', id, method: 'tools/call',
  params: { name: 'authenticate_agent', arguments: { agent_id: agent, agent_type: 'claude' } } });
const envelope = (r) => JSON.parse(r.json.result.content[0].text);

// resources/read of uri on session sid: the contents' JSON, or {denied: <error code>}.
async function readResource(srv, sid, uri, headers = {}) {
  const r = await rpc(srv, { jsonrpc: '2.0', id: 'read', method: 'resources/read', params: { uri } }, { sid, headers });
  assert.equal(r.status, 200);
  if (r.json.error) return { denied: r.json.error.data?.code ?? String(r.json.error.code) };
  return JSON.parse(r.json.result.contents[0].text);
}

async function sessionIdentity(srv) {
  const key = { 'X-API-Key': API_KEY };
  const sa = await initSession(srv, key);
  const sb = await initSession(srv, key);
  for (const [sid, agent] of [[sa, 'alice'], [sb, 'bob']]) {
    const r = await rpc(srv, authBody(2, agent), { sid, headers: key });
    assert.equal(envelope(r).agent_id, agent, JSON.stringify(r.json));
  }
  // each session reads as its own agent, in both orders
  // (each request presents the key: the session id alone is no credential)
  for (const [sid, own, other] of [[sa, 'alice', 'bob'], [sb, 'bob', 'alice'], [sa, 'alice', 'bob']]) {
    assert.equal((await readResource(srv, sid, `agent://${own}/memory`, key)).agent_id, own);
    assert.deepEqual(await readResource(srv, sid, `agent://${other}/memory`, key), { denied: 'PERMISSION_DENIED' });
  }
  // ending alice's session forgets her identity; bob's session keeps his
  const del = await fetch(srv.url, { method: 'DELETE', headers: { 'Mcp-Session-Id': sa, ...key } });
  assert.equal(del.status, 200);
  const sc = await initSession(srv, key);
  assert.deepEqual(await readResource(srv, sc, 'agent://alice/memory', key), { denied: 'AUTH_FAILED' });
  assert.equal((await readResource(srv, sb, 'agent://bob/memory', key)).agent_id, 'bob');
}

// RATE_LIMIT_PER_MINUTE=1: one authenticate_agent per client address and minute.
async function peerRateLimits(srv) {
  const key = { 'X-API-Key': API_KEY };
  const auth = async (from, id) => {
    const init = await rpcFrom(srv, from, initBody, { headers: key });
    assert.equal(init.status, 200);
    const r = await rpcFrom(srv, from, authBody(id, `agent-${id}`), { sid: init.sid, headers: key });
    assert.equal(r.status, 200);
    return envelope(r);
  };
  assert.equal((await auth('127.0.0.1', 1)).success, true);
  assert.equal((await auth('127.0.0.1', 2)).code, 'RATE_LIMITED');
  // another address has a bucket of its own
  const other = await auth('127.0.0.2', 3);
  assert.equal(other.success, true, JSON.stringify(other));
  assert.equal((await auth('127.0.0.2', 4)).code, 'RATE_LIMITED');
}

async function healthChecks(srv, dialect) {
  const h = await fetch(`${srv.base}/health`);
  assert.equal(h.status, 200);
  const hj = await h.json();
  assert.equal(hj.status, 'healthy');
  assert.ok(!Number.isNaN(Date.parse(hj.timestamp)));
  assert.equal(hj.database.status, 'healthy');
  assert.equal(hj.database.type, dialect);
  assert.equal(typeof hj.database.latency_ms, 'number');
  for (const k of ['size', 'in_use', 'idle', 'waits', 'timeouts']) assert.equal(typeof hj.database.pool[k], 'number', k);
  assert.ok(hj.database.pool.size >= 1, 'pool size');
  assert.ok(hj.server && hj.version);
  const d = await fetch(`${srv.base}/health/database`);
  assert.equal(d.status, 200);
  const dj = await d.json();
  assert.equal(dj.status, 'healthy'); assert.equal(dj.database_type, dialect);
  // some traffic, so the metrics have samples
  const sid = await initSession(srv, { 'X-API-Key': API_KEY });
  await rpc(srv, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'authenticate_agent', arguments: { agent_id: 'm1', agent_type: 'claude' } } }, { sid, headers: { 'X-API-Key': API_KEY } });
  await rpc(srv, { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'get_usage_guidance', arguments: {} } }, { sid });
  const m = await fetch(`${srv.base}/metrics`);
  assert.equal(m.status, 200);
  assert.match(m.headers.get('content-type'), /^text\/plain/);
  const text = await m.text();
  for (const name of ['ctxd_mcp_requests_total', 'ctxd_mcp_request_duration_seconds_bucket', 'ctxd_tool_calls_total{tool="authenticate_agent"} 1',
    'ctxd_tool_latency_seconds', 'ctxd_db_pool_in_use', 'ctxd_db_pool_idle', 'ctxd_db_pool_waits_total',
    'ctxd_db_pool_timeouts_total', 'ctxd_db_statements_total', 'ctxd_db_errors_total{class=']) {
    assert.ok(text.includes(name), `/metrics lacks ${name}`);
  }
  // the traffic above went through the database: its figures moved
  const metric = (n) => Number((new RegExp(`^${n} (\\S+)$`, 'm').exec(text) || [])[1]);
  assert.ok(metric('ctxd_db_statements_total') > 0, 'ctxd_db_statements_total');
  assert.ok(metric('ctxd_db_pool_acquired_total') > 0, 'ctxd_db_pool_acquired_total');
  assert.ok(metric('ctxd_db_pool_created_total') >= 1, 'ctxd_db_pool_created_total');
  assert.equal(metric('ctxd_db_pool_in_use'), 0);
  assert.ok(!text.includes(API_KEY));
  const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (promtool.error && promtool.error.code === 'ENOENT') {
    console.log('promtool not installed: /metrics syntax not checked by promtool');
  } else {
    assert.equal(promtool.status, 0, `promtool check metrics:\n${promtool.stdout}${promtool.stderr}`);
    console.log('promtool check metrics: ok', (promtool.stdout + promtool.stderr).trim());
  }
  const head = await fetch(`${srv.base}/health`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  return sid;
}

// Opens the session's GET SSE stream; resolves {ended}, a promise settled when it ends.
async function openStream(srv, sid) {
  step('opening the GET stream');
  const r = await fetch(srv.url, { headers: { Accept: 'text/event-stream', 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-06-18', 'X-API-Key': API_KEY } });
  assert.equal(r.status, 200);
  step('stream open');
  const reader = r.body.getReader();
  // wrapped: an async function returning a promise would wait for it
  return { ended: (async () => { for (;;) { const { done } = await reader.read(); if (done) return 'ended'; } })().catch(() => 'ended') };
}

async function pollStatus(url, want, ms = 30000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    last = (await fetch(url)).status;
    if (last === want) return;
    await new Promise((r) => setImmediate(r));
  }
  assert.fail(`${url}: wanted ${want}, last ${last}`);
}

if (mode === 'sessions' || mode === 'peers') {
  await withBackend('sqlite', async ({ url }) => {
    const env = { DATABASE_URL: url };
    if (mode === 'peers') Object.assign(env, { RATE_LIMIT_PER_MINUTE: '1', RATE_LIMIT_BURST: '1' });
    const srv = await startServe(bin, { env });
    try {
      if (mode === 'sessions') await sessionIdentity(srv);
      else await peerRateLimits(srv);
    } finally {
      const code = await srv.stop();
      assert.equal(code, 0, `exit ${code}\n${srv.stderr()}`);
    }
  });
} else if (mode === 'bad' || mode === 'health') {
  const backend = mode === 'health' && kind ? kind : 'sqlite';
  await withBackend(backend, async ({ url }) => {
    const srv = await startServe(bin, { env: { DATABASE_URL: url } });
    let stream = null;
    try {
      if (mode === 'bad') await badRequests(srv);
      else stream = await openStream(srv, await healthChecks(srv, DIALECT[backend]));
    } catch (e) {
      console.error(e);
      throw e;
    } finally {
      step('stopping the server');
      const code = await srv.stop();
      assert.equal(code, 0, `exit ${code}\n${srv.stderr()}`);
      assert.ok(srv.stderr().includes('finishing in-flight requests'));
      // graceful shutdown ends open SSE streams (and the process exits 0, checked above)
      if (stream) assert.equal(await stream.ended, 'ended');
      assert.ok(!srv.stderr().includes(API_KEY));
    }
  });
} else if (mode === 'down') {
  // a private server of our own, so stopping it disturbs no other test
  const server = kind || 'pg';
  const state = mkdtempSync(join(tempDir(`e2e-${server}down-`), 's'));
  const sh = join(here, '..', 'servers', 'server.sh');
  const env = { ...process.env };
  delete env.CTXD_TEST_PG_URL;
  delete env.CTXD_TEST_MONGODB_URL;   /* never stop a real MongoDB named by the user */
  execFileSync('bash', [sh, 'start', server, state], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  let srv;
  try {
    process.env.CTXD_TEST_SERVERS = state;
    const { freshDatabase } = await import('./lib.mjs');
    const db = freshDatabase(server);
    srv = await startServe(bin, { env: { DATABASE_URL: db.url, DB_POOL_TIMEOUT: '2' } });
    await healthChecks(srv, DIALECT[server]);
    execFileSync('bash', [sh, 'stop', server, state], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    await pollStatus(`${srv.base}/health/database`, 503);
    const dj = await (await fetch(`${srv.base}/health/database`)).json();
    assert.equal(dj.status, 'unhealthy');
    const h = await fetch(`${srv.base}/health`);
    assert.equal(h.status, 200);
    assert.equal((await h.json()).database.status, 'unhealthy');
    const m = await fetch(`${srv.base}/metrics`);
    assert.equal(m.status, 200);
  } finally {
    if (srv) {
      const code = await srv.stop();
      assert.equal(code, 0, `exit ${code}\n${srv.stderr()}`);
    }
    execFileSync('bash', [sh, 'stop', server, state], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    rmSync(dirname(state), { recursive: true, force: true });
  }
} else {
  console.error('usage: node http_checks.mjs <ctxd> bad | health [sqlite|mongo] | down [pg|mongo] | sessions | peers');
  process.exit(2);
}
console.log(`http_checks ${mode}: all checks passed`);
