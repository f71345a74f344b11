// bench/peers/peers.mjs — ctxd against peer MCP memory servers, each driven over stdio by
// the official MCP TypeScript SDK client doing the same work in the same run: N notes
// written one call each, then M searches (the same queries for every server), then the
// server's resident memory. Peers (pinned in package.json, installed by `npm ci` here):
//   - mcp-memory-keeper (SQLite through better-sqlite3): context_save / context_search
//   - @modelcontextprotocol/server-memory (a JSON Lines file): create_entities /
//     search_nodes
//   - ctxd serve --stdio (SQLite file): add_message / search_context (default threshold)
// Prints per server: writes/s, write p50/p99, search p50/p99, hits per search, RSS;
// then each peer's figures as a ratio to ctxd's. Notes and queries come from a fixed
// seed (agents' findings: a technical vocabulary, identifiers, paths, numbers), so runs
// are comparable. The queries are exact words (common and rare), partial words,
// two-word phrases and typos: the peers match substrings, ctxd scores fuzzily, so a typo
// finds nothing on a peer; hits are printed so nobody compares unlike answers.
//
//   node bench/peers/peers.mjs CTXD_BINARY [--notes N] [--searches M] [--only a,b]
//        [--seed S] [--json FILE]
//
// Must not: assert anything about timing (it is a benchmark, not a test), leave a server
// process or its files behind, or use a network beyond the child processes' pipes.
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { benchArgs } from '../args.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

const opt = benchArgs('peers.mjs', 'node bench/peers/peers.mjs CTXD_BINARY [--notes N] [--searches M] ' +
  '[--only ctxd,memory-keeper,server-memory] [--seed S] [--json FILE]', {
  notes: { def: 10000, min: 1, max: 10_000_000 }, searches: { def: 200, min: 1, max: 10_000_000 },
  seed: { def: 42, min: 1, max: 2 ** 31 }, only: { def: null }, json: { def: null } });
if (opt.only) opt.only = opt.only.split(',');

let sdk;
try {
  sdk = {
    Client: (await import('@modelcontextprotocol/sdk/client/index.js')).Client,
    Stdio: (await import('@modelcontextprotocol/sdk/client/stdio.js')).StdioClientTransport,
  };
} catch {
  console.error('peers.mjs: the SDK and peers are not installed: run `npm ci` in bench/peers');
  process.exit(77);
}

// ---- the workload: notes and queries from a fixed seed --------------------------------
function rng(seed) { // mulberry32
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6D2B79F5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const WORDS = ('the a of to and in for on with is was found error test build deploy deployment ' +
  'pipeline database migration schema index query latency timeout retry cache memory leak ' +
  'thread lock mutex connection pool server client request response token session agent ' +
  'message search result failure success config setting environment variable container ' +
  'kubernetes docker image registry release version branch merge commit review patch fix ' +
  'regression benchmark profile allocation buffer overflow parser json payload header ' +
  'authentication permission admin metrics health check rollback replica primary shard ' +
  'transaction commit isolation deadlock vacuum backup restore snapshot upload download ' +
  'frontend backend service endpoint route handler middleware queue worker scheduler job').split(' ');
const RARE = ('xylophone quasar zeppelin marzipan obsidian fjord kumquat nebula sphinx walrus ' +
  'gazebo tundra vortex zircon yodel quokka').split(' ');
const PATHS = ['src/db/pool.c', 'src/http/server.c', 'lib/auth/token.ts', 'cmd/api/main.go',
  'services/search/index.py', 'deploy/k8s/values.yaml', 'tests/e2e/login.spec.ts'];

function makeNotes(n, seed) {
  const r = rng(seed);
  const zipf = () => WORDS[Math.min(WORDS.length - 1, Math.floor(WORDS.length * r() ** 2.2))];
  const out = [];
  for (let i = 0; i < n; i++) {
    const len = 12 + Math.floor(r() * 40);
    const w = [];
    for (let j = 0; j < len; j++) {
      const x = r();
      if (x < 0.02) w.push(RARE[Math.floor(r() * RARE.length)]);
      else if (x < 0.05) w.push(PATHS[Math.floor(r() * PATHS.length)]);
      else if (x < 0.08) w.push(String(Math.floor(r() * 100000)));
      else if (x < 0.10) w.push(`ERR_${Math.floor(r() * 50)}`);
      else w.push(zipf());
    }
    out.push(w.join(' ') + '.');
  }
  return out;
}

// Query classes: what a user types. The typos are one edit away from a vocabulary word.
function makeQueries(m, seed) {
  const r = rng(seed + 1);
  const pick = (a) => a[Math.floor(r() * a.length)];
  const common = ['deployment', 'database', 'connection', 'error', 'migration', 'timeout'];
  const typo = (w) => { const i = 1 + Math.floor(r() * (w.length - 2)); return w.slice(0, i) + w[i + 1] + w[i] + w.slice(i + 2); };
  const classes = [
    ['common word', () => pick(common)],
    ['rare word', () => pick(RARE)],
    ['partial word', () => pick(WORDS.filter((x) => x.length > 7)).slice(0, 5)],
    ['two words', () => `${pick(WORDS.filter((x) => x.length > 4))} ${pick(WORDS.filter((x) => x.length > 4))}`],
    ['typo', () => typo(pick(WORDS.filter((x) => x.length > 6)))],
    ['path', () => pick(PATHS)],
  ];
  const q = [];
  for (let i = 0; i < m; i++) { const [cls, f] = classes[i % classes.length]; q.push({ cls, text: f() }); }
  return q;
}

// ---- the servers ----------------------------------------------------------------------
const API_KEY = 'bench-peers-api-key-0123456789';
const text = (r) => (r.content || []).map((c) => c.text || '').join('');
function parse(r, what) {
  if (r.isError) throw new Error(`${what}: ${text(r).slice(0, 300)}`);
  if (r.structuredContent) return r.structuredContent;
  try { return JSON.parse(text(r)); } catch { return {}; }
}

const servers = {
  ctxd: (dir) => ({
    command: opt.bin, args: ['serve', '--stdio'],
    env: { DATABASE_URL: `sqlite:///${join(dir, 'ctxd.db')}`, API_KEY,
      JWT_SECRET_KEY: 'bench-peers-jwt-secret-0123456789abcdef012345', LOG_LEVEL: 'warning',
      HEAVY_CALLS_PER_AGENT: '1000', // the peers have no rate limit: neither has ctxd here
      RATE_LIMIT_PER_MINUTE: '60000000', RATE_LIMIT_BURST: '1000000' },
    async prepare(call) {
      const a = parse(await call('authenticate_agent', { agent_id: 'bench', agent_type: 'claude' }), 'authenticate_agent');
      this.token = a.token;
      const s = parse(await call('create_session', { purpose: 'peers benchmark', auth_token: this.token }), 'create_session');
      this.sid = s.session_id;
    },
    write(call, i, note) { return call('add_message', { session_id: this.sid, content: note, auth_token: this.token }); },
    async search(call, q) {
      return parse(await call('search_context', { session_id: this.sid, query: q, auth_token: this.token }), 'search_context').results?.length ?? 0;
    },
  }),
  'memory-keeper': (dir) => ({
    command: process.execPath, args: [require.resolve('mcp-memory-keeper/dist/index.js')],
    env: { DATA_DIR: dir, MEMORY_KEEPER_EXPORT_DIR: join(dir, 'exports') },
    async prepare(call) { parse(await call('context_session_start', { name: 'peers benchmark' }), 'context_session_start'); },
    write(call, i, note) { return call('context_save', { key: `note-${i}`, value: note, category: 'note' }); },
    async search(call, q) {
      const r = await call('context_search', { query: q });
      if (r.isError) throw new Error(`context_search: ${text(r).slice(0, 300)}`);
      const m = /Found (\d+) result/.exec(text(r)); // it answers in prose: "Found N results for ..."
      return m ? Number(m[1]) : 0;
    },
  }),
  'server-memory': (dir) => ({
    command: process.execPath, args: [require.resolve('@modelcontextprotocol/server-memory/dist/index.js')],
    env: { MEMORY_FILE_PATH: join(dir, 'memory.jsonl') },
    async prepare() {},
    write(call, i, note) {
      return call('create_entities', { entities: [{ name: `note-${i}`, entityType: 'note', observations: [note] }] });
    },
    async search(call, q) { return parse(await call('search_nodes', { query: q }), 'search_nodes').entities?.length ?? 0; },
  }),
};

function pct(a, p) {
  if (!a.length) return NaN;
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
function rssKiB(pid) {
  try { return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]); } catch { return NaN; }
}

async function run(name, notes, queries) {
  const dir = mkdtempSync(join(tmpdir(), `ctxd-peers-${name}-`));
  const s = servers[name](dir);
  const transport = new sdk.Stdio({ command: s.command, args: s.args, env: { PATH: process.env.PATH, HOME: dir, ...s.env }, stderr: 'ignore' });
  const client = new sdk.Client({ name: 'ctxd-bench-peers', version: '1.0.0' });
  const t0 = performance.now();
  try {
    await client.connect(transport);
    const startMs = performance.now() - t0;
    const call = (tool, args) => client.callTool({ name: tool, arguments: args }, undefined, { timeout: 600000 });
    await s.prepare(call);
    const wl = [];
    const w0 = performance.now();
    for (let i = 0; i < notes.length; i++) {
      const t = performance.now();
      const r = await s.write(call, i, notes[i]);
      if (r.isError) throw new Error(`${name}: write ${i}: ${text(r).slice(0, 300)}`);
      wl.push(performance.now() - t);
      if (notes.length >= 2000 && (i + 1) % Math.floor(notes.length / 4) === 0)
        console.error(`peers: ${name}: ${i + 1}/${notes.length} notes written`);
    }
    const writeSec = (performance.now() - w0) / 1000;
    const sl = [], hits = {};
    for (const q of queries) {
      const t = performance.now();
      const n = await s.search(call, q.text);
      sl.push(performance.now() - t);
      (hits[q.cls] ||= []).push(n);
    }
    const rss = rssKiB(transport.pid);
    return { name, startMs, writes: notes.length, writesPerSec: notes.length / writeSec,
      writeP50: pct(wl, 50), writeP99: pct(wl, 99), searches: queries.length,
      searchP50: pct(sl, 50), searchP99: pct(sl, 99),
      hits: Object.fromEntries(Object.entries(hits).map(([k, v]) => [k, v.reduce((a, b) => a + b, 0) / v.length])),
      rssMiB: rss / 1024 };
  } finally {
    await client.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

const names = (opt.only || Object.keys(servers));
for (const n of names) {
  if (!servers[n]) { console.error(`peers.mjs: --only: unknown server ${n} (ctxd, memory-keeper, server-memory)`); process.exit(2); }
}
const notes = makeNotes(opt.notes, opt.seed);
const queries = makeQueries(opt.searches, opt.seed);
console.log(`peers: ${opt.notes} notes, ${opt.searches} searches, seed ${opt.seed}, one SDK client over stdio per server`);
const res = [];
for (const n of names) {
  console.error(`peers: running ${n}`);
  res.push(await run(n, notes, queries));
}
const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');
console.log('| server | start ms | writes/s | write p50 ms | write p99 ms | search p50 ms | search p99 ms | RSS MiB |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of res)
  console.log(`| ${r.name} | ${f(r.startMs, 0)} | ${f(r.writesPerSec, 0)} | ${f(r.writeP50)} | ${f(r.writeP99)} | ${f(r.searchP50)} | ${f(r.searchP99)} | ${f(r.rssMiB, 1)} |`);
console.log('\nmean hits per search, by query class (peers match substrings, ctxd scores fuzzily, limit 10):');
const classes = [...new Set(queries.map((q) => q.cls))];
console.log(`| server | ${classes.join(' | ')} |`);
console.log(`|---|${classes.map(() => '---').join('|')}|`);
for (const r of res) console.log(`| ${r.name} | ${classes.map((c) => f(r.hits[c] ?? NaN, 1)).join(' | ')} |`);
const base = res.find((r) => r.name === 'ctxd');
if (base && res.length > 1) {
  console.log('\nctxd relative to each peer (> 1: ctxd is better by that factor):');
  console.log('| peer | writes/s | write p50 | search p50 | search p99 | RSS |');
  console.log('|---|---|---|---|---|---|');
  for (const r of res) if (r !== base)
    console.log(`| ${r.name} | ${f(base.writesPerSec / r.writesPerSec)} | ${f(r.writeP50 / base.writeP50)} | ${f(r.searchP50 / base.searchP50)} | ${f(r.searchP99 / base.searchP99)} | ${f(r.rssMiB / base.rssMiB)} |`);
}
if (opt.json) writeFileSync(opt.json, JSON.stringify({ opt: { notes: opt.notes, searches: opt.searches, seed: opt.seed }, results: res }, null, 2));
