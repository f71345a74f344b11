// tests/e2e/agent_keys.mjs — issue 11, findings 7 and 8, end to end against the real
// `ctxd serve` with the official MCP SDK client:
// - the shared API_KEY under the default policy is no admin (no admin type, no admin
//   permission), and reads no one else's private messages;
// - `ctxd agent add` (run in another process while the server runs) issues a key, printed
//   once, bound to an agent id, type and permissions; presented as X-API-Key it gets
//   exactly that identity (another agent_id, another type or more permissions:
//   PERMISSION_DENIED) and the shared key can no longer claim that agent; an admin's key
//   is the admin; `ctxd agent list` never shows a key;
// - `ctxd agent revoke` and `ctxd agent rotate` take effect at the very next login (the
//   old key: AUTH_FAILED);
// - a restricted session does not exist for an agent it does not admit;
// - refusals are audited (auth_refused / auth_failed) without the key; no key reaches the
//   log; the database (SQLite: its files) holds no protected token issued, and `ctxd
//   export` writes none.
// Usage: node agent_keys.mjs <ctxd> <sqlite|pg|mariadb|mongo>. Exit 77 when the SDK is
// missing.
// Must not: sleep for timing, or leave processes, files or databases behind.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
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
  const ctxd = (...args) => execFileSync(bin, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  const keyOf = (out) => {
    const m = out.match(/ctxd_ak_[A-Za-z0-9_-]{43}/g);
    assert.ok(m && m.length === 1, `one key printed: ${out}`);
    return m[0];
  };
  const dump = () => ctxd('export').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const srv = await startServe(bin, { env: { DATABASE_URL: dbUrl } });
  const tokens = [];
  const keys = [];
  try {
    // the shared key alone (default policy), before any agent has a key of its own
    const s = await connect(srv.url, API_KEY);
    await fails(s, 'authenticate_agent', { agent_id: 'root', agent_type: 'admin', requested_permissions: ['read', 'write', 'admin'] }, 'PERMISSION_DENIED');
    await fails(s, 'authenticate_agent', { agent_id: 'root', agent_type: 'system' }, 'PERMISSION_DENIED');
    await fails(s, 'authenticate_agent', { agent_id: 'carol', agent_type: 'claude', requested_permissions: ['read', 'admin'] }, 'PERMISSION_DENIED');
    const tc = (await ok(s, 'authenticate_agent', { agent_id: 'carol', agent_type: 'claude' })).token;
    tokens.push(tc);
    await fails(s, 'get_performance_metrics', { auth_token: tc }, 'PERMISSION_DENIED');

    // alice gets her key while the server runs: from now on she is her key only
    const k1 = keyOf(ctxd('agent', 'add', 'alice', '--type', 'claude', '--permissions', 'read,write'));
    const kr = keyOf(ctxd('agent', 'add', 'root', '--type', 'admin'));
    keys.push(k1, kr);
    const a = await connect(srv.url, k1);
    const t = await ok(a, 'authenticate_agent', { agent_id: 'alice', agent_type: 'claude' });
    assert.deepEqual(t.permissions, ['read', 'write']);
    tokens.push(t.token);
    const sid = (await ok(a, 'create_session', { purpose: 'keys', auth_token: t.token })).session_id;
    await ok(a, 'add_message', { session_id: sid, content: 'alice private note', visibility: 'private', auth_token: t.token });
    await fails(a, 'authenticate_agent', { agent_id: 'bob', agent_type: 'claude' }, 'PERMISSION_DENIED');
    await fails(a, 'authenticate_agent', { agent_id: 'alice', agent_type: 'admin' }, 'PERMISSION_DENIED');
    await fails(a, 'authenticate_agent', { agent_id: 'alice', agent_type: 'claude',
      requested_permissions: ['read', 'write', 'admin'] }, 'PERMISSION_DENIED');
    // the shared key cannot be alice any more, and as carol reads nothing of hers
    await fails(s, 'authenticate_agent', { agent_id: 'alice', agent_type: 'claude' }, 'PERMISSION_DENIED');
    const seen = await ok(s, 'get_messages', { session_id: sid, auth_token: tc });
    assert.ok(!JSON.stringify(seen).includes('alice private note'));
    // the admin's key is the admin, and reads it
    const r = await connect(srv.url, kr);
    const tr = await ok(r, 'authenticate_agent', { agent_id: 'root', agent_type: 'admin', requested_permissions: ['read', 'write', 'admin'] });
    tokens.push(tr.token);
    const all = await ok(r, 'get_messages', { session_id: sid, auth_token: tr.token });
    assert.ok(JSON.stringify(all).includes('alice private note'));
    await ok(r, 'get_performance_metrics', { auth_token: tr.token });
    // a restricted session is not there for those it does not admit
    const rsid = (await ok(a, 'create_session', { purpose: 'inner circle', allowed_agents: ['root'], auth_token: t.token })).session_id;
    await fails(s, 'get_session', { session_id: rsid, auth_token: tc }, 'SESSION_NOT_FOUND');
    assert.ok(!JSON.stringify(await ok(s, 'list_sessions', { auth_token: tc })).includes(rsid));
    await ok(r, 'get_session', { session_id: rsid, auth_token: tr.token });

    // list: the agents, never a key
    const list = ctxd('agent', 'list');
    assert.match(list, /alice +claude +read,write +active/);
    assert.match(list, /root +admin +read,write,admin,debug +active/);
    assert.ok(!list.includes('ctxd_ak_'), list);

    // revoked while the server runs: its next login with the key fails
    ctxd('agent', 'revoke', 'alice');
    await fails(a, 'authenticate_agent', { agent_id: 'alice', agent_type: 'claude' }, 'AUTH_FAILED');
    await fails(s, 'authenticate_agent', { agent_id: 'alice', agent_type: 'claude' }, 'PERMISSION_DENIED');
    assert.match(ctxd('agent', 'list'), /alice +claude +read,write +revoked/);
    // rotated: a new key works, the old ones stay refused
    const k2 = keyOf(ctxd('agent', 'rotate', 'alice'));
    keys.push(k2);
    assert.notEqual(k2, k1);
    await fails(a, 'authenticate_agent', { agent_id: 'alice', agent_type: 'claude' }, 'AUTH_FAILED');
    const a2 = await connect(srv.url, k2);
    tokens.push((await ok(a2, 'authenticate_agent', { agent_id: 'alice', agent_type: 'claude' })).token);
    const k3 = keyOf(ctxd('agent', 'rotate', 'alice'));
    keys.push(k3);
    await fails(a2, 'authenticate_agent', { agent_id: 'alice', agent_type: 'claude' }, 'AUTH_FAILED');
    const a3 = await connect(srv.url, k3);
    tokens.push((await ok(a3, 'authenticate_agent', { agent_id: 'alice', agent_type: 'claude' })).token);
    for (const c of [a, s, r, a2, a3]) await c.close();
    // nothing of a key in the server's log
    for (const k of keys) assert.ok(!srv.stderr().includes(k), 'a key reached the log');
  } finally {
    const code = await srv.stop();
    assert.equal(code, 0, srv.stderr());
  }

  // the audit log: the refusals, with the credential, never a key or token
  const rows = dump();
  const audit = rows.filter((l) => l.table === 'audit_log').map((l) => l.row);
  const refusedRows = audit.filter((x) => x.event_type === 'auth_refused');
  assert.ok(refusedRows.length >= 8, `auth_refused: ${refusedRows.length}`);
  assert.ok(refusedRows.some((x) => JSON.stringify(x.metadata).includes('shared_key') && x.agent_id === 'root'));
  assert.ok(refusedRows.some((x) => JSON.stringify(x.metadata).includes('agent_key') && x.agent_id === 'bob'));
  assert.ok(audit.filter((x) => x.event_type === 'auth_failed').length >= 3);
  assert.ok(audit.some((x) => x.event_type === 'credential_added' && x.agent_id === 'alice'));
  assert.ok(audit.some((x) => x.event_type === 'credential_revoked' && x.agent_id === 'alice'));
  assert.equal(audit.filter((x) => x.event_type === 'credential_rotated').length, 2);
  const text = JSON.stringify(rows);
  for (const k of keys) assert.ok(!text.includes(k), 'a key reached the database');
  // issue 11, finding 7: no protected token in an export by default, nor in the database
  assert.equal(rows.filter((l) => l.table === 'secure_tokens').length, 0, 'export holds tokens');
  assert.ok(rows.some((l) => l.end && l.tables.secure_tokens.rows === 0));
  for (const tk of tokens) assert.ok(!text.includes(tk), 'a token reached the export');
  const withTokens = ctxd('export', '--include-tokens');
  assert.ok(withTokens.includes('"table":"secure_tokens"'), 'export --include-tokens writes them');
  for (const tk of tokens) assert.ok(!withTokens.includes(tk), 'a token is stored in clear');
  if (backend === 'sqlite') {
    const path = dbUrl.replace(/^sqlite:\/\//, '');
    const files = [path, `${path}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f));
    for (const tk of tokens) for (const f of files) assert.ok(!f.includes(tk), 'the database file holds a token');
    for (const k of keys) for (const f of files) assert.ok(!f.includes(k), 'the database file holds a key');
  }
});
console.log(`agent keys on ${backend}: ok`);
