// tests/e2e/agent_keys.mjs — per-agent credentials end to end: `ctxd agent add` issues a
// key (printed once) bound to an agent id, type and permissions; the official MCP SDK
// client presents it as X-API-Key to the real `ctxd serve` and gets exactly that identity
// (another agent_id, another type or more permissions: PERMISSION_DENIED); the shared
// API_KEY can no longer claim that agent; `ctxd agent list` never shows a key;
// `ctxd agent revoke` and `ctxd agent rotate`, run while the server is running (another
// process on the same database), take effect on its very next login (the old key:
// AUTH_FAILED). Refusals are audited (auth_refused / auth_failed) without the key.
// Usage: node agent_keys.mjs <ctxd> <sqlite|pg|mariadb|mongo>. Exit 77 when the SDK is
// missing.
// Must not: sleep for timing, or leave processes, files or databases behind.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { API_KEY, JWT_SECRET, loadSdk, startServe, withBackend } from './lib.mjs';

const { Client, StreamableHTTPClientTransport } = await loadSdk();
const bin = process.argv[2];
const backend = process.argv[3] || 'sqlite';
assert.ok(bin, 'usage: node agent_keys.mjs <ctxd> <sqlite|pg|mariadb|mongo>');

async function connect(url, key) {
  const client = new Client({ name: 'ctxd-e2e-keys', version: '1.0.0' });
  const headers = key ? { 'X-API-Key': key } : {};
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return client;
}
async function call(client, name, args) {
  const r = await client.callTool({ name, arguments: args });
  return { ...JSON.parse(r.content[0].text), isError: !!r.isError };
}
async function ok(client, name, args) {
  const r = await call(client, name, args);
  assert.equal(r.success, true, `${name}: ${JSON.stringify(r)}`);
  return r;
}
async function fails(client, name, args, code) {
  const r = await call(client, name, args);
  assert.equal(r.success, false, `${name} should fail with ${code}: ${JSON.stringify(r)}`);
  assert.equal(r.code, code, `${name}: ${JSON.stringify(r)}`);
  return r;
}

await withBackend(backend, async ({ url: dbUrl }) => {
  const env = { ...process.env, API_KEY, JWT_SECRET_KEY: JWT_SECRET, DATABASE_URL: dbUrl, LOG_LEVEL: 'warning' };
  const ctxd = (...args) => execFileSync(bin, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const keyOf = (out) => {
    const m = out.match(/ctxd_ak_[A-Za-z0-9_-]{43}/g);
    assert.ok(m && m.length === 1, `one key printed: ${out}`);
    return m[0];
  };
  ctxd('migrate', 'up');
  const k1 = keyOf(ctxd('agent', 'add', 'alice', '--type', 'claude', '--permissions', 'read,write'));
  const srv = await startServe(bin, { env: { DATABASE_URL: dbUrl } });
  try {
    // the key is alice: exactly alice
    const a = await connect(srv.url, k1);
    const t = await ok(a, 'authenticate_agent', { agent_id: 'alice', agent_type: 'claude' });
    assert.deepEqual(t.permissions, ['read', 'write']);
    await ok(a, 'create_session', { purpose: 'keys', auth_token: t.token });
    await fails(a, 'authenticate_agent', { agent_id: 'bob', agent_type: 'claude' }, 'PERMISSION_DENIED');
    await fails(a, 'authenticate_agent', { agent_id: 'alice', agent_type: 'admin' }, 'PERMISSION_DENIED');
    await fails(a, 'authenticate_agent', { agent_id: 'alice', agent_type: 'claude',
      requested_permissions: ['read', 'write', 'admin'] }, 'PERMISSION_DENIED');
    // the shared key cannot be alice any more; it still is anyone else (default policy)
    const s = await connect(srv.url, API_KEY);
    await fails(s, 'authenticate_agent', { agent_id: 'alice', agent_type: 'claude' }, 'PERMISSION_DENIED');
    await ok(s, 'authenticate_agent', { agent_id: 'carol', agent_type: 'claude' });
    // list: the agent, never a key
    const list = ctxd('agent', 'list');
    assert.match(list, /alice/);
    assert.match(list, /claude/);
    assert.ok(!list.includes(k1) && !list.includes('ctxd_ak_'), list);

    // revoked while the server runs: its next login with the key fails
    ctxd('agent', 'revoke', 'alice');
    await fails(a, 'authenticate_agent', { agent_id: 'alice', agent_type: 'claude' }, 'AUTH_FAILED');
    await fails(s, 'authenticate_agent', { agent_id: 'alice', agent_type: 'claude' }, 'PERMISSION_DENIED');
    // rotated: a new key works, the old one stays refused
    const k2 = keyOf(ctxd('agent', 'rotate', 'alice'));
    assert.notEqual(k2, k1);
    await fails(a, 'authenticate_agent', { agent_id: 'alice', agent_type: 'claude' }, 'AUTH_FAILED');
    const a2 = await connect(srv.url, k2);
    await ok(a2, 'authenticate_agent', { agent_id: 'alice', agent_type: 'claude' });
    const k3 = keyOf(ctxd('agent', 'rotate', 'alice'));
    await fails(a2, 'authenticate_agent', { agent_id: 'alice', agent_type: 'claude' }, 'AUTH_FAILED');
    const a3 = await connect(srv.url, k3);
    await ok(a3, 'authenticate_agent', { agent_id: 'alice', agent_type: 'claude' });
    for (const c of [a, s, a2, a3]) await c.close();
    // nothing of a key in the server's log
    for (const k of [k1, k2, k3]) assert.ok(!srv.stderr().includes(k), 'a key reached the log');
  } finally {
    const code = await srv.stop();
    assert.equal(code, 0, srv.stderr());
  }
});
console.log(`agent keys on ${backend}: ok`);
