// tests/app/sdk_stdio.mjs — the official MCP TypeScript SDK client (StdioClientTransport)
// against the real `ctxd serve --stdio` on a fresh SQLite file: two agents (claude,
// gemini) authenticate through the same server, collaborate in one session, check
// visibility (private / agent_only), the error envelope, memory types, search, the
// session resource with a subscription, and the debug-session prompt.
// Usage: node sdk_stdio.mjs <ctxd-binary>. Reuses tests/mcp/sdk/node_modules; exits 77
// (CTest "skip") when the SDK is not installed. Must not: leave files behind.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const sdkDir = join(here, '..', 'mcp', 'sdk');
const require = createRequire(join(sdkDir, 'package.json'));
let sdkRoot;
try {
  sdkRoot = join(sdkDir, 'node_modules', '@modelcontextprotocol', 'sdk');
  require.resolve('@modelcontextprotocol/sdk/package.json');
} catch {
  console.error('SKIP: @modelcontextprotocol/sdk is not installed; run `npm ci` in tests/mcp/sdk');
  process.exit(77);
}
const { Client } = await import(join(sdkRoot, 'dist/esm/client/index.js'));
const { StdioClientTransport } = await import(join(sdkRoot, 'dist/esm/client/stdio.js'));
const types = await import(join(sdkRoot, 'dist/esm/types.js'));

const bin = process.argv[2] && resolve(process.argv[2]);
assert.ok(bin, 'usage: node sdk_stdio.mjs <ctxd-binary>');
const tmpRoot = process.env.CTXD_TEST_TMP || tmpdir();
mkdirSync(tmpRoot, { recursive: true }); // the first test to run creates it
const dir = mkdtempSync(join(tmpRoot, 'app-sdk-'));
const env = {
  ...process.env, DATABASE_URL: `sqlite:///${join(dir, 'sdk.db')}`, API_KEY: 'sdk-key',
  JWT_SECRET_KEY: 'sdk-secret-0123456789abcdef0123456789', LOG_LEVEL: 'warning',
};

async function connect() {
  const client = new Client({ name: 'ctxd-app-sdk-test', version: '1.0.0' });
  const transport = new StdioClientTransport({ command: bin, args: ['serve', '--stdio'], env, cwd: dir, stderr: 'inherit' });
  await client.connect(transport);
  return client;
}
const call = async (client, name, args) => {
  const r = await client.callTool({ name, arguments: args });
  assert.deepEqual(JSON.parse(r.content[0].text), r.structuredContent);
  return { ...r.structuredContent, isError: !!r.isError };
};

try {
  const a = await connect();
  const b = await connect();   // a second process on the same SQLite file
  assert.equal(a.getServerVersion().name, 'ctxd');
  const tools = (await a.listTools()).tools.map((t) => t.name);
  for (const t of ['authenticate_agent', 'refresh_token', 'create_session', 'get_session', 'add_message',
    'get_messages', 'list_sessions', 'get_message', 'get_thread', 'set_memory', 'get_memory', 'list_memory',
    'delete_memory', 'search_context', 'search_by_sender', 'search_by_timerange', 'get_usage_guidance',
    'get_performance_metrics']) assert.ok(tools.includes(t), t);

  const ta = (await call(a, 'authenticate_agent', { agent_id: 'claude-a', agent_type: 'claude' })).token;
  const tb = (await call(b, 'authenticate_agent', { agent_id: 'gemini-b', agent_type: 'gemini' })).token;
  assert.match(ta, /^sct_/);

  // a stdio process is its own local user's: without auth_token a call acts as the agent
  // that authenticated in this MCP session (an explicit auth_token still wins)
  const own = await call(a, 'create_session', { purpose: 'x' });
  assert.equal(own.success, true, JSON.stringify(own));

  const sid = (await call(a, 'create_session', { purpose: 'sdk collaboration', auth_token: ta })).session_id;
  assert.match(sid, /^session_[0-9a-f]{16}$/);

  const uri = `session://${sid}`;
  let updated;
  const seen = new Promise((resolve) => {
    b.setNotificationHandler(types.ResourceUpdatedNotificationSchema, (n) => { updated = n.params.uri; resolve(); });
  });
  await b.subscribeResource({ uri });

  const pub = await call(a, 'add_message', { session_id: sid, content: 'The cache invalidation bug is in lru.c', auth_token: ta });
  await call(a, 'add_message', { session_id: sid, content: 'claude-only hint', visibility: 'agent_only', auth_token: ta });
  await call(a, 'add_message', { session_id: sid, content: 'my private scratch', visibility: 'private', auth_token: ta });
  await call(b, 'add_message', { session_id: sid, content: 'Confirmed, see line 42', parent_message_id: pub.message_id, auth_token: tb });

  // b sees public ones only; a sees its own private and agent_only too
  const mb = await call(b, 'get_messages', { session_id: sid, auth_token: tb });
  assert.deepEqual(mb.messages.map((m) => m.content), ['The cache invalidation bug is in lru.c', 'Confirmed, see line 42']);
  const ma = await call(a, 'get_messages', { session_id: sid, auth_token: ta });
  assert.equal(ma.count, 4);
  const newer = await call(a, 'get_messages', { session_id: sid, since_id: pub.message_id, auth_token: ta });
  assert.equal(newer.count, 3);

  const s = await call(b, 'search_context', { session_id: sid, query: 'cache invalidation', auth_token: tb });
  assert.equal(s.results[0].score, 100);
  assert.equal(s.results[0].relevance, 'high');
  const hidden = await call(b, 'search_context', { session_id: sid, query: 'private scratch', auth_token: tb });
  assert.ok(hidden.results.every((r) => r.message.content !== 'my private scratch'));

  const th = await call(a, 'get_thread', { message_id: pub.message_id, auth_token: ta });
  assert.equal(th.messages.length, 2);

  await call(a, 'set_memory', { key: 'n', value: '123', auth_token: ta });
  assert.equal((await call(a, 'get_memory', { key: 'n', auth_token: ta })).value, '123');
  await call(a, 'set_memory', { key: 'o', value: { k: [1, 2] }, expires_in: 60, auth_token: ta });
  assert.deepEqual((await call(a, 'get_memory', { key: 'o', auth_token: ta })).value, { k: [1, 2] });
  const e1 = await call(a, 'set_memory', { key: 'bad key', value: 1, auth_token: ta });
  assert.equal(e1.code, 'INVALID_KEY');

  await seen;
  assert.equal(updated, uri);
  const res = await b.readResource({ uri });
  const body = JSON.parse(res.contents[0].text);
  assert.ok(body.messages.every((m) => m.visibility === 'public'));

  const p = await b.getPrompt({ name: 'debug-session', arguments: { session_id: sid } });
  assert.ok(!p.messages[0].content.text.includes('my private scratch'));

  await a.close();
  await b.close();
  console.log('sdk_stdio: all checks passed');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
