// tests/e2e/session_security.mjs — who a caller is on an MCP session of the real
// `ctxd serve`, and what anonymous callers can cost (docs/mcp-interface.md, "Identity
// and MCP sessions", "Subscriptions"):
//   hijack : after authenticate_agent on a session, a second client sending only that
//            Mcp-Session-Id gets no private messages, no memory, no debug-session prompt,
//            no notifications (its GET stream is refused) and cannot DELETE the session;
//            the real client with its key keeps working over two TCP connections; a
//            token refreshed away stops working on the session that remembered it;
//   caps   : MCP sessions are capped per client address and in total, subscriptions per
//            session; resources/subscribe needs an identity that may read the resource;
//   logins : a flood of keyless / wrong-key logins from one address does not make any of
//            ten real logins from another address (127.0.0.2) fail; the failed logins are
//            in the audit log (event auth_failed, with the address and the claimed agent,
//            never the key) and logged at WARN.
// Usage: node session_security.mjs <ctxd> hijack | caps | logins
// Must not: sleep for timing (streams are read with a deadline), leave processes or
// files behind, or print secrets.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { API_KEY, startServe, withBackend } from './lib.mjs';

const bin = process.argv[2];
const mode = process.argv[3];
const KEY = { 'X-API-Key': API_KEY };
const step = (m) => { if (process.env.E2E_VERBOSE) console.error(`step: ${m}`); };

// One HTTP request on a connection of its own (agent: false), from localAddress.
// Resolves {status, headers, text, json (the JSON-RPC response, also out of SSE), port}.
function request(srv, { method = 'POST', body, sid, headers = {}, from = '127.0.0.1' } = {}) {
  const h = { Accept: 'application/json, text/event-stream', 'MCP-Protocol-Version': '2025-03-26', ...headers };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  if (sid) h['Mcp-Session-Id'] = sid;
  step(`${method} ${body ? JSON.stringify(body).slice(0, 90) : ''}`);
  return new Promise((resolve, reject) => {
    const req = http.request(srv.url, { method, headers: h, agent: false, localAddress: from }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        let json = null;
        if ((res.headers['content-type'] || '').includes('text/event-stream')) {
          const msgs = text.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim())
            .filter(Boolean).map((d) => JSON.parse(d));
          json = msgs.find((m) => 'result' in m || 'error' in m) ?? null;
        } else if (text) {
          try { json = JSON.parse(text); } catch { json = null; }
        }
        resolve({ status: res.statusCode, headers: res.headers, text, json, port: req.socket?.localPort });
      });
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

let nextId = 1;
const rpc = (srv, method, params, opts = {}) =>
  request(srv, { ...opts, body: { jsonrpc: '2.0', id: nextId++, method, ...(params ? { params } : {}) } });

async function initSession(srv, { headers = {}, from } = {}) {
  const r = await rpc(srv, 'initialize', { protocolVersion: '2025-03-26', capabilities: {},
    clientInfo: { name: 'e2e-security', version: '1' } }, { headers, from });
  if (r.status !== 200) return { status: r.status, json: r.json };
  const sid = r.headers['mcp-session-id'];
  assert.ok(sid);
  const n = await request(srv, { body: { jsonrpc: '2.0', method: 'notifications/initialized' }, sid, headers, from });
  assert.equal(n.status, 202);
  return { status: 200, sid };
}

// tools/call: the envelope (structuredContent).
async function tool(srv, sid, name, args, opts = {}) {
  const r = await rpc(srv, 'tools/call', { name, arguments: args }, { sid, ...opts });
  assert.equal(r.status, 200, r.text);
  assert.ok(r.json.result, r.text);
  return r.json.result.structuredContent;
}

// resources/read: {text} of the contents, or {error: data.code or the JSON-RPC code}.
async function read(srv, sid, uri, opts = {}) {
  const r = await rpc(srv, 'resources/read', { uri }, { sid, ...opts });
  assert.equal(r.status, 200, r.text);
  if (r.json.error) return { error: r.json.error.data?.code ?? r.json.error.code };
  return { text: r.json.result.contents[0].text };
}

async function login(srv, sid, agent, opts = {}) {
  const sc = await tool(srv, sid, 'authenticate_agent', { agent_id: agent, agent_type: 'claude' },
    { headers: KEY, ...opts });
  assert.equal(sc.success, true, JSON.stringify(sc));
  return sc.token;
}

// Opens the GET stream of a session; resolves {status, next(pred, ms), close()}: next
// waits (at most ms) for a JSON-RPC message matching pred.
function openStream(srv, sid, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(srv.url, { method: 'GET', agent: false,
      headers: { Accept: 'text/event-stream', 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-03-26', ...headers } },
    (res) => {
      const msgs = [];
      const waiters = [];
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const ev = buf.slice(0, i); buf = buf.slice(i + 2);
          const data = ev.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('');
          if (data) msgs.push(JSON.parse(data));
          for (const w of [...waiters]) w();
        }
      });
      res.on('error', () => {});
      const next = (pred, ms = 15000) => new Promise((ok, fail) => {
        const check = () => {
          const k = msgs.findIndex(pred);
          if (k < 0) return false;
          const [m] = msgs.splice(k, 1);
          waiters.splice(waiters.indexOf(check), 1);
          clearTimeout(t);
          ok(m);
          return true;
        };
        const t = setTimeout(() => { waiters.splice(waiters.indexOf(check), 1); fail(new Error('no such event on the stream')); }, ms);
        waiters.push(check);
        check();
      });
      resolve({ status: res.statusCode, text: () => msgs, next, close: () => req.destroy() });
    });
    req.on('error', reject);
    req.end();
  });
}

const updated = (uri) => (m) => m.method === 'notifications/resources/updated' && m.params?.uri === uri;

async function hijack(srv) {
  // the real client: key on every request, a session, private data
  const { sid: sa } = await initSession(srv, { headers: KEY });
  const ta = await login(srv, sa, 'alice');
  const bearer = { Authorization: `Bearer ${ta}` };
  const sess = await tool(srv, sa, 'create_session', { purpose: 'security', auth_token: ta });
  const cs = sess.session_id;
  assert.equal((await tool(srv, sa, 'add_message', { session_id: cs, content: 'alice secret', visibility: 'private', auth_token: ta })).success, true);
  assert.equal((await tool(srv, sa, 'set_memory', { key: 'plan', value: 'alice memory', auth_token: ta })).success, true);
  const sub = await rpc(srv, 'resources/subscribe', { uri: `session://${cs}` }, { sid: sa, headers: KEY });
  assert.deepEqual(sub.json.result, {}, sub.text);

  // the real client keeps working with its key, over two TCP connections
  const ports = new Set();
  for (let i = 0; i < 2; i++) {
    const r = await rpc(srv, 'resources/read', { uri: 'agent://alice/memory' }, { sid: sa, headers: KEY });
    ports.add(r.port);
    assert.ok(r.json.result, r.text);
    assert.match(r.json.result.contents[0].text, /alice memory/);
  }
  assert.equal(ports.size, 2, 'two connections');
  assert.match((await read(srv, sa, `session://${cs}`, { headers: KEY })).text, /alice secret/);
  // ... or with the token it was issued as a bearer
  assert.match((await read(srv, sa, 'agent://alice/memory', { headers: bearer })).text, /alice memory/);

  // a second client with only the Mcp-Session-Id
  const other = { from: '127.0.0.2' };
  const s1 = await read(srv, sa, `session://${cs}`, other);
  assert.equal(s1.error, 'AUTH_FAILED', JSON.stringify(s1));
  const m1 = await read(srv, sa, 'agent://alice/memory', other);
  assert.equal(m1.error, 'AUTH_FAILED', JSON.stringify(m1));
  const p1 = await rpc(srv, 'prompts/get', { name: 'debug-session', arguments: { session_id: cs } }, { sid: sa, ...other });
  assert.ok(p1.json.error, p1.text);
  assert.ok(!p1.text.includes('alice secret'));
  // ... nor a wrong key, nor someone else's token
  const { sid: sm } = await initSession(srv, { headers: KEY });
  const tm = await login(srv, sm, 'mallory');
  const m2 = await read(srv, sa, 'agent://alice/memory', { headers: { 'X-API-Key': 'wrong' } });
  assert.equal(m2.error, 'AUTH_FAILED', JSON.stringify(m2));
  const m3 = await read(srv, sa, 'agent://alice/memory', { headers: { Authorization: `Bearer ${tm}` } });
  assert.equal(m3.error, 'PERMISSION_DENIED', JSON.stringify(m3));
  // tools without auth_token: the session's agent, for requests presenting its key only
  const mine = await tool(srv, sa, 'get_messages', { session_id: cs }, { headers: KEY });
  assert.deepEqual(mine.messages.map((m) => m.content), ['alice secret'], JSON.stringify(mine));
  for (const [who, opts] of [['only the session id', other], ['a wrong key', { headers: { 'X-API-Key': 'wrong' } }]]) {
    const t = await tool(srv, sa, 'get_messages', { session_id: cs }, opts);
    assert.equal(t.code, 'AUTH_FAILED', `${who}: ${JSON.stringify(t)}`);
  }
  const asMallory = await tool(srv, sa, 'get_messages', { session_id: cs }, { headers: { Authorization: `Bearer ${tm}` } });
  assert.ok(!JSON.stringify(asMallory).includes('alice secret'), 'another agent\'s token acts as that agent');
  const sub2 = await rpc(srv, 'resources/unsubscribe', { uri: `session://${cs}` }, { sid: sa, ...other });
  assert.ok(sub2.json.error, `unsubscribe by another client: ${sub2.text}`);
  // no GET stream, so no notifications; no DELETE
  const evil = await openStream(srv, sa);
  assert.equal(evil.status, 403, 'GET stream with only the session id');
  evil.close();
  const evilBearer = await openStream(srv, sa, { Authorization: `Bearer ${tm}` });
  assert.equal(evilBearer.status, 403, 'GET stream with another agent\'s token');
  evilBearer.close();
  const del = await request(srv, { method: 'DELETE', sid: sa, ...other });
  assert.equal(del.status, 403, 'DELETE with only the session id');
  // the owner's stream gets the update of its subscription
  const own = await openStream(srv, sa, KEY);
  assert.equal(own.status, 200);
  assert.equal((await tool(srv, sa, 'add_message', { session_id: cs, content: 'more', auth_token: ta })).success, true);
  await own.next(updated(`session://${cs}`));
  own.close();
  assert.match((await read(srv, sa, 'agent://alice/memory', { headers: KEY })).text, /alice memory/);

  // a token refreshed away (on another session) stops working where it was remembered
  const { sid: sb } = await initSession(srv, { headers: KEY });
  const tb = await login(srv, sb, 'bob');
  assert.match((await read(srv, sb, 'agent://bob/memory', { headers: KEY })).text, /"agent_id"/);
  const { sid: sc } = await initSession(srv);
  const ref = await tool(srv, sc, 'refresh_token', { current_token: tb });
  assert.equal(ref.success, true, JSON.stringify(ref));
  const gone = await read(srv, sb, 'agent://bob/memory', { headers: KEY });
  assert.equal(gone.error, 'TOKEN_AUTHENTICATION_FAILED', JSON.stringify(gone));
  const goneB = await read(srv, sb, 'agent://bob/memory', { headers: { Authorization: `Bearer ${tb}` } });
  assert.equal(goneB.error, 'TOKEN_AUTHENTICATION_FAILED', JSON.stringify(goneB));
  assert.match((await read(srv, sb, 'agent://bob/memory', { headers: { Authorization: `Bearer ${ref.token}` } })).text, /bob/);

  // the owner ends its session
  const del2 = await request(srv, { method: 'DELETE', sid: sa, headers: KEY });
  assert.equal(del2.status, 200);
  const after = await rpc(srv, 'ping', null, { sid: sa, headers: KEY });
  assert.equal(after.status, 404);
}

async function caps(srv) {
  // sessions: MCP_MAX_SESSIONS_PER_PEER=4, MCP_MAX_SESSIONS=6
  const mine = [];
  for (let i = 0; i < 4; i++) {
    const r = await initSession(srv);
    assert.equal(r.status, 200, `session ${i}`);
    mine.push(r.sid);
  }
  const over = await initSession(srv);
  assert.equal(over.status, 429, 'a fifth session from one address');
  assert.match(JSON.stringify(over.json), /MCP_MAX_SESSIONS_PER_PEER/);
  for (let i = 0; i < 2; i++) assert.equal((await initSession(srv, { from: '127.0.0.2' })).status, 200);
  const full = await initSession(srv, { from: '127.0.0.2' });
  assert.equal(full.status, 503, 'a seventh session in all');
  assert.match(JSON.stringify(full.json), /MCP_MAX_SESSIONS/);
  // an ended session makes room
  assert.equal((await request(srv, { method: 'DELETE', sid: mine.pop() })).status, 200);
  const again = await initSession(srv, { headers: KEY });
  assert.equal(again.status, 200);
  const sid = again.sid;

  // subscriptions need an identity that may read the resource
  const anon = await rpc(srv, 'resources/subscribe', { uri: 'session://session_0123456789abcdef' }, { sid: mine[0] });
  assert.equal(anon.json.error?.data?.code, 'AUTH_FAILED', anon.text);
  const tok = await login(srv, sid, 'carol');
  const made = [];
  for (let i = 0; i < 5; i++) made.push((await tool(srv, sid, 'create_session', { purpose: `s${i}`, auth_token: tok })).session_id);
  const missing = await rpc(srv, 'resources/subscribe', { uri: 'session://session_0123456789abcdef' }, { sid, headers: KEY });
  assert.equal(missing.json.error?.code, -32002, missing.text);
  const memo = await rpc(srv, 'resources/subscribe', { uri: 'agent://dave/memory' }, { sid, headers: KEY });
  assert.equal(memo.json.error?.data?.code, 'PERMISSION_DENIED', memo.text);
  const unknown = await rpc(srv, 'resources/subscribe', { uri: 'nothing://here' }, { sid, headers: KEY });
  assert.equal(unknown.json.error?.code, -32002, unknown.text);
  // MCP_MAX_SUBSCRIPTIONS_PER_SESSION=3, in one JSON-RPC batch (2025-03-26)
  const batch = made.map((s, i) => ({ jsonrpc: '2.0', id: 100 + i, method: 'resources/subscribe', params: { uri: `session://${s}` } }));
  const br = await request(srv, { body: batch, sid, headers: KEY });
  assert.equal(br.status, 200, br.text);
  const answers = JSON.parse(br.text).sort((a, b) => a.id - b.id);
  assert.deepEqual(answers.map((a) => (a.error ? 'error' : 'ok')), ['ok', 'ok', 'ok', 'error', 'error']);
  assert.match(answers[3].error.message, /subscription/i);
  // subscribing again to the same URI is free; unsubscribing makes room
  assert.deepEqual((await rpc(srv, 'resources/subscribe', { uri: `session://${made[0]}` }, { sid, headers: KEY })).json.result, {});
  assert.deepEqual((await rpc(srv, 'resources/unsubscribe', { uri: `session://${made[0]}` }, { sid, headers: KEY })).json.result, {});
  assert.deepEqual((await rpc(srv, 'resources/subscribe', { uri: `session://${made[4]}` }, { sid, headers: KEY })).json.result, {});
}

async function logins(srv, url) {
  // the flood: one address, no key or a wrong key, claiming the real agent's id
  const { sid: fs } = await initSession(srv);
  const codes = {};
  for (let i = 0; i < 120; i++) {
    const headers = i % 3 === 0 ? { 'X-API-Key': `wrong-${i}` } : {};
    const sc = await tool(srv, fs, 'authenticate_agent', { agent_id: 'victim', agent_type: 'claude' }, { headers });
    assert.equal(sc.success, false);
    codes[sc.code] = (codes[sc.code] ?? 0) + 1;
  }
  assert.ok(codes.AUTH_FAILED > 0, JSON.stringify(codes));
  assert.ok(codes.RATE_LIMITED > 0, `the flood hit its own address's limit: ${JSON.stringify(codes)}`);
  // ten real logins from another address, as the agent the flood claimed
  const { sid } = await initSession(srv, { headers: KEY, from: '127.0.0.2' });
  for (let i = 0; i < 10; i++) {
    const sc = await tool(srv, sid, 'authenticate_agent', { agent_id: 'victim', agent_type: 'claude' },
      { headers: KEY, from: '127.0.0.2' });
    assert.equal(sc.success, true, `real login ${i}: ${JSON.stringify(sc)}`);
  }
  assert.match(srv.stderr(), /WARN.*authenticate_agent refused.*127\.0\.0\.1.*victim/);
  assert.ok(!srv.stderr().includes('wrong-3'), 'the presented key is not logged');
  return codes.AUTH_FAILED;
}

// The audit records of event `ev` in the database (ctxd export), as row objects.
function auditRows(url, ev) {
  const out = execFileSync(bin, ['export'], { env: { ...process.env, DATABASE_URL: url, LOG_LEVEL: 'error' }, encoding: 'utf8', maxBuffer: 64 << 20 });
  return out.split('\n').filter(Boolean).map((l) => JSON.parse(l))
    .filter((l) => l.table === 'audit_log' && l.row.event_type === ev).map((l) => l.row);
}

const envs = {
  hijack: {},
  caps: { MCP_MAX_SESSIONS_PER_PEER: '4', MCP_MAX_SESSIONS: '6', MCP_MAX_SUBSCRIPTIONS_PER_SESSION: '3' },
  logins: { RATE_LIMIT_PER_MINUTE: '600', RATE_LIMIT_BURST: '40' },
};
if (!envs[mode]) {
  console.error('usage: node session_security.mjs <ctxd> hijack | caps | logins');
  process.exit(2);
}
await withBackend('sqlite', async ({ url }) => {
  const srv = await startServe(bin, { env: { DATABASE_URL: url, ...envs[mode] } });
  let failed = 0;
  try {
    if (mode === 'hijack') await hijack(srv);
    else if (mode === 'caps') await caps(srv);
    else failed = await logins(srv, url);
  } finally {
    const code = await srv.stop();
    assert.equal(code, 0, `exit ${code}\n${srv.stderr()}`);
  }
  if (mode === 'logins') {
    const rows = auditRows(url, 'auth_failed');
    assert.equal(rows.length, failed, 'one audit record per refused login');
    for (const r of rows) {
      assert.equal(r.agent_id, 'victim');
      const meta = typeof r.metadata === 'string' ? JSON.parse(r.metadata) : r.metadata;
      assert.equal(meta.peer, '127.0.0.1', JSON.stringify(r));
      assert.ok(!JSON.stringify(r).includes('wrong-'), 'no key in the audit log');
    }
  }
});
console.log(`session_security ${mode}: ok`);
