// tests/e2e/bad_requests.mjs — the corpus of bad requests (tests/e2e/bad_requests/*.json)
// sent to the real `ctxd serve` over HTTP and to `ctxd serve --stdio`, both on one SQLite
// file. Every case must get its expected answer (HTTP status, JSON-RPC error code or tool
// envelope code, and a message naming what was wrong); after every rejected write the
// database must be unchanged (a digest of its tables read with the sqlite3 shell, the
// audit records of refused logins aside, which ctxd writes by design), and after every
// group the server must still serve. A full `ctxd export` before and after the run must
// match too. Fewer than 150 cases is a failure.
//
// A case (one object of a file's "cases"):
//   name        unique
//   transport   "both" (default) | "http" | "stdio"
//   as          the credential: "none" (default), an agent of AGENTS or a token of
//               madeCreds() below (garbage, expired_jwt, ...). Tools get it as
//               `auth_token` (unless args has one); over HTTP resources and prompts get it
//               as `Authorization: Bearer`; over stdio the case runs on a process that
//               authenticated as that agent (for an agent credential)
//   apiKey      true: over HTTP the request carries the API key (X-API-Key)
//   session     HTTP only: "default" (2025-06-18), "batch" (2025-03-26: batches allowed),
//               "missing" (no Mcp-Session-Id), "unknown", "ended", or any other string
//               sent as is
//   one of:     tool + args  -> tools/call
//               rpc          -> a JSON-RPC message (or an array: a batch) sent as is
//               raw          -> a body sent as is (with bytes: true, "\\xHH" becomes byte HH;
//                               over stdio one line)
//               http         -> HTTP only: {method, path, headers (null removes a default),
//                               body (JSON) | raw}
//               rawHttp      -> HTTP only: request text on a socket of its own ({PORT}, {SID})
//   bytes       true: in the serialised request, "\\xHH" becomes the byte HH
//   write       true: a rejected write, the database is compared after it (implied for
//               a tool of WRITE_TOOLS)
//   expect      {status, rpc (JSON-RPC error code), data_code (its data.code), tool
//               (envelope code), context (members of the envelope's context), message (a
//               fragment of the error message), id (the id echoed; else the id sent),
//               raw_contains (a fragment of the answer's text), noReply (no answer: HTTP
//               202 with an empty body; stdio: the next answer is a ping's)}. A batch's
//               answer: every member must match. Only a status: an HTTP transport error.
//   expect_http, expect_stdio: merged over expect for that transport
// In args, rpc and http bodies: "$S1" / "$S2" (sessions), "$M1" / "$M2" / "$MPRIV"
// (message ids: M1 in S1, M2 in S2, MPRIV a private message of the admin in S1),
// "$TOKEN:<cred>" (a credential's token) are replaced; {"$repeat": "ab", "times": n} is
// "ab" n times; raw and rawHttp may be arrays of strings and such objects, joined. In raw
// and rawHttp text, {S1}, {M1}, ..., {SID}, {PORT}, {TOKEN:<cred>} are replaced.
//
// Usage: node bad_requests.mjs <ctxd> [name-regex]. E2E_VERBOSE=1 prints every case.
// Must not: sleep for timing (answers are awaited, stdio with a deadline), leave
// processes or files behind, or print secrets.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { API_KEY, JWT_SECRET, SHARED_KEY_ANYTHING, startServe, withBackend } from './lib.mjs';

const bin = process.argv[2];
const only = process.argv[3] ? new RegExp(process.argv[3]) : null;
const here = dirname(fileURLToPath(import.meta.url));
const MIN_CASES = 150;
// the tools that write: a refused call of one is a rejected write (the database is compared)
const WRITE_TOOLS = new Set(['authenticate_agent', 'refresh_token', 'create_session', 'add_message', 'set_memory',
  'delete_memory']);
const verbose = !!process.env.E2E_VERBOSE;

if (spawnSync('sqlite3', ['-version']).error) {
  console.error('SKIP: the sqlite3 shell is not installed (scripts/deps.sh installs it)');
  process.exit(77);
}

// ---- the corpus ---------------------------------------------------------------------

function loadCorpus() {
  const dir = join(here, 'bad_requests');
  const groups = [];
  const names = new Set();
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
    const g = JSON.parse(readFileSync(join(dir, f), 'utf8'));
    assert.ok(Array.isArray(g.cases), `${f}: no cases`);
    for (const c of g.cases) {
      assert.ok(c.name && !names.has(c.name), `${f}: a case without a unique name: ${c.name}`);
      names.add(c.name);
      const forms = ['tool', 'rpc', 'raw', 'http', 'rawHttp'].filter((k) => k in c);
      assert.equal(forms.length, 1, `${c.name}: exactly one of tool, rpc, raw, http, rawHttp`);
      assert.ok(c.expect, `${c.name}: no expect`);
      c.transport ??= 'both';
      c.write ??= WRITE_TOOLS.has(c.tool);
      if (c.http || c.rawHttp || c.session) assert.equal(c.transport, 'http', `${c.name}: HTTP only`);
    }
    groups.push({ file: f, ...g });
  }
  return groups;
}

// ---- credentials ----------------------------------------------------------------------

const b64u = (b) => Buffer.from(b).toString('base64url');
function jwt(claims, secret = JWT_SECRET, header = { alg: 'HS256', typ: 'JWT' }) {
  const now = Math.floor(Date.now() / 1000);
  const body = { agent_id: 'jwt-agent', agent_type: 'claude', permissions: ['read', 'write'], iat: now,
    exp: now + 600, iss: 'shared-context-server', aud: 'mcp-agents', jti: randomUUID(), ...claims };
  const head = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(body))}`;
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
}

// agents log in; the others are made here
const AGENTS = { writer: ['br-writer', 'claude'], writer2: ['br-writer2', 'gemini'],
  reader: ['br-reader', 'generic'], admin: ['br-admin', 'admin'] };
function madeCreds() {
  const now = Math.floor(Date.now() / 1000);
  return {
    garbage: 'not-a-token',
    empty: '',
    unknown_sct: `sct_${randomUUID()}`,
    malformed_sct: 'sct_not-a-uuid',
    expired_jwt: jwt({ iat: now - 7200, exp: now - 3600 }),
    wrong_secret_jwt: jwt({}, 'another-secret-0123456789abcdef0123456789'),
    wrong_issuer_jwt: jwt({ iss: 'someone-else' }),
    wrong_audience_jwt: jwt({ aud: 'other-agents' }),
    alg_none_jwt: `${b64u('{"alg":"none","typ":"JWT"}')}.${b64u(JSON.stringify({ agent_id: 'x', agent_type: 'admin',
      permissions: ['admin'], iat: now, exp: now + 600, iss: 'shared-context-server', aud: 'mcp-agents', jti: randomUUID() }))}.`,
    alg_none_signed_jwt: jwt({ agent_type: 'admin', permissions: ['read', 'write', 'admin'] }, JWT_SECRET, { alg: 'none', typ: 'JWT' }),
    tampered_jwt: (() => { const t = jwt({}).split('.'); t[1] = b64u(JSON.stringify({ agent_id: 'x', agent_type: 'admin',
      permissions: ['admin'], iat: now, exp: now + 600, iss: 'shared-context-server', aud: 'mcp-agents', jti: randomUUID() })); return t.join('.'); })(),
    valid_jwt_reader: jwt({ agent_id: 'br-jwt-reader', agent_type: 'generic', permissions: ['read'] }),
  };
}

// ---- substitution -----------------------------------------------------------------------

function expand(v, ctx) {
  if (typeof v === 'string') {
    if (v in ctx.vars) return ctx.vars[v];
    if (v.startsWith('$TOKEN:')) {
      const t = ctx.creds[v.slice(7)];
      assert.ok(t !== undefined, `unknown credential ${v}`);
      return t;
    }
    return v;
  }
  if (Array.isArray(v)) return v.map((x) => expand(x, ctx));
  if (v && typeof v === 'object') {
    if ('$repeat' in v) return v.$repeat.repeat(v.times);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, expand(x, ctx)]));
  }
  return v;
}
// raw text: a string, or an array of strings and {"$repeat"} objects joined
const rawText = (raw, ctx) => (Array.isArray(raw) ? raw.map((p) => expand(p, ctx)).join('') : raw);
const expandText = (s, ctx, extra = {}) =>
  s.replace(/\{(S1|S2|M1|M2|MPRIV|SID|PORT)\}/g, (m, k) => String(extra[k] ?? ctx.vars[`$${k}`] ?? m))
    .replace(/\{TOKEN:(\w+)\}/g, (m, k) => expand(`$TOKEN:${k}`, ctx));
// "\\xHH" in a serialised request -> the byte HH
function toBytes(text, bytes) {
  if (!bytes) return Buffer.from(text, 'utf8');
  const parts = [];
  let last = 0;
  for (const m of text.matchAll(/\\\\x([0-9a-fA-F]{2})|\\x([0-9a-fA-F]{2})/g)) {
    parts.push(Buffer.from(text.slice(last, m.index), 'utf8'), Buffer.from([parseInt(m[1] ?? m[2], 16)]));
    last = m.index + m[0].length;
  }
  parts.push(Buffer.from(text.slice(last), 'utf8'));
  return Buffer.concat(parts);
}

let nextId = 1000;
// The body of a case as bytes, plus the id it carries (undefined for raw bodies).
function caseBody(c, ctx, cred) {
  if ('raw' in c) return { bytes: toBytes(expandText(rawText(c.raw, ctx), ctx), c.bytes) };
  let msg;
  if (c.tool) {
    const args = expand(c.args ?? {}, ctx);
    if (cred !== undefined && args && typeof args === 'object' && !Array.isArray(args) && !('auth_token' in args)) args.auth_token = cred;
    msg = { jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name: c.tool, arguments: args } };
  } else {
    msg = expand(c.rpc, ctx);
  }
  return { bytes: toBytes(JSON.stringify(msg), c.bytes), id: Array.isArray(msg) ? undefined : msg?.id };
}

// ---- HTTP ---------------------------------------------------------------------------------

const BASE_HEADERS = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream',
  'MCP-Protocol-Version': '2025-06-18' };

// The JSON-RPC answer in a body (JSON, or the answer event of an SSE stream).
function answerOf(contentType, text) {
  if ((contentType || '').includes('text/event-stream')) {
    const msgs = text.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim())
      .filter(Boolean).map((d) => JSON.parse(d));
    return msgs.find((m) => 'result' in m || 'error' in m) ?? null;
  }
  if (!text) return null;
  try { return JSON.parse(text); } catch { return { unparsable: text }; }
}

function httpRequest(srv, { method = 'POST', path = '/mcp', headers = {}, body }) {
  const h = {};
  for (const [k, v] of Object.entries(headers)) if (v !== null && v !== undefined) h[k] = v;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: srv.port, method, path, headers: h, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode, headers: res.headers, text, json: answerOf(res.headers['content-type'], text) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

// A raw request on a socket of its own: {status, text}.
function rawHttp(srv, text) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(srv.port, '127.0.0.1');
    let data = Buffer.alloc(0);
    const done = () => {
      const s = data.toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(s);
      if (!m) return reject(new Error(`no status line in ${JSON.stringify(s.slice(0, 200))}`));
      const i = s.indexOf('\r\n\r\n');
      const body = i >= 0 ? s.slice(i + 4) : '';
      const ct = /\r\ncontent-type: *([^\r]*)/i.exec(s)?.[1];
      // a complete answer ends the wait: Content-Length of the body read
      resolve({ status: Number(m[1]), text: body, json: answerOf(ct, body) });
    };
    sock.on('connect', () => sock.write(Buffer.from(text, 'latin1')));
    sock.on('data', (d) => {
      data = Buffer.concat([data, d]);
      const s = data.toString('latin1');
      const i = s.indexOf('\r\n\r\n');
      const cl = /\r\ncontent-length: *(\d+)/i.exec(s);
      if (i >= 0 && cl && data.length >= Buffer.byteLength(s.slice(0, i + 4), 'latin1') + Number(cl[1])) {
        sock.destroy();
        done();
      }
    });
    sock.on('error', (e) => { if (!['EPIPE', 'ECONNRESET'].includes(e.code)) reject(e); });
    sock.on('close', () => { if (data.length) done(); else reject(new Error('connection closed without an answer')); });
  });
}

async function httpInit(srv, version = '2025-06-18', headers = {}) {
  const r = await httpRequest(srv, { headers: { ...BASE_HEADERS, 'MCP-Protocol-Version': version, ...headers },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize',
      params: { protocolVersion: version, capabilities: {}, clientInfo: { name: 'bad-requests', version: '1' } } }) });
  assert.equal(r.status, 200, r.text);
  const sid = r.headers['mcp-session-id'];
  const n = await httpRequest(srv, { headers: { ...BASE_HEADERS, 'MCP-Protocol-Version': version, 'Mcp-Session-Id': sid, ...headers },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
  assert.equal(n.status, 202);
  return sid;
}

async function httpCase(c, ctx) {
  const srv = ctx.srv;
  const cred = c.as && c.as !== 'none' ? ctx.creds[c.as] : undefined;
  const named = { default: ctx.sid, batch: ctx.sidBatch, missing: null, unknown: 'ffffffff-ffff-4fff-8fff-ffffffffffff',
    ended: ctx.sidEnded };
  const sid = (c.session ?? 'default') in named ? named[c.session ?? 'default'] : c.session;
  if (c.rawHttp) {
    const text = expandText(rawText(c.rawHttp, ctx), ctx, { SID: ctx.sid, PORT: srv.port }).replace(/\n/g, '\r\n');
    return rawHttp(srv, text);
  }
  const headers = { ...BASE_HEADERS };
  if (sid) headers['Mcp-Session-Id'] = sid;
  if (cred !== undefined && !c.tool) headers.Authorization = `Bearer ${cred}`;
  if (c.apiKey) headers['X-API-Key'] = API_KEY;
  if (c.http) {
    const h = c.http;
    Object.assign(headers, expand(h.headers ?? {}, ctx));
    const body = 'raw' in h ? toBytes(expandText(rawText(h.raw, ctx), ctx), c.bytes)
      : 'body' in h ? Buffer.from(JSON.stringify(expand(h.body, ctx))) : undefined;
    return httpRequest(srv, { method: h.method ?? 'POST', path: h.path ?? '/mcp', headers, body });
  }
  const { bytes, id } = caseBody(c, ctx, cred);
  const r = await httpRequest(srv, { headers, body: bytes });
  return { ...r, sentId: id };
}

// ---- stdio ----------------------------------------------------------------------------------

function startStdio(env) {
  const proc = spawn(bin, ['serve', '--stdio'], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; });
  const lines = [];
  const waiters = [];
  createInterface({ input: proc.stdout }).on('line', (l) => {
    lines.push(l);
    while (waiters.length && lines.length) waiters.shift()(lines.shift());
  });
  const exited = new Promise((r) => proc.once('exit', (code, sig) => r(code ?? sig)));
  const next = (ms = 20000) => new Promise((ok, fail) => {
    if (lines.length) return ok(lines.shift());
    const t = setTimeout(() => fail(new Error(`stdio: no answer within ${ms} ms\n${log}`)), ms);
    waiters.push((l) => { clearTimeout(t); ok(l); });
  });
  const send = (bytes) => { proc.stdin.write(bytes); proc.stdin.write('\n'); };
  const call = async (msg) => {
    send(Buffer.from(JSON.stringify(msg)));
    return JSON.parse(await next());
  };
  return { proc, exited, next, send, call, stderr: () => log,
    stop: async () => { proc.stdin.end(); return exited; } };
}

async function stdioFor(ctx, as) {
  const key = as in AGENTS ? as : 'none';
  if (ctx.stdio[key]) return ctx.stdio[key];
  const s = startStdio(ctx.env);
  ctx.stdio[key] = s;
  const init = await s.call({ jsonrpc: '2.0', id: 1, method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bad-requests', version: '1' } } });
  assert.ok(init.result, JSON.stringify(init));
  s.send(Buffer.from(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })));
  if (key !== 'none') {
    const [agent_id, agent_type] = AGENTS[key];
    const r = await s.call({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'authenticate_agent',
      arguments: { agent_id, agent_type, requested_permissions: agent_type === 'admin' ? ['read', 'write', 'admin', 'debug'] : undefined } } });
    assert.equal(r.result?.structuredContent?.success, true, JSON.stringify(r));
  }
  return s;
}

async function stdioCase(c, ctx) {
  const s = await stdioFor(ctx, c.as ?? 'none');
  const cred = c.as && c.as !== 'none' ? ctx.creds[c.as] : undefined;
  const { bytes, id } = caseBody(c, ctx, cred);
  s.send(bytes);
  const pingId = `after-${nextId++}`;
  if (c.expect_stdio?.noReply ?? c.expect.noReply) {
    s.send(Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: pingId, method: 'ping' })));
    const line = await s.next();
    return { json: answerOf('application/json', line), text: line, sentId: id, pingId };
  }
  const line = await s.next();
  return { json: answerOf('application/json', line), text: line, sentId: id };
}

// ---- checks -----------------------------------------------------------------------------------

function check(c, transport, r) {
  const want = { ...c.expect, ...(c[`expect_${transport}`] ?? {}) };
  const show = `${c.name} [${transport}]: ${r.status ?? ''} ${(r.text ?? '').slice(0, 600)}`;
  assert.ok(!(r.text ?? '').includes(API_KEY) && !(r.text ?? '').includes(JWT_SECRET), `a secret in the answer: ${show}`);
  if (transport === 'http' && want.status !== undefined) assert.equal(r.status, want.status, show);
  if (want.noReply) {
    if (transport === 'http') assert.equal(r.text, '', show);
    else assert.equal(r.json?.id, r.pingId, `an answer to a message that needs none: ${show}`);
    return;
  }
  if (want.raw_contains !== undefined) assert.ok((r.text ?? '').includes(want.raw_contains), `the answer lacks ${want.raw_contains}: ${show}`);
  let msg;
  if (want.rpc === undefined && want.tool === undefined) {
    // a transport error: the status alone, and the message of its JSON-RPC body if any
    assert.ok(transport === 'http' && want.status !== undefined, `expect names neither rpc nor tool: ${show}`);
    msg = r.json?.error?.message ?? r.text ?? '';
  } else {
    // a batch's answer: every member must be the expected answer
    const all = Array.isArray(r.json) ? r.json : [r.json];
    assert.ok(all.length > 0, `an empty batch answer: ${show}`);
    for (const j of all) msg = checkOne(want, r, j, show);
  }
  if (want.message !== undefined) assert.ok(msg.includes(want.message), `message lacks ${JSON.stringify(want.message)}: ${show}`);
}

// One JSON-RPC answer against want.rpc or want.tool; returns the error message.
function checkOne(want, r, j, show) {
  assert.ok(j && typeof j === 'object' && !j.unparsable, `no JSON answer: ${show}`);
  if ('id' in want) assert.deepEqual(j.id, want.id, show);
  else if (r.sentId !== undefined) assert.deepEqual(j.id, r.sentId, `the id is echoed: ${show}`);
  if (want.rpc !== undefined) {
    const err = j.error;
    assert.ok(err, `wanted JSON-RPC error ${want.rpc}: ${show}`);
    assert.equal(err.code, want.rpc, show);
    assert.equal(typeof err.message, 'string', show);
    if (want.data_code !== undefined) assert.equal(err.data?.code, want.data_code, show);
    return err.message;
  }
  assert.ok(j.result, `wanted a tool error ${want.tool}: ${show}`);
  assert.equal(j.result.isError, true, show);
  const env = j.result.structuredContent;
  assert.deepEqual(JSON.parse(j.result.content[0].text), env, show);
  assert.equal(env.success, false, show);
  assert.equal(env.code, want.tool, show);
  if (want.context) for (const [k, v] of Object.entries(want.context)) assert.deepEqual(env.context?.[k], v, `context.${k}: ${show}`);
  return env.error;
}

// The stored state: every table (the full-text index, derived from messages, aside) in
// rowid order, by the sqlite3 shell; the audit records of refusals (REFUSAL_EVENTS: ctxd
// audits refused logins, tokens and permissions by design) and the audit log's id counter
// they advance aside.
const REFUSAL_EVENTS = ['auth_failed', 'auth_refused', 'token_refused', 'permission_denied'];
const sqlite = (path, sql) => execFileSync('sqlite3', ['-readonly', '-batch', '-json', path, sql], { maxBuffer: 256 << 20 });
let tables = null;
function digest(path) {
  tables ??= JSON.parse(sqlite(path, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'messages_fts%' ORDER BY name").toString() || '[]')
    .map(({ name }) => ({
      audit_log: `SELECT * FROM audit_log WHERE event_type NOT IN (${REFUSAL_EVENTS.map((e) => `'${e}'`).join(', ')}) ORDER BY rowid`,
      sqlite_sequence: "SELECT * FROM sqlite_sequence WHERE name <> 'audit_log' ORDER BY name", // refused logins count
      // a WITHOUT ROWID table: in the order of its primary key
      visibility_counts: 'SELECT * FROM visibility_counts ORDER BY session_id, visibility, sender, sender_type',
    })[name] ?? `SELECT * FROM "${name}" ORDER BY rowid`);
  assert.ok(tables.length >= 6, `too few tables: ${tables}`);
  return createHash('sha256').update(sqlite(path, tables.join('; ') + ';')).digest('hex');
}
// The whole database as `ctxd export` writes it, minus its time and the refusals.
function exportRows(ctx) {
  const out = execFileSync(bin, ['export'], { env: { ...process.env, ...ctx.env, LOG_LEVEL: 'error' }, encoding: 'utf8', maxBuffer: 256 << 20 });
  return out.split('\n').filter(Boolean).map((l) => JSON.parse(l))
    .filter((l) => l.table && !(l.table === 'audit_log' && REFUSAL_EVENTS.includes(l.row.event_type)))
    .map((l) => JSON.stringify(l));
}

async function stillServing(ctx, transports) {
  if (transports.has('http')) {
    const p = await httpRequest(ctx.srv, { headers: { ...BASE_HEADERS, 'Mcp-Session-Id': ctx.sid },
      body: JSON.stringify({ jsonrpc: '2.0', id: 'alive', method: 'ping' }) });
    assert.deepEqual(p.json, { jsonrpc: '2.0', id: 'alive', result: {} }, p.text);
    const g = await httpRequest(ctx.srv, { headers: { ...BASE_HEADERS, 'Mcp-Session-Id': ctx.sid },
      body: JSON.stringify({ jsonrpc: '2.0', id: 'alive2', method: 'tools/call',
        params: { name: 'get_session', arguments: { session_id: ctx.vars.$S1, auth_token: ctx.creds.writer } } }) });
    assert.equal(g.json?.result?.structuredContent?.success, true, g.text);
    assert.equal((await httpRequest(ctx.srv, { method: 'GET', path: '/health' })).status, 200);
    assert.equal(ctx.srv.proc.exitCode, null, 'ctxd serve exited');
  }
  for (const s of Object.values(ctx.stdio)) {
    assert.equal(s.proc.exitCode, null, `ctxd serve --stdio exited:\n${s.stderr()}`);
    const p = await s.call({ jsonrpc: '2.0', id: 'alive', method: 'ping' });
    assert.deepEqual(p, { jsonrpc: '2.0', id: 'alive', result: {} });
  }
}

// ---- setup ------------------------------------------------------------------------------------

async function setup(ctx) {
  const srv = ctx.srv;
  const keyed = await httpInit(srv, '2025-06-18', { 'X-API-Key': API_KEY });
  const tool = async (name, args, headers = {}) => {
    const r = await httpRequest(srv, { headers: { ...BASE_HEADERS, 'Mcp-Session-Id': keyed, 'X-API-Key': API_KEY, ...headers },
      body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name, arguments: args } }) });
    const sc = r.json?.result?.structuredContent;
    assert.equal(sc?.success, true, `${name}: ${r.text}`);
    return sc;
  };
  ctx.creds = madeCreds();
  for (const [k, [agent_id, agent_type]] of Object.entries(AGENTS)) {
    ctx.creds[k] = (await tool('authenticate_agent', { agent_id, agent_type,
      ...(agent_type === 'admin' ? { requested_permissions: ['read', 'write', 'admin', 'debug'] } : {}) })).token;
  }
  // a token refreshed away
  const old = (await tool('authenticate_agent', { agent_id: 'br-refreshed', agent_type: 'claude' })).token;
  await tool('refresh_token', { current_token: old });
  ctx.creds.refreshed = old;
  const w = ctx.creds.writer;
  const s1 = (await tool('create_session', { purpose: 'bad requests S1', auth_token: w })).session_id;
  const s2 = (await tool('create_session', { purpose: 'bad requests S2', auth_token: w })).session_id;
  const m1 = (await tool('add_message', { session_id: s1, content: 'hello from the writer', auth_token: w })).message_id;
  const m2 = (await tool('add_message', { session_id: s2, content: 'in the other session', auth_token: w })).message_id;
  const mp = (await tool('add_message', { session_id: s1, content: 'admin private', visibility: 'private', auth_token: ctx.creds.admin })).message_id;
  await tool('set_memory', { key: 'existing', value: { a: 1 }, auth_token: w });
  ctx.vars = { $S1: s1, $S2: s2, $M1: m1, $M2: m2, $MPRIV: mp };
  ctx.sid = await httpInit(srv);
  ctx.sidBatch = await httpInit(srv, '2025-03-26');
  ctx.sidEnded = await httpInit(srv);
  const del = await httpRequest(srv, { method: 'DELETE', headers: { 'Mcp-Session-Id': ctx.sidEnded } });
  assert.equal(del.status, 200);
}

// ---- the run ----------------------------------------------------------------------------------

const groups = loadCorpus();
let total = 0, sent = 0, writes = 0;
for (const g of groups) total += g.cases.length;
const failures = [];
await withBackend('sqlite', async ({ url, dir }) => {
  const env = { DATABASE_URL: url, API_KEY, JWT_SECRET_KEY: JWT_SECRET, LOG_LEVEL: 'warning' };
  const path = new URL(url).pathname;
  // the corpus logs in as an admin with the shared key (its subject is bad input, not who
  // may claim what: app_identity_* and e2e_agent_keys_* are), so the policy allows it
  const srv = await startServe(bin, { env: { DATABASE_URL: url, ...SHARED_KEY_ANYTHING }, cwd: dir });
  const ctx = { srv, env, stdio: {} };
  try {
    await setup(ctx);
    // the stdio processes authenticate too: start them before the reference state
    for (const as of ['none', ...Object.keys(AGENTS)]) await stdioFor(ctx, as);
    const before = exportRows(ctx);
    const base = digest(path);
    for (const g of groups) {
      const used = new Set();
      for (const c of g.cases) {
        if (only && !only.test(c.name)) continue;
        for (const t of c.transport === 'both' ? ['http', 'stdio'] : [c.transport]) {
          used.add(t);
          if (verbose) console.error(`case: ${c.name} [${t}]`);
          try {
            const r = t === 'http' ? await httpCase(c, ctx) : await stdioCase(c, ctx);
            sent++;
            check(c, t, r);
            if (c.write) {
              writes++;
              assert.equal(digest(path), base, `${c.name} [${t}]: the database changed`);
            }
          } catch (e) {
            failures.push(`${g.file}: ${e.message}`);
            if (verbose) console.error(e);
          }
        }
      }
      try {
        assert.equal(digest(path), base, `${g.file}: the database changed during the group`);
      } catch (e) {
        failures.push(e.message);
      }
      try {
        await stillServing(ctx, used);
      } catch (e) {
        failures.push(`${g.file}: not serving after the group: ${e.message}`);
        break;
      }
    }
    try {
      assert.equal(digest(path), base, 'the database changed during the run');
      assert.deepEqual(exportRows(ctx), before, 'ctxd export differs after the run');
    } catch (e) {
      failures.push(e.message);
    }
  } finally {
    for (const s of Object.values(ctx.stdio)) {
      const code = await s.stop();
      if (code !== 0) failures.push(`ctxd serve --stdio exited ${code}:\n${s.stderr()}`);
    }
    const code = await srv.stop();
    if (code !== 0) failures.push(`ctxd serve exited ${code}:\n${srv.stderr()}`);
  }
});
for (const f of failures) console.error(`FAIL ${f}`);
console.log(`bad_requests: ${total} cases in ${groups.length} files, ${sent} requests sent (${writes} rejected writes checked against the database), ${failures.length} failures`);
if (failures.length) process.exit(1);
if (!only && total < MIN_CASES) {
  console.error(`the corpus has ${total} cases; at least ${MIN_CASES} are required`);
  process.exit(1);
}
