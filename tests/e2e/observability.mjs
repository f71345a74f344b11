// tests/e2e/observability.mjs — what an operator reads from a real `ctxd serve`:
//   logs   : with LOG_FORMAT=json every stderr line is one JSON object (ts, level, module,
//            msg); each tool call is one line at info with tool, agent, result and ms; a
//            call that fails authentication is a warning; a refused HTTP request is a
//            warning with status and peer, at most 10 a second (the rest counted in the
//            next line); in text format the same call reads `tool=... agent=... result=ok`;
//   metrics: /metrics carries error codes per tool, rate-limit refusals, the search
//            indexer's figures and the process_* figures (checked against what was done
//            and against the process), `promtool check metrics` passes when installed, and
//            every metric the Grafana dashboard (dist/grafana/ctxd-dashboard.json) queries
//            is served.
// Usage: node observability.mjs <ctxd> logs | metrics.
// Must not: sleep for timing (a wait polls with a deadline), leave processes or files.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { API_KEY, startServe, withBackend } from './lib.mjs';

const bin = process.argv[2];
const mode = process.argv[3];
const here = dirname(fileURLToPath(import.meta.url));

function headers(sid, extra = {}) {
  const h = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream',
    'MCP-Protocol-Version': '2025-06-18', ...extra };
  if (sid) h['Mcp-Session-Id'] = sid;
  return h;
}

async function rpc(srv, body, sid, extra) {
  const r = await fetch(srv.url, { method: 'POST', headers: headers(sid, extra), body: JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  if ((r.headers.get('content-type') || '').includes('text/event-stream')) {
    const d = text.split('\n').filter((l) => l.startsWith('data:')).map((l) => JSON.parse(l.slice(5)));
    json = d.find((m) => 'result' in m || 'error' in m) ?? null;
  } else if (text) json = JSON.parse(text);
  return { status: r.status, json, sid: r.headers.get('mcp-session-id') };
}

async function session(srv) {
  const r = await rpc(srv, { jsonrpc: '2.0', id: 1, method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'e2e', version: '1' } } },
  null, { 'X-API-Key': API_KEY });
  assert.equal(r.status, 200);
  await rpc(srv, { jsonrpc: '2.0', method: 'notifications/initialized' }, r.sid, { 'X-API-Key': API_KEY });
  return r.sid;
}

// GET /health naming another Host (fetch cannot set Host); resolves the status.
function foreignHost(srv) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: srv.port, path: '/health', agent: false,
      headers: { Host: 'evil.example' } }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
    req.on('error', reject);
    req.end();
  });
}

let nextId = 10;
async function call(srv, sid, name, args) {
  const r = await rpc(srv, { jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name, arguments: args } },
    sid, { 'X-API-Key': API_KEY });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return r.json.result.structuredContent ?? JSON.parse(r.json.result.content[0].text);
}

async function login(srv, sid, agent) {
  const a = await call(srv, sid, 'authenticate_agent', { agent_id: agent, agent_type: 'claude' });
  assert.equal(a.success, true, JSON.stringify(a));
  return a.token;
}

async function until(what, fn, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function logs({ url }) {
  const srv = await startServe(bin, { env: { DATABASE_URL: url, LOG_FORMAT: 'json' } });
  let lines;
  try {
    const sid = await session(srv);
    const token = await login(srv, sid, 'log-agent');
    assert.equal((await call(srv, sid, 'create_session', { purpose: 'logs', auth_token: token })).success, true);
    const bad = await call(srv, sid, 'create_session', { purpose: 'x', auth_token: 'sct_' + 'a'.repeat(40) });
    assert.equal(bad.success, false);
    // 40 requests refused for their Host, as fast as they go
    await Promise.all(Array.from({ length: 40 }, () => foreignHost(srv).then((st) => assert.equal(st, 403))));
    const refusals = () => srv.stderr().split('\n').filter((l) => l.includes('"module":"http"')).length;
    if (refusals() < 40) // some were left out: the next logged refusal counts them
      await until('a refusal line counting those not logged', async () => {
        await foreignHost(srv);
        return /"not_logged_before":"\d+"/.test(srv.stderr());
      });
  } finally {
    assert.equal(await srv.stop(), 0);
  }
  lines = srv.stderr().split('\n').filter(Boolean).map((l) => {
    try { return JSON.parse(l); } catch { assert.fail(`a log line that is not JSON: ${l}`); }
  });
  for (const l of lines) {
    assert.equal(typeof l.ts, 'string');
    assert.match(l.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$/);
    assert.ok(['debug', 'info', 'warning', 'error'].includes(l.level), l.level);
    assert.equal(typeof l.module, 'string');
    assert.equal(typeof l.msg, 'string');
  }
  const calls = lines.filter((l) => l.module === 'call');
  const ok = calls.find((l) => l.tool === 'create_session' && l.result === 'ok');
  assert.ok(ok, 'a line for the successful create_session');
  assert.equal(ok.level, 'info');
  assert.equal(ok.agent, 'log-agent');
  assert.match(ok.ms, /^\d+\.\d$/);
  const auth = calls.find((l) => l.tool === 'authenticate_agent');
  assert.ok(auth && auth.result === 'ok', 'authenticate_agent is logged too');
  const failed = calls.find((l) => l.tool === 'create_session' && l.result !== 'ok');
  assert.ok(failed, 'a line for the failed create_session');
  assert.equal(failed.level, 'warning');
  assert.match(failed.result, /TOKEN|AUTH/);
  assert.equal(failed.agent, '-');
  const http = lines.filter((l) => l.module === 'http');
  assert.ok(http.length >= 1);
  for (const l of http) {
    assert.equal(l.level, 'warning');
    assert.equal(l.status, '403');
    assert.equal(l.peer, '127.0.0.1');
    assert.match(l.msg, /Host 'evil\.example'/);
  }
  const perSecond = new Map();
  for (const l of http) perSecond.set(l.ts.slice(0, 19), (perSecond.get(l.ts.slice(0, 19)) ?? 0) + 1);
  // 10 a second of the server's clock: a second of the stamps holds at most two of them
  for (const [s, n] of perSecond) assert.ok(n <= 20, `${n} refusal lines in the second ${s}`);
  const counted = http.reduce((a, l) => a + Number(l.not_logged_before ?? 0), 0);
  assert.ok(http.length + counted >= 40, `every refusal logged or counted: ${http.length} + ${counted}`);

  // text format: the same call as key=value
  const txt = await startServe(bin, { env: { DATABASE_URL: url } });
  try {
    const sid = await session(txt);
    const token = await login(txt, sid, 'text-agent');
    await call(txt, sid, 'create_session', { purpose: 'text', auth_token: token });
  } finally {
    assert.equal(await txt.stop(), 0);
  }
  assert.match(txt.stderr(), /INFO  call: tool call tool=create_session agent=text-agent result=ok ms=\d+\.\d\n/);
}

function parseMetrics(text) {
  const samples = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    assert.ok(m, `a sample line: ${line}`);
    samples.set(m[1] + (m[2] ?? ''), Number(m[3]));
  }
  return samples;
}

async function metrics({ url }) {
  const srv = await startServe(bin, { env: { DATABASE_URL: url, RATE_LIMIT_PER_MINUTE: '60', RATE_LIMIT_BURST: '8' } });
  let text;
  try {
    const sid = await session(srv);
    const token = await login(srv, sid, 'metrics-agent');
    const s = await call(srv, sid, 'create_session', { purpose: 'metrics', auth_token: token });
    await call(srv, sid, 'add_message', { session_id: s.session_id, content: 'indexed words here', auth_token: token });
    await call(srv, sid, 'create_session', { purpose: 'x', auth_token: 'sct_' + 'b'.repeat(40) });
    let limited = 0;
    for (let i = 0; i < 12 && !limited; i++) {
      const r = await call(srv, sid, 'get_session', { session_id: s.session_id, auth_token: token });
      if (r.code === 'RATE_LIMITED') limited++;
    }
    assert.equal(limited, 1, 'the burst of 8 runs out');
    text = await until('the message indexed', async () => {
      const t = await (await fetch(`${srv.base}/metrics`)).text();
      return parseMetrics(t).get('ctxd_search_index_indexed_total') >= 1 ? t : null;
    });
  } finally {
    assert.equal(await srv.stop(), 0);
  }
  const m = parseMetrics(text);
  const codes = [...m.keys()].filter((k) => k.startsWith('ctxd_tool_error_codes_total{tool="create_session"'));
  assert.equal(codes.length, 1, codes.join());
  assert.match(codes[0], /code="(TOKEN_AUTHENTICATION_FAILED|INVALID_TOKEN_FORMAT|AUTH_FAILED)"/);
  assert.equal(m.get(codes[0]), 1);
  assert.equal(m.get('ctxd_tool_error_codes_total{tool="get_session",code="RATE_LIMITED"}'), 1);
  assert.equal(m.get('ctxd_rate_limited_total{kind="agent"}'), 1);
  assert.equal(m.get('ctxd_rate_limited_total{kind="client"}'), 0);
  assert.equal(m.get('ctxd_search_index_pending_messages'), 0);
  assert.equal(m.get('ctxd_search_index_lag_seconds'), 0);
  assert.ok(m.get('process_cpu_seconds_total') > 0);
  assert.ok(m.get('process_resident_memory_bytes') > 1e6);
  assert.ok(m.get('process_virtual_memory_bytes') >= m.get('process_resident_memory_bytes'));
  assert.ok(m.get('process_open_fds') >= 3);
  assert.ok(m.get('process_max_fds') >= m.get('process_open_fds'));
  const start = m.get('process_start_time_seconds');
  assert.ok(Math.abs(start - Date.now() / 1000) < 600, `process_start_time_seconds ${start}`);
  const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (promtool.error && promtool.error.code === 'ENOENT') console.log('promtool not installed: not run');
  else assert.equal(promtool.status, 0, `promtool check metrics:\n${promtool.stdout}${promtool.stderr}`);

  const dash = JSON.parse(readFileSync(join(here, '../../dist/grafana/ctxd-dashboard.json'), 'utf8'));
  assert.equal(dash.uid, 'ctxd-overview');
  const names = new Set([...m.keys()].map((k) => k.replace(/\{.*$/, '').replace(/_(bucket|sum|count)$/, '')));
  for (const k of m.keys()) names.add(k.replace(/\{.*$/, ''));
  let queried = 0;
  for (const p of dash.panels)
    for (const t of p.targets ?? [])
      for (const name of t.expr.match(/\b(ctxd|process)_[a-z_]+\b/g) ?? []) {
        queried++;
        assert.ok(names.has(name), `the dashboard panel "${p.title}" queries ${name}, which /metrics does not serve`);
      }
  assert.ok(queried >= 15, `the dashboard queries ${queried} metrics`);
}

const modes = { logs, metrics };
if (!modes[mode]) { console.error('usage: observability.mjs <ctxd> logs|metrics'); process.exit(2); }
await withBackend('sqlite', modes[mode]);
console.log(`observability ${mode}: ok`);
