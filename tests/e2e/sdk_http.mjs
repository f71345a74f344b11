// tests/e2e/sdk_http.mjs — end to end: the official MCP TypeScript SDK client
// (StreamableHTTPClientTransport) against the real `ctxd serve` over HTTP on a free port.
// Four agents of different types (claude, gemini, admin, generic) authenticate with
// X-API-Key, collaborate in one session and exercise every tool, the resources (list,
// templates, read), a resource subscription (notifications/resources/updated arrives),
// both prompts, the visibility rule, `Authorization: Bearer`, and the error envelope.
// Usage: node sdk_http.mjs <ctxd> <sqlite|pg|mariadb|mongo>. Exit 77 when the SDK is missing.
// Must not: sleep for timing, or leave processes, files or databases behind.
import assert from 'node:assert/strict';
import { API_KEY, SHARED_KEY_ANYTHING, loadSdk, startServe, withBackend } from './lib.mjs';

const { Client, StreamableHTTPClientTransport, types } = await loadSdk();
const bin = process.argv[2];
const backend = process.argv[3] || 'sqlite';
assert.ok(bin, 'usage: node sdk_http.mjs <ctxd> <sqlite|pg|mariadb|mongo>');

async function connect(url, headers = { 'X-API-Key': API_KEY }) {
  const client = new Client({ name: 'ctxd-e2e', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return client;
}
const call = async (client, name, args) => {
  const r = await client.callTool({ name, arguments: args });
  const body = JSON.parse(r.content[0].text);
  if (r.structuredContent) assert.deepEqual(body, r.structuredContent);
  return { ...body, isError: !!r.isError };
};
const ok = async (client, name, args) => {
  const r = await call(client, name, args);
  assert.equal(r.isError, false, `${name}: ${JSON.stringify(r)}`);
  assert.equal(r.success, true, name);
  return r;
};
const fails = async (client, name, args, code) => {
  const r = await call(client, name, args);
  assert.equal(r.isError, true, `${name} should fail with ${code}: ${JSON.stringify(r)}`);
  assert.equal(r.success, false);
  for (const f of ['error', 'code', 'severity', 'recoverable', 'timestamp']) assert.ok(f in r, `envelope lacks ${f}`);
  if (code) assert.equal(r.code, code, `${name}: ${JSON.stringify(r)}`);
  return r;
};

await withBackend(backend, async ({ url: dbUrl }) => {
  // the shared key stands for every agent here, the admin included: the operator's policy
  // says so (by default it may not claim admin; tests/e2e/agent_keys.mjs)
  const srv = await startServe(bin, { env: { DATABASE_URL: dbUrl, ...SHARED_KEY_ANYTHING } });
  const toolsSeen = new Set();
  try {
    const a = await connect(srv.url);   // claude
    const b = await connect(srv.url);   // gemini
    const c = await connect(srv.url);   // admin
    const d = await connect(srv.url);   // generic (read only)
    assert.equal(a.getServerVersion().name, 'ctxd');
    const tools = (await a.listTools()).tools.map((t) => t.name);
    const all = ['authenticate_agent', 'refresh_token', 'create_session', 'get_session', 'add_message',
      'get_messages', 'list_sessions', 'get_message', 'get_thread', 'set_memory', 'get_memory', 'list_memory',
      'delete_memory', 'search_context', 'search_by_sender', 'search_by_timerange', 'get_usage_guidance',
      'get_performance_metrics'];
    for (const t of all) assert.ok(tools.includes(t), `tools/list lacks ${t}`);
    const track = (name) => toolsSeen.add(name);
    const O = async (cl, n, args) => { track(n); return ok(cl, n, args); };
    const F = async (cl, n, args, code) => { track(n); return fails(cl, n, args, code); };

    // authentication: API key over HTTP is required
    const noKey = await connect(srv.url, {});
    await F(noKey, 'authenticate_agent', { agent_id: 'mallory', agent_type: 'claude' });
    const badKey = await connect(srv.url, { 'X-API-Key': 'wrong' });
    await F(badKey, 'authenticate_agent', { agent_id: 'mallory', agent_type: 'claude' });
    await noKey.close(); await badKey.close();

    const ta = (await O(a, 'authenticate_agent', { agent_id: 'claude-a', agent_type: 'claude' })).token;
    const tb = (await O(b, 'authenticate_agent', { agent_id: 'gemini-b', agent_type: 'gemini' })).token;
    const tc = (await O(c, 'authenticate_agent', { agent_id: 'admin-c', agent_type: 'admin', requested_permissions: ['read', 'write', 'admin'] })).token;
    const td = (await O(d, 'authenticate_agent', { agent_id: 'reader-d', agent_type: 'generic', requested_permissions: ['read'] })).token;
    assert.match(ta, /^sct_/);
    const rt = await O(a, 'refresh_token', { current_token: ta });
    assert.ok(rt.token);
    const ta2 = rt.token;

    await F(a, 'create_session', { purpose: 'x', auth_token: 'sct_00000000-0000-4000-8000-000000000000' });
    await F(a, 'create_session', { purpose: 'x', auth_token: 'garbage' });
    const sid = (await O(a, 'create_session', { purpose: 'e2e collaboration', metadata: { project: 'ctxd' }, auth_token: ta2 })).session_id;
    assert.match(sid, /^session_[0-9a-f]{16}$/);

    // subscription: b subscribes to the session resource and sees the update
    const uri = `session://${sid}`;
    let updated;
    const seen = new Promise((resolve) => {
      b.setNotificationHandler(types.ResourceUpdatedNotificationSchema, (n) => { updated = n.params.uri; resolve(); });
    });
    await b.subscribeResource({ uri });

    const pub = await O(a, 'add_message', { session_id: sid, content: 'The cache invalidation bug is in lru.c', metadata: { file: 'lru.c' }, auth_token: ta2 });
    await O(a, 'add_message', { session_id: sid, content: 'claude-only hint', visibility: 'agent_only', auth_token: ta2 });
    await O(a, 'add_message', { session_id: sid, content: 'my private scratch', visibility: 'private', auth_token: ta2 });
    await O(c, 'add_message', { session_id: sid, content: 'admin eyes only', visibility: 'admin_only', auth_token: tc });
    const reply = await O(b, 'add_message', { session_id: sid, content: 'Confirmed, see line 42', parent_message_id: pub.message_id, auth_token: tb });
    await seen;
    assert.equal(updated, uri);

    // visibility
    const contents = async (cl, t) => (await O(cl, 'get_messages', { session_id: sid, auth_token: t })).messages.map((m) => m.content);
    assert.deepEqual(await contents(b, tb), ['The cache invalidation bug is in lru.c', 'Confirmed, see line 42']);
    assert.deepEqual(await contents(a, ta2), ['The cache invalidation bug is in lru.c', 'claude-only hint', 'my private scratch', 'Confirmed, see line 42']);
    assert.equal((await contents(c, tc)).length, 5);
    assert.deepEqual(await contents(d, td), ['The cache invalidation bug is in lru.c', 'Confirmed, see line 42']);
    const newer = await O(a, 'get_messages', { session_id: sid, since_id: pub.message_id, auth_token: ta2 });
    assert.equal(newer.count, 3);
    await F(b, 'get_messages', { session_id: sid, visibility_filter: 'bogus', auth_token: tb });
    await F(a, 'add_message', { session_id: sid, content: 'nope', visibility: 'admin_only', auth_token: ta2 });
    await F(d, 'add_message', { session_id: sid, content: 'reader cannot write', auth_token: td }, 'PERMISSION_DENIED');
    // without auth_token: the agent that authenticated in this MCP session, on requests
    // presenting the same X-API-Key (which `a` does)
    const own = await O(a, 'get_messages', { session_id: sid });
    assert.deepEqual(own.messages.map((m) => m.content), await contents(a, ta2));
    await F(a, 'add_message', { session_id: 'session_0000000000000000', content: 'x', auth_token: ta2 }, 'SESSION_NOT_FOUND');
    await F(a, 'add_message', { session_id: sid, content: '   ', auth_token: ta2 });

    const gs = await O(b, 'get_session', { session_id: sid, auth_token: tb });
    assert.ok(gs.messages.every((m) => m.visibility === 'public'));
    const ls = await O(b, 'list_sessions', { auth_token: tb });
    assert.ok(ls.sessions.some((s) => s.session_id === sid));
    const gm = await O(b, 'get_message', { message_id: pub.message_id, auth_token: tb });
    assert.equal((gm.message || gm).content, 'The cache invalidation bug is in lru.c');
    const priv = (await O(a, 'get_messages', { session_id: sid, auth_token: ta2 })).messages.find((m) => m.visibility === 'private');
    await F(b, 'get_message', { message_id: priv.id ?? priv.message_id, auth_token: tb });
    const th = await O(b, 'get_thread', { message_id: pub.message_id, auth_token: tb });
    assert.deepEqual(th.messages.map((m) => m.content), ['The cache invalidation bug is in lru.c', 'Confirmed, see line 42']);
    assert.ok(reply.message_id > pub.message_id);

    const s = await O(b, 'search_context', { session_id: sid, query: 'cache invalidation', auth_token: tb });
    assert.equal(s.results[0].score, 100);
    assert.equal(s.results[0].relevance, 'high');
    const hidden = await O(b, 'search_context', { session_id: sid, query: 'private scratch', auth_token: tb });
    assert.ok(hidden.results.every((r) => r.message.content !== 'my private scratch'));
    const bySender = await O(c, 'search_by_sender', { session_id: sid, sender: 'claude-a', auth_token: tc });
    assert.equal(bySender.count, 3);
    const from = new Date(Date.now() - 3600e3).toISOString(), to = new Date(Date.now() + 3600e3).toISOString();
    const tr = await O(b, 'search_by_timerange', { session_id: sid, start_time: from, end_time: to, auth_token: tb });
    assert.equal(tr.count, 2);
    await F(b, 'search_by_timerange', { session_id: sid, start_time: 'yesterday', end_time: to, auth_token: tb }, 'INVALID_DATETIME');

    // memory
    await O(a, 'set_memory', { key: 'n', value: '123', auth_token: ta2 });
    assert.equal((await O(a, 'get_memory', { key: 'n', auth_token: ta2 })).value, '123');
    await O(a, 'set_memory', { key: 'o', value: { k: [1, 2] }, session_id: sid, expires_in: 60, auth_token: ta2 });
    assert.deepEqual((await O(a, 'get_memory', { key: 'o', session_id: sid, auth_token: ta2 })).value, { k: [1, 2] });
    await F(a, 'set_memory', { key: 'n', value: 1, overwrite: false, auth_token: ta2 }, 'KEY_EXISTS');
    await F(a, 'set_memory', { key: 'bad key', value: 1, auth_token: ta2 }, 'INVALID_KEY');
    await F(b, 'get_memory', { key: 'n', auth_token: tb }, 'MEMORY_NOT_FOUND');   // memory is per agent
    const lm = await O(a, 'list_memory', { session_id: 'all', auth_token: ta2 });
    assert.deepEqual(lm.entries.map((e) => e.key).sort(), ['n', 'o']);
    assert.equal((await O(a, 'delete_memory', { key: 'n', auth_token: ta2 })).deleted, true);
    await F(a, 'get_memory', { key: 'n', auth_token: ta2 }, 'MEMORY_NOT_FOUND');

    const g = await O(b, 'get_usage_guidance', { guidance_type: 'coordination', auth_token: tb });
    assert.ok(g.guidance);
    await F(b, 'get_performance_metrics', { auth_token: tb }, 'PERMISSION_DENIED');
    const pm = await O(c, 'get_performance_metrics', { auth_token: tc });
    assert.ok(JSON.stringify(pm).includes('add_message'));
    // the database figures, in the same terms on every backend
    assert.equal(pm.database.backend, { sqlite: 'sqlite', pg: 'postgresql', mariadb: 'mysql', mongo: 'mongodb' }[backend]);
    assert.ok(pm.database.pool.size >= 1 && pm.database.pool.acquired > 0, JSON.stringify(pm.database.pool));
    assert.ok(pm.database.queries.statements > 0, JSON.stringify(pm.database.queries));

    // Authorization: Bearer instead of auth_token
    const bearer = await connect(srv.url, { 'X-API-Key': API_KEY, Authorization: `Bearer ${tb}` });
    const viaBearer = await O(bearer, 'get_messages', { session_id: sid });
    assert.equal(viaBearer.count, 2);

    // resources
    const rl = await b.listResources();
    assert.ok(Array.isArray(rl.resources));
    const tpl = (await b.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate);
    for (const t of ['session://{session_id}', 'agent://{agent_id}/memory']) assert.ok(tpl.includes(t), `templates lack ${t}`);
    const res = JSON.parse((await bearer.readResource({ uri })).contents[0].text);
    assert.ok(res.messages.every((m) => m.visibility === 'public'));
    // b authenticated on its own MCP session: resources use that identity without a bearer
    const resB = JSON.parse((await b.readResource({ uri: `${uri}/messages/10` })).contents[0].text);
    assert.ok(JSON.stringify(resB).includes('Confirmed, see line 42'));
    assert.ok(!JSON.stringify(resB).includes('my private scratch'));
    await O(a, 'set_memory', { key: 'note', value: 'mine', auth_token: ta2 });
    const memA = (await a.readResource({ uri: 'agent://claude-a/memory' })).contents[0].text;
    assert.ok(memA.includes('note'));
    await assert.rejects(b.readResource({ uri: 'agent://claude-a/memory' }));
    await b.unsubscribeResource({ uri });

    // prompts
    const pl = (await b.listPrompts()).prompts.map((p) => p.name);
    assert.ok(pl.includes('setup-collaboration') && pl.includes('debug-session'));
    const dp = await b.getPrompt({ name: 'debug-session', arguments: { session_id: sid } });
    const dtext = JSON.stringify(dp.messages);
    assert.ok(dtext.includes('cache invalidation') && !dtext.includes('my private scratch') && !dtext.includes('admin eyes only'));
    const sp = await a.getPrompt({ name: 'setup-collaboration', arguments: { purpose: 'review lru.c', expert_roles: 'reviewer,tester' } });
    assert.ok(JSON.stringify(sp.messages).includes('review lru.c'));

    for (const t of all) assert.ok(toolsSeen.has(t), `tool not exercised: ${t}`);
    for (const cl of [a, b, c, d, bearer]) await cl.close();
  } finally {
    const code = await srv.stop();
    assert.equal(code, 0, `ctxd serve exit ${code}\n${srv.stderr()}`);
  }
  assert.ok(!srv.stderr().includes(API_KEY), 'the API key leaked into the log');
});
console.log(`sdk_http (${backend}): all checks passed`);
