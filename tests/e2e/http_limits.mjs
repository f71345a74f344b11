// tests/e2e/http_limits.mjs — the HTTP transport's defences on the real `ctxd serve`:
//   limits : with HTTP_MAX_CONNECTIONS=64, HTTP_MAX_CONNECTIONS_PER_CLIENT=8 and
//            HTTP_HEADER_TIMEOUT=2, a client trickling header lines is cut off although
//            it keeps sending, and 1,100 idle or half-sent connections from 127.0.0.1 do
//            not keep a client on 127.0.0.2 from being served (/health and MCP);
//   body   : a body of 4 MiB + 1 byte sent without `Expect: 100-continue` is answered
//            413 with the JSON-RPC error body, not a connection reset;
//   metrics: thousands of unknown method and tool names (long, multi-byte, quotes,
//            newlines) leave /metrics small and valid (`promtool check metrics` when
//            installed); /health and /metrics refuse a foreign Host or Origin (403).
// Usage: node http_limits.mjs <ctxd> limits | body | metrics.
// Must not: sleep for timing (the trickler's pace is a timer; every wait has a generous
// deadline that only fails a hung test), leave processes or files behind.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { startServe, withBackend } from './lib.mjs';

const bin = process.argv[2];
const mode = process.argv[3];
const GUARD_MS = 30000;

const MCP_HEADERS = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };
const initBody = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'e2e', version: '1' } } });

// One HTTP request (from a given local address); resolves {status, headers, text}.
function request(srv, { method = 'GET', path = '/health', headers = {}, body, from = '127.0.0.1' } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: srv.port, method, path, headers,
      localAddress: from, agent: false, timeout: GUARD_MS }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} from ${from}: no answer in ${GUARD_MS} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

// Resolves when the socket is closed; what the server sent before.
function closed(sock) {
  return new Promise((resolve) => {
    let data = '';
    sock.on('data', (d) => { data += d.toString('latin1'); });
    sock.on('error', () => {});
    sock.on('close', () => resolve(data));
  });
}

function withDeadline(promise, what) {
  let timer;
  const guard = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: not within ${GUARD_MS} ms`)), GUARD_MS); });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

async function limits(srv) {
  // a trickler: one header line every 250 ms, never a complete head
  const t = net.connect({ port: srv.port, host: '127.0.0.1', localAddress: '127.0.0.2' });
  const tEnd = closed(t);
  let lines = 0;
  t.on('connect', () => t.write(`GET /health HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\n`));
  const pace = setInterval(() => { if (!t.destroyed) { t.write(`X-Slow-${lines}: 1\r\n`); lines++; } }, 250);
  const got = await withDeadline(tEnd, 'the trickler is cut off').finally(() => clearInterval(pace));
  assert.equal(got, '', 'the trickler got no answer');
  assert.ok(lines > 0, 'it was still sending when it was cut off');

  // 1,100 idle or half-sent connections from one peer
  const socks = [];
  const opened = [];
  for (let i = 0; i < 1100; i++) {
    const s = net.connect({ port: srv.port, host: '127.0.0.1', localAddress: '127.0.0.1' });
    s.on('error', () => {});
    opened.push(new Promise((resolve) => { s.once('connect', resolve); s.once('close', resolve); }));
    if (i % 2) s.once('connect', () => s.write('POST /mcp HTTP/1.1\r\nHost: localhost\r\n'));
    socks.push(s);
  }
  await withDeadline(Promise.all(opened), 'opening 1,100 connections');
  try {
    // another peer is served: a route and the MCP endpoint
    const h = await request(srv, { from: '127.0.0.2' });
    assert.equal(h.status, 200);
    const init = await request(srv, { method: 'POST', path: '/mcp', headers: MCP_HEADERS, body: initBody, from: '127.0.0.2' });
    assert.equal(init.status, 200, init.text);
    assert.ok(init.headers['mcp-session-id']);
  } finally {
    for (const s of socks) s.destroy();
  }
}

async function bodyLimit(srv) {
  const body = Buffer.alloc((4 << 20) + 1, 0x20);
  body[0] = 0x7b; body[body.length - 1] = 0x7d;
  for (let i = 0; i < 2; i++) {
    const r = await request(srv, { method: 'POST', path: '/mcp', headers: MCP_HEADERS, body });
    assert.equal(r.status, 413);
    const j = JSON.parse(r.text);
    assert.equal(j.error.code, -32600);
    assert.match(j.error.message, /too large/);
  }
  assert.equal((await request(srv)).status, 200);
}

async function metricLabels(srv) {
  const init = await request(srv, { method: 'POST', path: '/mcp', headers: MCP_HEADERS, body: initBody });
  assert.equal(init.status, 200);
  const sid = init.headers['mcp-session-id'];
  const headers = { ...MCP_HEADERS, 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-06-18' };
  const post = (msg) => request(srv, { method: 'POST', path: '/mcp', headers, body: JSON.stringify(msg) });
  assert.equal((await post({ jsonrpc: '2.0', method: 'notifications/initialized' })).status, 202);
  const odd = ['é'.repeat(40), 'a"b\\c\nd', '\u00ff\u{1F600}'.repeat(20), 'tools/call ', 'x'.repeat(300)];
  for (let i = 0; i < 3000; i++) {
    const name = i < odd.length ? odd[i] : `x/${i}`;
    const msg = i % 3 === 2
      ? { jsonrpc: '2.0', id: i, method: 'tools/call', params: { name, arguments: {} } }
      : { jsonrpc: '2.0', id: i, method: name };
    const r = await post(msg);
    assert.equal(r.status, 200, r.text);
  }
  for (const name of odd) {
    const r = await post({ jsonrpc: '2.0', id: 'o', method: 'tools/call', params: { name, arguments: {} } });
    assert.equal(r.status, 200);
  }
  assert.equal((await post({ jsonrpc: '2.0', id: 'g', method: 'tools/call', params: { name: 'get_usage_guidance', arguments: {} } })).status, 200);
  const m = await request(srv, { path: '/metrics' });
  assert.equal(m.status, 200);
  const series = m.text.split('\n').filter((l) => l.startsWith('ctxd_mcp_requests_total{'));
  assert.ok(series.length <= 24, `${series.length} request series:\n${series.join('\n')}`);
  assert.ok(m.text.includes('ctxd_mcp_requests_total{method="other",tool="",status="200"}'));
  assert.ok(m.text.includes('ctxd_mcp_requests_total{method="tools/call",tool="other",status="200"}'));
  assert.ok(m.text.includes('method="tools/call",tool="get_usage_guidance"'));
  assert.ok(!m.text.includes('x/1') && !m.text.includes('é'));
  const promtool = spawnSync('promtool', ['check', 'metrics'], { input: m.text, encoding: 'utf8' });
  if (promtool.error && promtool.error.code === 'ENOENT') {
    console.log('promtool not installed: /metrics syntax not checked by promtool');
  } else {
    assert.equal(promtool.status, 0, `promtool check metrics:\n${promtool.stdout}${promtool.stderr}`);
  }
  // the extra routes check Host and Origin like /mcp
  for (const path of ['/health', '/metrics']) {
    assert.equal((await request(srv, { path, headers: { Host: 'evil.example' } })).status, 403);
    assert.equal((await request(srv, { path, headers: { Origin: 'http://evil.example' } })).status, 403);
  }
}

const env = mode === 'limits'
  ? { HTTP_MAX_CONNECTIONS: '64', HTTP_MAX_CONNECTIONS_PER_CLIENT: '8', HTTP_HEADER_TIMEOUT: '2' }
  : {};
const run = { limits, body: bodyLimit, metrics: metricLabels }[mode];
if (!run) {
  console.error('usage: node http_limits.mjs <ctxd> limits | body | metrics');
  process.exit(2);
}
await withBackend('sqlite', async ({ url }) => {
  const srv = await startServe(bin, { env: { DATABASE_URL: url, ...env } });
  try {
    await run(srv);
  } finally {
    const code = await srv.stop();
    assert.equal(code, 0, `exit ${code}\n${srv.stderr()}`);
  }
});
console.log(`http_limits ${mode}: all checks passed`);
