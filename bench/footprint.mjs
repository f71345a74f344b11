// bench/footprint.mjs — what `ctxd serve` costs the machine it runs on, on a SQLite file:
//   - start-up: from spawn to its "ctxd ready" log line, on a new database (migrations
//     included) and on an existing one (best and median of --starts runs);
//   - idle RSS: right after start-up, and after one tool call;
//   - idle SSE clients: --sse MCP sessions over HTTP, each with its GET event stream
//     open (initialize, notifications/initialized, GET /mcp); the server's RSS before and
//     after, and per client;
//   - a big session: --messages add_message calls into one session over HTTP (16
//     keep-alive clients), then the server's RSS after the writes, after a
//     first and a last page of get_messages and after one search_context.
// RSS is VmRSS of the server process from /proc. Prints one table; --json FILE also
// writes the figures.
//
//   node bench/footprint.mjs CTXD_BINARY [--sse N] [--messages N] [--starts N] [--json FILE]
//
// Defaults: 1,000 SSE clients, 1,000,000 messages (a few minutes), 5 starts.
// Must not: assert anything about timing (a benchmark, not a test), or leave a server,
// a connection or a file behind.
import http from 'node:http';
import { writeFileSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { API_KEY, startServe, tempDir, loadSdk } from '../tests/e2e/lib.mjs';
import { benchArgs } from './args.mjs';

const opt = benchArgs('footprint.mjs', 'node bench/footprint.mjs CTXD_BINARY [--sse N] [--messages N] [--starts N] [--json FILE]', {
  sse: { def: 1000, min: 1, max: 100_000 }, messages: { def: 1_000_000, min: 1, max: 100_000_000 },
  starts: { def: 5, min: 1, max: 1000 }, json: { def: null } });

const sdk = await loadSdk();
// Loopback clients are one peer: lift the per-peer limits the bench would otherwise meet.
const ENV = {
  LOG_LEVEL: 'info', HTTP_MAX_CONNECTIONS_PER_CLIENT: String(opt.sse + 64),
  MCP_MAX_SESSIONS_PER_PEER: String(opt.sse + 64), MCP_MAX_SESSIONS: String(opt.sse + 1000),
  HTTP_MAX_CONNECTIONS: String(opt.sse + 256), RATE_LIMIT_PER_MINUTE: '60000000', RATE_LIMIT_BURST: '1000000',
  HEAVY_CALLS_PER_AGENT: '64',
};
const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const mib = (k) => k / 1024;
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const rows = [];
const row = (what, value, unit) => { rows.push({ what, value, unit }); console.error(`footprint: ${what}: ${value.toFixed(2)} ${unit}`); };

async function timedStart(url) {
  const t = performance.now();
  const srv = await startServe(opt.bin, { env: { ...ENV, DATABASE_URL: url } });
  return { srv, ms: performance.now() - t };
}

// An SDK client on srv; returns {call(tool, args) -> structured result, close()}.
async function sdkClient(srv) {
  const client = new sdk.Client({ name: 'ctxd-footprint', version: '1.0.0' });
  const transport = new sdk.StreamableHTTPClientTransport(new URL(srv.url), { requestInit: { headers: { 'X-API-Key': API_KEY } } });
  await client.connect(transport);
  const call = async (name, args) => {
    const r = await client.callTool({ name, arguments: args }, undefined, { timeout: 600000 });
    if (r.isError) throw new Error(`${name}: ${JSON.stringify(r.content).slice(0, 300)}`);
    return r.structuredContent ?? JSON.parse(r.content[0].text);
  };
  return { call, close: () => client.close() };
}

// One raw HTTP request on its own connection; resolves {res, body} (body only when
// keepOpen is false; otherwise the response stays open and res is returned at its head).
function request(srv, { method, headers, body, keepOpen = false }) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: srv.port, method, path: '/mcp', headers, agent: false }, (res) => {
      if (keepOpen) { res.on('error', () => {}); resolve({ res, req }); return; }
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { b += d; });
      res.on('end', () => resolve({ res, body: b }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const MCP = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'X-API-Key': API_KEY };
async function openStream(srv) {
  const init = await request(srv, { method: 'POST', headers: MCP, body: JSON.stringify({ jsonrpc: '2.0', id: 1,
    method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'sse', version: '1' } } }) });
  const sid = init.res.headers['mcp-session-id'];
  if (init.res.statusCode !== 200 || !sid) throw new Error(`initialize: HTTP ${init.res.statusCode} ${init.body.slice(0, 200)}`);
  const h = { ...MCP, 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-06-18' };
  await request(srv, { method: 'POST', headers: h, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
  const s = await request(srv, { method: 'GET', headers: { ...h, Accept: 'text/event-stream' }, keepOpen: true });
  if (s.res.statusCode !== 200) throw new Error(`GET /mcp: HTTP ${s.res.statusCode}`);
  return s;
}

// A keep-alive JSON-RPC client with its own MCP session and agent token: returns
// call(tool, args), which throws on any error.
async function rawWriter(srv, agent, agentId) {
  let id = 0;
  let h = { ...MCP };
  const post = (msg) => new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: srv.port, method: 'POST', path: '/mcp', headers: h, agent }, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { b += d; });
      res.on('end', () => resolve({ res, body: b }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(msg));
  });
  const init = await post({ jsonrpc: '2.0', id: ++id, method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: agentId, version: '1' } } });
  h = { ...MCP, 'Mcp-Session-Id': init.res.headers['mcp-session-id'], 'MCP-Protocol-Version': '2025-06-18' };
  await post({ jsonrpc: '2.0', method: 'notifications/initialized' });
  let token = null;
  const call = async (name, args) => {
    const { res, body } = await post({ jsonrpc: '2.0', id: ++id, method: 'tools/call',
      params: { name, arguments: token ? { ...args, auth_token: token } : args } });
    const r = res.statusCode === 200 && JSON.parse(body).result;
    if (!r || r.isError) throw new Error(`${name}: HTTP ${res.statusCode} ${body.slice(0, 300)}`);
    return r.structuredContent;
  };
  token = (await call('authenticate_agent', { agent_id: agentId, agent_type: 'claude' })).token;
  return call;
}

const dir = tempDir('footprint-');
const servers = [];
try {
  // start-up
  const fresh = [], again = [];
  for (let i = 0; i < opt.starts; i++) {
    const url = `sqlite:///${join(dir, `start${i}.db`)}`;
    const a = await timedStart(url); fresh.push(a.ms); await a.srv.stop();
    const b = await timedStart(url); again.push(b.ms); await b.srv.stop();
  }
  row('start-up, new database (best)', Math.min(...fresh), 'ms');
  row('start-up, new database (median)', median(fresh), 'ms');
  row('start-up, existing database (best)', Math.min(...again), 'ms');
  row('start-up, existing database (median)', median(again), 'ms');

  // idle, then SSE clients
  const { srv } = await timedStart(`sqlite:///${join(dir, 'footprint.db')}`);
  servers.push(srv);
  const pid = srv.proc.pid;
  row('RSS idle after start-up', mib(rssKiB(pid)), 'MiB');
  const c = await sdkClient(srv);
  const auth = await c.call('authenticate_agent', { agent_id: 'footprint', agent_type: 'claude' });
  const sess = await c.call('create_session', { purpose: 'footprint', auth_token: auth.token });
  row('RSS after one session and login', mib(rssKiB(pid)), 'MiB');
  const before = rssKiB(pid);
  const streams = [];
  for (let i = 0; i < opt.sse; i++) streams.push(await openStream(srv));
  const after = rssKiB(pid);
  row(`RSS with ${opt.sse} idle SSE clients`, mib(after), 'MiB');
  row('RSS per idle SSE client', (after - before) / opt.sse, 'KiB');
  for (const s of streams) s.req.destroy();

  // a big session: writes from 16 keep-alive HTTP clients into one session (raw
  // JSON-RPC: the SDK client costs more CPU per call than the server does)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const writers = [];
  for (let i = 0; i < 16; i++) writers.push(await rawWriter(srv, agent, `w${i}`));
  let next = 0, done = 0;
  const t0 = performance.now();
  const step = Math.max(1, Math.floor(opt.messages / 10));
  await Promise.all(writers.map(async (w) => {
    while (next < opt.messages) {
      const i = next++;
      await w('add_message', { session_id: sess.session_id,
        content: `finding ${i}: the deployment pipeline of service ${i % 97} timed out after ${i % 300} s; retried on replica ${i % 3}` });
      if (++done % step === 0) console.error(`footprint: ${done}/${opt.messages} messages written`);
    }
  }));
  const secs = (performance.now() - t0) / 1000;
  agent.destroy();
  row(`writing ${opt.messages} messages, 16 HTTP clients`, opt.messages / secs, 'messages/s');
  row(`RSS with a ${opt.messages}-message session`, mib(rssKiB(pid)), 'MiB');
  await c.call('get_messages', { session_id: sess.session_id, auth_token: auth.token, limit: 50 });
  const last = Math.max(0, opt.messages - 50);
  await c.call('get_messages', { session_id: sess.session_id, auth_token: auth.token, limit: 50, offset: last });
  row('RSS after a first and a last page', mib(rssKiB(pid)), 'MiB');
  await c.call('search_context', { session_id: sess.session_id, auth_token: auth.token, query: 'replica deploymnet' });
  row('RSS after one search_context', mib(rssKiB(pid)), 'MiB');
  await c.close();
  const code = await srv.stop();
  servers.pop();
  if (code !== 0) throw new Error(`ctxd serve exited with ${code}:\n${srv.stderr().slice(-2000)}`);
} finally {
  for (const s of servers) await s.stop();
  rmSync(dir, { recursive: true, force: true });
}

console.log(`footprint of ctxd serve on SQLite (${opt.sse} SSE clients, ${opt.messages} messages, ${opt.starts} starts)`);
console.log('| what | value | unit |');
console.log('|---|---|---|');
for (const r of rows) console.log(`| ${r.what} | ${r.value.toFixed(r.unit === 'MiB' || r.unit === 'ms' ? 1 : 0)} | ${r.unit} |`);
if (opt.json) writeFileSync(opt.json, JSON.stringify({ opt, rows }, null, 2));
