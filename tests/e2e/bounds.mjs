// tests/e2e/bounds.mjs — one agent, or one stuck writer, must not stall every tool call
// of the real `ctxd serve` (issue 11; docs/mcp-interface.md "Limits", "HTTP"):
//   writelock : another process holds the SQLite write lock (sqlite_lock.py); 12
//               add_message calls wait for it (every thread of the write lane busy, the
//               rest queued), and a get_messages of another agent is answered before the
//               lock is released; after the release every write succeeds;
//   heavy     : one agent runs 8 searches at threshold 0 over a session of 400
//               messages of 60,000 characters (budgets raised so they run long); its 9th
//               concurrent heavy call is RATE_LIMITED with retry_after, and another
//               agent's get_session is answered while all 8 still run.
// Only the order of answers is asserted; deadlines exist to fail a hung test.
// Usage: node bounds.mjs <ctxd> writelock | heavy
// Must not: sleep for timing (it polls /metrics and waits on answers), leave processes or
// files behind, or print secrets.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { API_KEY, startServe, withBackend } from './lib.mjs';

const bin = process.argv[2];
const mode = process.argv[3];
const here = dirname(fileURLToPath(import.meta.url));
const step = (m) => { if (process.env.E2E_VERBOSE) console.error(`step: ${m}`); };

// One POST (or GET) on a connection of its own; resolves {status, json, text}.
function request(srv, { method = 'POST', path = '/mcp', body, sid, headers = {} } = {}) {
  const h = { Accept: 'application/json, text/event-stream', ...headers };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  if (sid) h['Mcp-Session-Id'] = sid;
  const url = new URL(path, srv.base);
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: h, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        let json = null;
        try { json = text && method === 'POST' ? JSON.parse(text) : null; } catch { json = null; }
        resolve({ status: res.statusCode, json, text });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

let nextId = 1;

// An MCP session: {sid}; tool(name, args) resolves the envelope (structuredContent).
async function client(srv) {
  const init = await new Promise((resolve, reject) => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: nextId++, method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'e2e-bounds', version: '1' } } });
    const req = http.request(srv.url, { method: 'POST', agent: false, headers: {
      Accept: 'application/json, text/event-stream', 'Content-Type': 'application/json', 'X-API-Key': API_KEY } },
    (res) => { res.resume(); res.on('end', () => resolve(res.headers['mcp-session-id'])); });
    req.on('error', reject);
    req.end(body);
  });
  assert.ok(init, 'initialize gave an Mcp-Session-Id');
  const sid = init;
  const n = await request(srv, { body: { jsonrpc: '2.0', method: 'notifications/initialized' }, sid });
  assert.equal(n.status, 202);
  const tool = async (name, args) => {
    const r = await request(srv, { sid, headers: { 'X-API-Key': API_KEY },
      body: { jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name, arguments: args } } });
    assert.equal(r.status, 200, r.text.slice(0, 300));
    assert.ok(r.json?.result?.structuredContent, r.text.slice(0, 300));
    return r.json.result.structuredContent;
  };
  const login = async (agent) => {
    const sc = await tool('authenticate_agent', { agent_id: agent, agent_type: 'claude' });
    assert.equal(sc.success, true, JSON.stringify(sc));
    return sc.token;
  };
  return { sid, tool, login };
}

// A value of the server's /metrics, or -1 when the series is absent.
async function metric(srv, series) {
  const r = await request(srv, { method: 'GET', path: '/metrics' });
  assert.equal(r.status, 200);
  const line = r.text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : -1;
}

// Polls /metrics until pred(value of series) holds; fails after ms.
async function waitMetric(srv, series, pred, ms) {
  const until = Date.now() + ms;
  for (;;) {
    const v = await metric(srv, series);
    if (pred(v)) return v;
    assert.ok(Date.now() < until, `${series} never satisfied the condition (last ${v})`);
    await new Promise((r) => setImmediate(r));
  }
}

function withDeadline(promise, ms, what) {
  let t;
  const timeout = new Promise((_, reject) => { t = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(t));
}

// deterministic text of n characters: lowercase words
function words(n, seed) {
  let x = seed * 2654435761 >>> 0;
  const next = () => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return x >>> 16; };
  let s = '';
  while (s.length < n) {
    const w = 2 + next() % 8;
    for (let k = 0; k < w; k++) s += String.fromCharCode(97 + next() % 26);
    s += ' ';
  }
  return s.slice(0, n - 1) + 'z';
}

// While the lock is held and the 12 writes wait: the write lane is full, and another
// agent's reads are answered before the lock is released.
async function readsDuringLock(srv, w) {
  const busy = await waitMetric(srv, 'ctxd_mcp_workers_busy{lane="write"}', (v) => v >= 8, 60000);
  const queued = await metric(srv, 'ctxd_mcp_queued_requests{lane="write"}');
  step(`write lane: ${busy} busy, ${queued} queued`);
  assert.equal(busy + queued, w.n, 'every add_message is waiting for the lock');

  step('a reader of another agent is answered while the lock is held');
  const got = await withDeadline(w.b.tool('get_messages', { session_id: w.sid, auth_token: w.tb }), 60000, 'get_messages');
  assert.equal(got.success, true, JSON.stringify(got));
  assert.equal(w.released(), false, 'get_messages was answered only after the lock was released');
  assert.equal(w.writesDone(), 0, 'a write finished while the lock was held');
  assert.equal(got.messages[0].content, 'before');
  assert.equal((await w.b.tool('get_session', { session_id: w.sid, auth_token: w.tb })).success, true);
  assert.equal(w.released(), false);
}

// Two clients, logged in as agents named na and nb, and a session a created: {a, b, ta, tb, sid}.
async function twoAgents(srv, na, nb) {
  const a = await client(srv);
  const b = await client(srv);
  const ta = await a.login(na);
  const tb = await b.login(nb);
  const s = await a.tool('create_session', { purpose: 'bounds', auth_token: ta });
  assert.equal(s.success, true, JSON.stringify(s));
  return { a, b, ta, tb, sid: s.session_id };
}

async function writeLock(srv, file) {
  const { a, b, ta, tb, sid } = await twoAgents(srv, 'writer', 'reader');
  assert.equal((await a.tool('add_message', { session_id: sid, content: 'before', auth_token: ta })).success, true);

  step('another process takes the write lock');
  const lock = spawn('python3', [join(here, 'sqlite_lock.py'), file, '120'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise((r) => lock.once('exit', r));
  const lines = createInterface({ input: lock.stdout });
  let released = false;
  const gotLine = (want) => new Promise((resolve) => lines.on('line', (l) => { if (l === want) resolve(); }));
  const releasedP = gotLine('released').then(() => { released = true; });
  await withDeadline(gotLine('locked'), 30000, 'sqlite_lock.py');

  step('12 add_message calls wait for the lock');
  const N = 12;
  let writesDone = 0;
  const writes = [];
  for (let i = 0; i < N; i++)
    writes.push(a.tool('add_message', { session_id: sid, content: `during ${i}`, auth_token: ta })
      .then((sc) => { writesDone++; return sc; }));
  for (const w of writes) w.catch(() => {}); // a failure below is the one reported
  try {
    await readsDuringLock(srv, { n: N, b, tb, sid, released: () => released, writesDone: () => writesDone });
  } finally {
    lock.stdin.end('release\n');
  }
  step('released: every write goes through');
  await releasedP;
  const results = await withDeadline(Promise.all(writes), 120000, 'the writes after the release');
  for (const r of results) assert.equal(r.success, true, JSON.stringify(r));
  const after = await b.tool('get_messages', { session_id: sid, auth_token: tb, limit: 100 });
  assert.equal(after.total_count, N + 1);
  await exited;
}

async function heavy(srv) {
  const { a, b, ta, tb, sid } = await twoAgents(srv, 'agent-a', 'agent-b');
  step('seeding 400 messages of 60,000 characters');
  const M = 400; // each search then scores for tens of seconds (budgets raised below)
  for (let i = 0; i < M; i += 10) {
    const batch = [];
    for (let k = i; k < i + 10 && k < M; k++)
      batch.push(a.tool('add_message', { session_id: sid, content: words(60000, k + 1), auth_token: ta }));
    for (const r of await Promise.all(batch)) assert.equal(r.success, true, JSON.stringify(r));
  }
  const query = words(1000, 99999);
  step('9 searches of agent-a at threshold 0');
  const answers = [];
  const searches = [];
  for (let i = 0; i < 9; i++) {
    const p = a.tool('search_context', { session_id: sid, query, fuzzy_threshold: 0, auth_token: ta });
    searches.push(p.then((sc) => { answers.push({ i, sc }); return sc; }, () => null));
  }
  const first = await withDeadline(Promise.race(searches), 120000, 'the 9th search');
  assert.ok(first, 'a search failed');
  assert.equal(first.code, 'RATE_LIMITED', `the first answer is not the 9th call refused: ${JSON.stringify(first).slice(0, 300)}`);
  assert.ok(first.retry_after >= 1);
  assert.equal(first.recoverable, true);
  const busy = await waitMetric(srv, 'ctxd_mcp_workers_busy{lane="heavy"}', (v) => v === 8, 60000);
  assert.equal(busy, 8);

  step('agent-b (and agent-a\'s light calls) are served while the 8 searches run');
  const got = await withDeadline(b.tool('get_session', { session_id: sid, auth_token: tb }), 60000, 'get_session');
  assert.equal(got.success, true);
  const msgs = await withDeadline(a.tool('get_messages', { session_id: sid, limit: 1, auth_token: ta }), 60000, 'get_messages');
  assert.equal(msgs.success, true);
  assert.equal(answers.length, 1, `a search finished before get_session was answered (${answers.length - 1})`);
  assert.equal(await metric(srv, 'ctxd_mcp_workers_busy{lane="heavy"}'), 8, 'the 8 searches still run');
  // stopping the server cancels them
}

const envs = {
  writelock: {},
  heavy: { HEAVY_CALLS_PER_AGENT: '8', MCP_HEAVY_WORKERS: '12', SEARCH_TIME_BUDGET_MS: '600000',
    SEARCH_MAX_SCAN_BYTES: '2147483647', RATE_LIMIT_PER_MINUTE: '0' },
};
if (!envs[mode]) {
  console.error('usage: node bounds.mjs <ctxd> writelock | heavy');
  process.exit(2);
}
await withBackend('sqlite', async ({ url, dir }) => {
  const srv = await startServe(bin, { env: { DATABASE_URL: url, ...envs[mode] } });
  try {
    if (mode === 'writelock') await writeLock(srv, join(dir, 'e2e.db'));
    else await heavy(srv);
  } finally {
    const code = await srv.stop();
    assert.equal(code, 0, `exit ${code}\n${srv.stderr()}`);
  }
});
console.log(`bounds ${mode}: ok`);
