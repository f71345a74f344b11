// tests/e2e/visibility_matrix.mjs — the visibility rule proved by a generated matrix
// against the real `ctxd serve` over Streamable HTTP with the official MCP SDK client
// (docs/mcp-interface.md, "Visibility"). Identities (rows): two claude agents, a gemini
// agent, an agent of a custom type ("reviewer", given read+write by
// PERMISSIONS_CONFIG_FILE), an admin, an agent of type admin WITHOUT the admin
// permission, and the human watching (ctxd has no identity of its own for a person: a
// person reads through an MCP client as a read-only agent of type generic). Each
// identity reads through every credential kind (CREDENTIALS: the token argument on an
// API-key MCP session that remembers the token, and an Authorization: Bearer session).
// Writers post messages of every visibility they may (and replies: a ring of replies,
// chains whose middle reply is hidden, replies across sessions) and memory entries;
// the EXPECTED result of every read is derived from the rule written once below
// (mayRead, mayReadMemory), never from the server's answers. Paths: every read tool
// with every argument value that selects messages (every visibility_filter and
// search_scope, unknown ones too), every resource and template, both prompts,
// completion, subscriptions and their notifications/resources/updated (attributed to
// each post with a fence message in a session of its own), and every byte each client
// received (POST answers and the SSE GET stream): no marker of a message or memory value
// the reader may not see appears anywhere, and nothing the reader may see is missing.
// Usage: node visibility_matrix.mjs <ctxd> <sqlite|pg>. Exit 77 when the SDK is missing.
// Must not: sleep for timing (fences and promises order the notifications), derive an
// expectation from a server answer, or leave processes, files or databases behind.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { API_KEY, agentKey, loadSdk, startServe, withBackend } from './lib.mjs';

const { Client, StreamableHTTPClientTransport, types } = await loadSdk();
const bin = process.argv[2];
const backend = process.argv[3] || 'sqlite';
assert.ok(bin, 'usage: node visibility_matrix.mjs <ctxd> <sqlite|pg>');
const t0 = Date.now();

// ---------------------------------------------------------------- the rows

const VISIBILITIES = ['public', 'private', 'agent_only', 'admin_only'];
// name, agent_type, permissions requested (granted = limited by the type: see the docs)
const IDENTITIES = [
  { name: 'claude-1', type: 'claude', perms: ['read', 'write'] },
  { name: 'claude-2', type: 'claude', perms: ['read', 'write'] },
  { name: 'gemini-1', type: 'gemini', perms: ['read', 'write'] },
  { name: 'reviewer-1', type: 'reviewer', perms: ['read', 'write'] }, // custom type (config file)
  // the admins log in with keys of their own (`ctxd agent add`): the shared key may not
  // claim an admin type (its default policy)
  { name: 'admin-1', type: 'admin', perms: ['read', 'write', 'admin'], ownKey: true },
  { name: 'admin-noperm', type: 'admin', perms: ['read', 'write'], ownKey: true }, // type admin, no admin permission
  { name: 'human', type: 'generic', perms: ['read'] }, // the person watching: read only
];
// Sessions: S1 and S2 carry the matrix, S3 stays empty, S4 has no public message (its
// participants differ per reader), SF carries the fences. A restricted session would be
// one more row (and a clause in maySeeSession).
const SESSION_ROWS = [
  { name: 'S1', creator: 'claude-1' }, { name: 'S2', creator: 'gemini-1' }, { name: 'S3', creator: 'reviewer-1' },
  { name: 'S4', creator: 'claude-2' }, { name: 'SF', creator: 'admin-1' },
];
const PERMISSIONS_FILE = { agent_types: { reviewer: ['read', 'write'] } };
// How a reader presents itself. Another credential kind (a per-agent key, ...) is one
// more row: headers for its MCP session, whether authenticate_agent runs on that
// session, and the arguments added to every tool call.
const CREDENTIALS = [
  { name: 'arg', headers: (id) => ({ 'X-API-Key': id.key || API_KEY }), authenticateHere: true, args: (id) => ({ auth_token: id.token }) },
  { name: 'bearer', headers: (id) => ({ Authorization: `Bearer ${id.token}` }), authenticateHere: false, args: () => ({}) },
];
// visibility_filter values: the four, absence, and values that are none of the four
const UNKNOWN_FILTERS = ['PUBLIC', 'Private', 'AGENT_ONLY', 'bogus', 'all', '*', '%', ' public', 'public ',
  'public,private', 'agent-only', 'admin', 'publi', "public' OR '1'='1", 'x'.repeat(300), 'é'];
const BADLY_TYPED_FILTERS = [5, true, ['public'], { v: 'public' }, 'public\u0000'];
const UNKNOWN_SCOPES = ['agent_only', 'admin_only', 'bogus', 'ALL', 'Public', ''];
// Every tool of tools/list is a read path below or one of these, which return no
// message or memory value (a new tool fails the test until it is placed).
const NOT_READING = ['authenticate_agent', 'refresh_token', 'create_session', 'add_message', 'set_memory', 'delete_memory'];

// ---------------------------------------------------------------- the rule, written once

const hasPerm = (r, p) => r.granted.includes(p);
// docs/mcp-interface.md "Visibility": sessions are not restricted (every agent with read
// lists them and reads their purpose); admins read every message; public -> every agent
// with read; private -> the sender; agent_only -> agents of the sender's type;
// admin_only -> agents with admin.
const maySeeSession = (reader, sessionId) => hasPerm(reader, 'read') && SESSION_ROWS.some((s) => s.id === sessionId);
function mayRead(reader, m) {
  if (!m.stored || !maySeeSession(reader, m.session)) return false;
  if (hasPerm(reader, 'admin')) return true;
  switch (m.visibility) {
    case 'public': return true;
    case 'private': return m.sender === reader.name;
    case 'agent_only': return m.senderType === reader.type;
    default: return false;
  }
}
const mayPost = (w, vis) => hasPerm(w, 'write') && (vis !== 'admin_only' || hasPerm(w, 'admin'));
// Memory is private to its agent, admins included.
const mayReadMemory = (reader, e) => e.owner === reader.name;
// the permissions a type allows (docs' table, plus the config file)
function allowed(type) {
  if (PERMISSIONS_FILE.agent_types[type]) return PERMISSIONS_FILE.agent_types[type];
  return { claude: ['read', 'write'], gemini: ['read', 'write'], admin: ['read', 'write', 'admin', 'debug'],
    system: ['read', 'write', 'admin', 'debug'], test: ['read', 'write', 'debug'] }[type] ?? ['read'];
}

// ---------------------------------------------------------------- checks, counted per path

const counts = new Map(), took = new Map();
function checker(path) {
  const bump = () => counts.set(path, (counts.get(path) || 0) + 1);
  return {
    eq(actual, expected, what) { bump(); assert.deepEqual(actual, expected, `${path}: ${what}`); },
    ok(cond, what) { bump(); assert.ok(cond, `${path}: ${what}`); },
  };
}

// at most n at once (one client's requests; the machine is small)
async function mapLimit(items, n, fn) {
  const out = new Array(items.length);
  let i = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (i < items.length) { const k = i++; out[k] = await fn(items[k], k); }
  }));
  return out;
}

// ---------------------------------------------------------------- clients that record every byte

// A fetch that keeps a copy of every request body (tx) and every byte received (rx),
// the SSE GET stream included, and resolves getOpen when the GET stream is open.
function recordingFetch(rec) {
  return async (url, init = {}) => {
    if (typeof init.body === 'string') rec.tx += init.body;
    const res = await fetch(url, init);
    if ((init.method || 'GET') === 'GET' && res.ok) rec.openGet();
    if (!res.body) return res;
    const [mine, theirs] = res.body.tee();
    (async () => {
      const dec = new TextDecoder();
      const rd = mine.getReader();
      for (;;) {
        const { done, value } = await rd.read();
        if (done) break;
        rec.rx += dec.decode(value, { stream: true });
      }
    })().catch(() => {});
    return new Response(theirs, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}

// A viewer: one identity through one credential kind, on an MCP session of its own.
async function connectViewer(url, id, cred) {
  const v = { id, cred, name: `${id.name}/${cred.name}`, tx: '', rx: '', notes: new Map(), waiters: [] };
  v.getOpen = new Promise((resolve) => { v.openGet = resolve; });
  v.client = new Client({ name: 'ctxd-visibility-matrix', version: '1.0.0' });
  v.client.setNotificationHandler(types.ResourceUpdatedNotificationSchema, (n) => {
    const u = n.params.uri;
    v.notes.set(u, (v.notes.get(u) || 0) + 1);
    v.waiters = v.waiters.filter((w) => !w());
  });
  await v.client.connect(new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: cred.headers(id) }, fetch: recordingFetch(v),
  }));
  return v;
}
// resolves when uri has had n notifications on v (fails after 20 s: a lost fence)
function heard(v, uri, n) {
  return new Promise((resolve, reject) => {
    const done = () => { if ((v.notes.get(uri) || 0) >= n) { clearTimeout(timer); resolve(); return true; } return false; };
    const timer = setTimeout(() => reject(new Error(`${v.name}: no notification #${n} for ${uri}`)), 20000);
    if (!done()) v.waiters.push(done);
  });
}

const toolsCalled = new Set();
async function call(v, name, args) {
  toolsCalled.add(name);
  const r = await v.client.callTool({ name, arguments: { ...args, ...v.cred.args(v.id) } });
  const body = JSON.parse(r.content[0].text);
  if (r.structuredContent) assert.deepEqual(body, r.structuredContent, `${name}: text and structuredContent differ`);
  return { ...body, isError: !!r.isError };
}
async function ok(v, name, args) {
  const r = await call(v, name, args);
  assert.ok(!r.isError && r.success, `${v.name} ${name}(${JSON.stringify(args)}): ${JSON.stringify(r)}`);
  return r;
}
// a JSON-RPC error of a resource/prompt/complete request: {code, dataCode} or null
async function rpcError(p) {
  try { await p; return null; } catch (e) { return { code: e.code, dataCode: e.data?.code ?? null }; }
}

// ---------------------------------------------------------------- the world the test builds

const world = {
  sessions: {}, // name -> id
  messages: [], // {id, session, sender, senderType, visibility, marker, parent, ts, stored, fence}
  memory: [], // {owner, key, session (id|null), value, marker}
  markerSeq: 0,
};
const marker = (tag) => `vmx${String(++world.markerSeq).padStart(4, '0')}${tag}${Math.random().toString(36).slice(2, 8)}q`;
const byId = (id) => world.messages.find((m) => m.id === id);
const stored = () => world.messages.filter((m) => m.stored);
const visible = (reader, session) => stored().filter((m) => mayRead(reader, m) && (!session || m.session === session));
const descendants = (root) => {
  const out = [];
  const walk = (id) => stored().filter((m) => m.parent === id).forEach((m) => { out.push(m); walk(m.id); });
  walk(root.id);
  return out;
};
const ids = (ms) => ms.map((m) => m.id);
const asc = (ms) => [...ms].sort((a, b) => a.id - b.id);
const desc = (ms) => [...ms].sort((a, b) => b.id - a.id);

await withBackend(backend, async ({ url: dbUrl, dir }) => {
  const permFile = join(dir, 'permissions.json');
  writeFileSync(permFile, JSON.stringify(PERMISSIONS_FILE));
  // each reader runs several paths at once; the heavy-call bound per agent (tested by
  // bounds.mjs) is raised so that it never answers here in place of the visibility rule
  const srv = await startServe(bin, {
    env: { DATABASE_URL: dbUrl, PERMISSIONS_CONFIG_FILE: permFile, HEAVY_CALLS_PER_AGENT: '64' } });
  const viewers = [];
  try {
    // ------------------------------------------------------------ identities and viewers
    const setup = checker('setup');
    for (const id of IDENTITIES.filter((i) => i.ownKey)) id.key = agentKey(bin, dbUrl, id.name, id.type, id.perms);
    for (const id of IDENTITIES) {
      const first = await connectViewer(srv.url, id, CREDENTIALS[0]);
      const a = await call(first, 'authenticate_agent', { agent_id: id.name, agent_type: id.type, requested_permissions: id.perms });
      setup.ok(a.success, `authenticate ${id.name}: ${JSON.stringify(a)}`);
      id.token = a.token;
      id.granted = a.permissions;
      setup.eq([...a.permissions].sort(), id.perms.filter((p) => allowed(id.type).includes(p)).sort(), `${id.name} permissions`);
      viewers.push(first);
      for (const cred of CREDENTIALS.slice(1)) {
        if (cred.authenticateHere) throw new Error('a credential that authenticates on its own session needs its own set-up');
        viewers.push(await connectViewer(srv.url, id, cred));
      }
    }
    const home = (name) => viewers.find((v) => v.id.name === name && v.cred === CREDENTIALS[0]);
    const writers = IDENTITIES.filter((id) => hasPerm(id, 'write'));
    await Promise.all(viewers.map((v) => v.getOpen)); // every GET stream is open
    // every viewer asks for every log line: none may carry what it may not read
    for (const v of viewers) await v.client.setLoggingLevel('debug');

    for (const row of SESSION_ROWS)
      world.sessions[row.name] = row.id = (await ok(home(row.creator), 'create_session', { purpose: `matrix ${row.name}`, metadata: { matrix: row.name } })).session_id;
    const creator = Object.fromEntries(SESSION_ROWS.map((r) => [r.id, r.creator]));
    const { S1, S2, S3, S4, SF } = world.sessions;
    const uri = (s) => `session://${s}`;
    const SUBSCRIBED = [uri(S1), `${uri(S1)}/messages/10`, uri(S2), uri(S3), uri(S4), uri(SF)];

    // ------------------------------------------------------------ subscriptions
    const subs = checker('resources/subscribe');
    for (const v of viewers) {
      for (const u of SUBSCRIBED) subs.eq(await rpcError(v.client.subscribeResource({ uri: u })), null, `${v.name} subscribes ${u}`);
      for (const owner of [...IDENTITIES.map((i) => i.name), 'nobody']) {
        const e = await rpcError(v.client.subscribeResource({ uri: `agent://${owner}/memory` }));
        subs.eq(e, owner === v.id.name ? null : { code: -32001, dataCode: 'PERMISSION_DENIED' }, `${v.name} subscribes agent://${owner}/memory`);
      }
      subs.eq((await rpcError(v.client.subscribeResource({ uri: uri('session_0000000000000000') })))?.code, -32002, `${v.name} subscribes a missing session`);
    }

    // ------------------------------------------------------------ posting, each post fenced
    const notes = checker('notifications/resources/updated');
    let fences = 0;
    const expectedNotes = (v, u) => {
      const s = u.replace(/^session:\/\//, '').replace(/\/messages\/\d+$/, '');
      return visible(v.id, s).length;
    };
    // A fence: a public message in SF; once every viewer heard of it, every notification
    // of the posts before it has arrived (one GET stream per viewer, in order).
    async function fence() {
      const mk = marker('F');
      const r = await ok(home('admin-1'), 'add_message', { session_id: SF, content: `fence ${mk} matrixword` });
      world.messages.push({ id: r.message_id, session: SF, sender: 'admin-1', senderType: 'admin', visibility: 'public',
        marker: mk, parent: null, ts: r.timestamp, stored: true, fence: true });
      fences++;
      await Promise.all(viewers.map((v) => heard(v, uri(SF), fences)));
      for (const v of viewers)
        for (const u of SUBSCRIBED) notes.eq(v.notes.get(u) || 0, expectedNotes(v, u), `${v.name} notifications of ${u} after message ${world.messages.at(-2)?.id}`);
    }
    const probeNotFound = {}; // the answer for a parent that does not exist (compared below)
    // posts (or tries to) and records the outcome the rule predicts
    async function post(writer, session, visibility, parent = null) {
      const mk = marker(visibility[0] + (parent ? 'r' : ''));
      const args = { session_id: session, content: `${mk} matrixword from ${writer.name}`, visibility, metadata: { tag: mk } };
      if (parent) args.parent_message_id = parent.id;
      const r = await call(home(writer.name), 'add_message', args);
      const m = { session, sender: writer.name, senderType: writer.type, visibility, marker: mk, parent: parent?.id ?? null, stored: false };
      world.messages.push(m);
      const c = checker('add_message');
      let code = null;
      if (!mayPost(writer, visibility)) code = 'PERMISSION_DENIED';
      else if (parent && !mayRead(writer, parent)) code = 'MESSAGE_NOT_FOUND';
      else if (parent && parent.session !== session) code = 'INVALID_INPUT';
      if (code) {
        c.eq([r.isError, r.code], [true, code], `${writer.name} posts ${visibility} (parent ${parent?.id}): ${JSON.stringify(r)}`);
        if (code === 'MESSAGE_NOT_FOUND') // a hidden parent answers like one that does not exist
          c.eq(r.error.replace(/\d+/g, 'N'), probeNotFound.error, 'hidden parent vs missing parent');
        return null;
      }
      c.ok(!r.isError && Number.isInteger(r.message_id), `${writer.name} posts ${visibility}: ${JSON.stringify(r)}`);
      Object.assign(m, { id: r.message_id, ts: r.timestamp, stored: true });
      await fence();
      return m;
    }
    {
      const r = await call(home('claude-1'), 'add_message', { session_id: S1, content: 'x', parent_message_id: 987654321 });
      assert.equal(r.code, 'MESSAGE_NOT_FOUND');
      probeNotFound.error = r.error.replace(/\d+/g, 'N');
    }
    // roots: every identity tries every visibility in S1 and S2 (refusals included)
    const roots = {};
    for (const s of [S1, S2])
      for (const w of IDENTITIES)
        for (const vis of VISIBILITIES) {
          const m = await post(w, s, vis);
          if (m && s === S1) (roots[w.name] ||= []).push(m);
        }
    for (const w of IDENTITIES)
      for (const vis of VISIBILITIES.filter((x) => x !== 'public')) await post(w, S4, vis);
    // a ring of replies in S1: each writer answers every root of the next writer, in
    // each of its own visibilities by turn (a hidden root is refused like a missing one)
    for (const [i, w] of writers.entries()) {
      const next = writers[(i + 1) % writers.length];
      const mine = VISIBILITIES.filter((vis) => mayPost(w, vis));
      for (const [k, root] of roots[next.name].entries()) await post(w, S1, mine[k % mine.length], root);
    }
    // chains: a public root, a reply of each visibility, a public reply to that: readers
    // who may not see the middle still see the leaf in the thread
    for (const vis of VISIBILITIES) {
      const root = await post(IDENTITIES[2], S1, 'public');
      const mid = await post(vis === 'admin_only' ? IDENTITIES[4] : IDENTITIES[1], S1, vis, root);
      await post(IDENTITIES[4], S1, 'public', mid);
    }
    // replies across sessions: refused (MESSAGE_NOT_FOUND when hidden, else INVALID_INPUT)
    for (const w of writers)
      for (const vis of VISIBILITIES) {
        const parent = stored().find((m) => m.session === S1 && m.visibility === vis && !m.parent && m.sender !== w.name);
        await post(w, S2, 'public', parent);
      }
    // memory: per writer a global entry under a key all share, the same key scoped to
    // S1, and a key of its own
    const memSet = checker('set_memory');
    for (const w of writers)
      for (const [key, session] of [['shared-note', null], ['shared-note', S1], [`${w.name}-only`, null], ['s2-note', S2]]) {
        const mk = marker('m');
        const value = { note: mk, n: world.markerSeq };
        const r = await call(home(w.name), 'set_memory', { key, value, ...(session ? { session_id: session } : {}) });
        memSet.ok(r.success, `${w.name} set_memory ${key}: ${JSON.stringify(r)}`);
        world.memory.push({ owner: w.name, key, session, value, marker: mk });
      }
    // a key only another agent has is free: overwrite:false stores it (no KEY_EXISTS)
    for (const [i, w] of writers.entries()) {
      const key = `${writers[(i + 1) % writers.length].name}-only`, mk = marker('m');
      const r = await call(home(w.name), 'set_memory', { key, value: mk, overwrite: false });
      memSet.ok(r.success, `${w.name} set_memory ${key} overwrite:false: ${JSON.stringify(r)}`);
      world.memory.push({ owner: w.name, key, session: null, value: mk, marker: mk });
    }
    for (const id of IDENTITIES.filter((i) => !hasPerm(i, 'write'))) {
      const mk = marker('m');
      const r = await call(home(id.name), 'set_memory', { key: 'shared-note', value: mk });
      memSet.eq(r.code, 'PERMISSION_DENIED', `${id.name} may not write memory`);
    }
    took.set('posting', Date.now() - t0);
    const nStored = stored().filter((m) => !m.fence).length;
    console.log(`visibility_matrix (${backend}): ${nStored} messages stored, ${world.messages.filter((m) => !m.stored).length} refused, ${fences} fences, ${world.memory.length} memory entries`);

    // ------------------------------------------------------------ the read paths
    const SESSIONS = SESSION_ROWS.map((r) => r.id);
    const matrixIds = world.messages.filter((m) => m.stored && !m.fence);
    const missingId = Math.max(...ids(stored())) + 1000;
    const fields = (m) => ({ id: m.id, session_id: m.session, sender: m.sender, sender_type: m.senderType,
      visibility: m.visibility, parent_message_id: m.parent });
    const shape = (x) => ({ id: x.id, session_id: x.session_id, sender: x.sender, sender_type: x.sender_type,
      visibility: x.visibility, parent_message_id: x.parent_message_id ?? null });
    // every message an answer carries is the stored one, and its content its own
    function sameMessages(c, got, expected, what) {
      c.eq(got.map(shape), expected.map(fields), what);
      for (const [k, x] of got.entries()) c.ok(x.content.includes(expected[k].marker), `${what}: content of ${x.id}`);
    }

    const PATHS = [
      ['tools/get_messages', async (v, c) => {
        const known = SESSIONS.flatMap((s) => [undefined, null, '', ...VISIBILITIES].map((f) => [s, f]));
        await mapLimit(known, 6, async ([s, f]) => {
          const args = { session_id: s, limit: 1000 };
          if (f !== undefined) args.visibility_filter = f;
          const r = await call(v, 'get_messages', args);
          const what = `${v.name} get_messages ${s} filter=${JSON.stringify(f)}`;
          if (f === 'admin_only' && !hasPerm(v.id, 'admin')) { c.eq([r.isError, r.code], [true, 'PERMISSION_DENIED'], what); return; }
          // the filter narrows the visible set to one visibility; '' counts as absent
          const vis = visible(v.id, s), exp = asc(f ? vis.filter((m) => m.visibility === f) : vis);
          sameMessages(c, r.messages, exp, what);
          c.eq([r.count, r.total_count, r.has_more], [exp.length, exp.length, false], `${what}: counts`);
        });
        // a value that is none of the four is refused, never read as "no filter"
        const unknown = [S1, S4].flatMap((s) => [...UNKNOWN_FILTERS, ...BADLY_TYPED_FILTERS].map((f) => [s, f]));
        await mapLimit(unknown, 6, async ([s, f]) => {
          const r = await call(v, 'get_messages', { session_id: s, visibility_filter: f });
          const code = typeof f === 'string' && !f.includes('\u0000') ? 'INVALID_VISIBILITY' : 'INVALID_INPUT';
          c.eq([r.isError, r.code, r.messages], [true, code, undefined], `${v.name} get_messages ${s} filter ${JSON.stringify(f)}`);
        });
        // pages (offset) and the since_id cursor: same set, counts of the visible only
        const exp = asc(visible(v.id, S1));
        const paged = [];
        for (let off = 0; ; off += 4) {
          const r = await ok(v, 'get_messages', { session_id: S1, limit: 4, offset: off });
          c.eq([r.total_count, r.has_more], [exp.length, off + r.count < exp.length], `${v.name} page ${off}`);
          paged.push(...r.messages);
          if (!r.has_more) break;
        }
        sameMessages(c, paged, exp, `${v.name} pages of S1`);
        for (const from of matrixIds.filter((m, k) => m.session === S1 && k % 5 === 0)) {
          const r = await ok(v, 'get_messages', { session_id: S1, since_id: from.id, limit: 1000 });
          c.eq(ids(r.messages), ids(exp.filter((m) => m.id > from.id)), `${v.name} since_id ${from.id}`);
        }
      }],
      ['tools/get_message', async (v, c) => {
        const missing = await call(v, 'get_message', { message_id: missingId });
        c.eq(missing.code, 'MESSAGE_NOT_FOUND', 'a missing id');
        await mapLimit(matrixIds, 6, async (m) => {
          const r = await call(v, 'get_message', { message_id: m.id });
          if (mayRead(v.id, m)) sameMessages(c, [r.message], [m], `${v.name} get_message ${m.id}`);
          else c.eq([r.isError, r.code, r.error.replace(/\d+/g, 'N'), r.message], [true, 'MESSAGE_NOT_FOUND', missing.error.replace(/\d+/g, 'N'), undefined],
            `${v.name} get_message ${m.id} (${m.visibility} of ${m.sender}) must look missing`);
        });
      }],
      ['tools/get_thread', async (v, c) => {
        const missing = (await call(v, 'get_thread', { message_id: missingId })).error.replace(/\d+/g, 'N');
        await mapLimit(matrixIds, 6, async (m) => {
          const r = await call(v, 'get_thread', { message_id: m.id });
          if (!mayRead(v.id, m)) {
            c.eq([r.isError, r.code, r.error.replace(/\d+/g, 'N'), r.messages], [true, 'MESSAGE_NOT_FOUND', missing, undefined],
              `${v.name} get_thread ${m.id} (${m.visibility} of ${m.sender}) must look missing`);
            return;
          }
          const exp = asc([m, ...descendants(m).filter((d) => mayRead(v.id, d))]);
          sameMessages(c, r.messages, exp, `${v.name} get_thread ${m.id}`);
          c.eq([r.root_message_id, r.count], [m.id, exp.length], `${v.name} get_thread ${m.id}: count`);
        });
      }],
      ['tools/get_session', async (v, c) => {
        for (const s of SESSIONS) {
          const r = await ok(v, 'get_session', { session_id: s });
          const vis = visible(v.id, s);
          sameMessages(c, r.messages, desc(vis).slice(0, 50), `${v.name} get_session ${s}`);
          c.eq([r.message_count, r.session.id], [vis.length, s], `${v.name} get_session ${s}: count`);
        }
      }],
      ['tools/list_sessions', async (v, c) => {
        const mine = (r) => Object.fromEntries(r.sessions.map((s) => [s.session_id, [s.message_count, s.participants]]));
        const exp = (list) => Object.fromEntries(list.map((s) => {
          const vis = visible(v.id, s);
          return [s, [vis.length, [...new Set(vis.map((m) => m.sender))].sort()]];
        }));
        for (const active of [undefined, true, false]) {
          const r = await ok(v, 'list_sessions', { limit: 200, ...(active === undefined ? {} : { active_only: active }) });
          const seen = SESSIONS.filter((s) => maySeeSession(v.id, s));
          c.eq(mine(r), exp(seen), `${v.name} list_sessions active_only=${active}`);
          c.eq([r.count, r.total_count], [seen.length, seen.length], `${v.name} list_sessions counts`);
        }
        for (const by of IDENTITIES) {
          const r = await ok(v, 'list_sessions', { created_by: by.name });
          c.eq(mine(r), exp(SESSIONS.filter((s) => creator[s] === by.name && maySeeSession(v.id, s))), `${v.name} list_sessions created_by=${by.name}`);
        }
      }],
      ['tools/search_context', async (v, c) => {
        // thresholds 60 (every visible message scored) and 100 (through the index), 0 too
        const cases = SESSIONS.flatMap((s) => [undefined, 'all', 'public', 'private'].flatMap((scope) =>
          (s === S1 ? [0, 60, 100] : [60, 100]).map((threshold) => [s, scope, threshold])));
        await mapLimit(cases, 6, async ([s, scope, threshold]) => {
          const r = await ok(v, 'search_context', { session_id: s, query: 'matrixword', fuzzy_threshold: threshold, limit: 100,
            ...(scope ? { search_scope: scope } : {}) });
          const vis = visible(v.id, s), exp = scope && scope !== 'all' ? vis.filter((m) => m.visibility === scope) : vis;
          const what = `${v.name} search_context ${s} scope=${scope} threshold=${threshold}`;
          c.eq(ids(r.results.map((x) => x.message)).sort((a, b) => a - b), ids(asc(exp)), what);
          c.eq([r.message_count, r.count], [exp.length, exp.length], `${what}: counts`);
        });
        await mapLimit([S1, S4].flatMap((s) => UNKNOWN_SCOPES.map((scope) => [s, scope])), 6, async ([s, scope]) => {
          const r = await call(v, 'search_context', { session_id: s, query: 'matrixword', search_scope: scope });
          c.eq([r.isError, r.code, r.results], [true, 'INVALID_INPUT', undefined], `${v.name} search_scope ${JSON.stringify(scope)}`);
        });
        // every message's own marker (refused posts too): found exactly when visible,
        // and only in its session (S1's markers are looked for in S2 as well)
        const probes = world.messages.filter((m) => !m.fence).flatMap((m) => (m.session === S1 && m.stored ? [S1, S2] : [m.session]).map((s) => [m, s]));
        await mapLimit(probes, 6, async ([m, s]) => {
          const r = await ok(v, 'search_context', { session_id: s, query: m.marker, fuzzy_threshold: 100 });
          c.eq(ids(r.results.map((x) => x.message)), mayRead(v.id, m) && m.session === s ? [m.id] : [],
            `${v.name} search_context ${s} for the marker of ${m.id ?? 'a refused post'} (${m.visibility} of ${m.sender})`);
        });
      }],
      ['tools/search_by_sender', async (v, c) => {
        for (const s of SESSIONS)
          for (const sender of [...IDENTITIES.map((i) => i.name), 'nobody']) {
            const r = await ok(v, 'search_by_sender', { session_id: s, sender, limit: 100 });
            const exp = desc(visible(v.id, s).filter((m) => m.sender === sender));
            sameMessages(c, r.messages, exp, `${v.name} search_by_sender ${s} ${sender}`);
            c.eq(r.count, exp.length, `${v.name} search_by_sender count`);
          }
      }],
      ['tools/search_by_timerange', async (v, c) => {
        const from = new Date(Date.now() - 3600e3).toISOString(), to = new Date(Date.now() + 3600e3).toISOString();
        for (const s of SESSIONS) {
          const r = await ok(v, 'search_by_timerange', { session_id: s, start_time: from, end_time: to, limit: 200 });
          sameMessages(c, r.messages, asc(visible(v.id, s)), `${v.name} search_by_timerange ${s}`);
        }
        // the instant of each message: its own time window shows it only when visible
        await mapLimit(matrixIds, 6, async (m) => {
          const r = await ok(v, 'search_by_timerange', { session_id: m.session, start_time: m.ts, end_time: m.ts });
          c.eq(ids(r.messages), ids(asc(visible(v.id, m.session).filter((x) => x.ts === m.ts))), `${v.name} search_by_timerange at ${m.ts} (${m.id})`);
        });
      }],
      ['tools/memory', async (v, c) => {
        const own = world.memory.filter((e) => mayReadMemory(v.id, e));
        for (const e of world.memory) {
          const r = await call(v, 'get_memory', { key: e.key, ...(e.session ? { session_id: e.session } : {}) });
          const mine = own.find((o) => o.key === e.key && o.session === e.session);
          const what = `${v.name} get_memory ${e.key}@${e.session} of ${e.owner}`;
          if (!hasPerm(v.id, 'read')) c.eq(r.code, 'PERMISSION_DENIED', what);
          else if (mine) c.eq([r.value, r.scope, r.session_id ?? null], [mine.value, e.session ? 'session' : 'global', e.session], what);
          else c.eq([r.isError, r.code, r.value], [true, 'MEMORY_NOT_FOUND', undefined], what);
        }
        const listed = (entries) => entries.map((x) => [x.key, x.session_id ?? null]);
        const order = (es) => [...es].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : (a.session ? 1 : 0) - (b.session ? 1 : 0)))
          .map((e) => [e.key, e.session]);
        for (const [args, pick] of [
          [{}, (e) => !e.session], [{ session_id: 'all' }, () => true], [{ session_id: S1 }, (e) => e.session === S1],
          [{ session_id: S2 }, (e) => e.session === S2], [{ session_id: S3 }, () => false],
          [{ session_id: 'all', prefix: 'shared' }, (e) => e.key.startsWith('shared')],
          ...IDENTITIES.map((o) => [{ session_id: 'all', prefix: `${o.name}-` }, (e) => e.key.startsWith(`${o.name}-`)]),
        ]) {
          const r = await ok(v, 'list_memory', { limit: 200, ...args });
          c.eq(listed(r.entries), order(own.filter(pick)), `${v.name} list_memory ${JSON.stringify(args)}`);
        }
      }],
      ['tools/get_usage_guidance+get_performance_metrics', async (v, c) => {
        for (const g of ['operations', 'coordination', 'security', 'troubleshooting']) {
          const r = await ok(v, 'get_usage_guidance', { guidance_type: g });
          c.eq([r.agent_info.agent_id, r.agent_info.agent_type], [v.id.name, v.id.type], `${v.name} guidance ${g}`);
        }
        const r = await call(v, 'get_performance_metrics', {});
        c.eq(r.isError, !hasPerm(v.id, 'admin'), `${v.name} get_performance_metrics`);
      }],
      ['resources/list+templates', async (v, c) => {
        const rl = await v.client.listResources();
        c.ok(Array.isArray(rl.resources), 'resources/list');
        const tl = (await v.client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate).sort();
        c.eq(tl, ['agent://{agent_id}/memory', 'docs://tools/{_}', 'server://info/{_}', 'session://{session_id}',
          'session://{session_id}/messages/{limit}'], 'templates');
        for (const u of ['server://info/x', 'docs://tools/all', 'docs://tools/get_messages'])
          c.ok((await v.client.readResource({ uri: u })).contents[0].text.length > 0, `${v.name} reads ${u}`);
      }],
      ['resources/read session', async (v, c) => {
        for (const s of SESSIONS) {
          const vis = visible(v.id, s);
          const r = JSON.parse((await v.client.readResource({ uri: uri(s) })).contents[0].text);
          sameMessages(c, r.messages, asc(desc(vis).slice(0, 50)), `${v.name} reads ${uri(s)}`);
          c.eq(r.message_count, vis.length, `${v.name} ${uri(s)} message_count`);
          for (const limit of [1, 3, 10, 1000]) {
            const u = `${uri(s)}/messages/${limit}`;
            const m = JSON.parse((await v.client.readResource({ uri: u })).contents[0].text);
            sameMessages(c, m.messages, asc(desc(vis).slice(0, limit)), `${v.name} reads ${u}`);
            c.eq(m.message_count, vis.length, `${v.name} ${u} message_count`);
          }
          for (const limit of ['0', '1001', 'abc', '-1'])
            c.eq((await rpcError(v.client.readResource({ uri: `${uri(s)}/messages/${limit}` })))?.code, -32602, `${v.name} limit ${limit}`);
        }
        c.eq((await rpcError(v.client.readResource({ uri: uri('session_0000000000000000') })))?.code, -32002, 'a missing session');
      }],
      ['resources/read agent memory', async (v, c) => {
        for (const owner of [...IDENTITIES.map((i) => i.name), 'nobody']) {
          const u = `agent://${owner}/memory`;
          if (owner !== v.id.name) {
            c.eq(await rpcError(v.client.readResource({ uri: u })), { code: -32001, dataCode: 'PERMISSION_DENIED' }, `${v.name} reads ${u}`);
            continue;
          }
          const r = JSON.parse((await v.client.readResource({ uri: u })).contents[0].text);
          const own = world.memory.filter((e) => mayReadMemory(v.id, e));
          const glob = {}, sess = {};
          for (const e of own) {
            if (e.session) (sess[e.session] ||= {})[e.key] = e.value;
            else glob[e.key] = e.value;
          }
          const values = (o) => Object.fromEntries(Object.entries(o).map(([k, x]) => [k, x.value]));
          c.eq([r.agent_id, values(r.global), Object.fromEntries(Object.entries(r.sessions).map(([s, o]) => [s, values(o)])), r.count],
            [v.id.name, glob, sess, own.length], `${v.name} reads its memory`);
        }
      }],
      ['prompts', async (v, c) => {
        const pl = (await v.client.listPrompts()).prompts.map((p) => p.name).sort();
        c.eq(pl, ['debug-session', 'setup-collaboration'], 'prompts/list');
        for (const s of SESSIONS) {
          const text = (await v.client.getPrompt({ name: 'debug-session', arguments: { session_id: s } })).messages
            .map((m) => m.content.text).join('\n');
          const vis = visible(v.id, s);
          const listed = [...text.matchAll(/^- #(\d+) /gm)].map((x) => Number(x[1]));
          c.eq(listed, ids(asc(desc(vis).slice(0, 20))), `${v.name} debug-session ${s}: messages listed`);
          c.ok(text.includes(`Messages visible to you (${v.id.name}): ${vis.length}\n`), `${v.name} debug-session ${s}: count`);
          for (const m of world.messages.filter((x) => !x.fence))
            c.eq(text.includes(m.marker), listed.includes(m.id), `${v.name} debug-session ${s}: marker of ${m.id}`);
          const sc = await v.client.getPrompt({ name: 'setup-collaboration', arguments: { purpose: 'p', expert_roles: 'r', session_id: s } });
          c.ok(!world.messages.some((m) => JSON.stringify(sc).includes(m.marker)), `${v.name} setup-collaboration ${s}`);
        }
      }],
      ['completion/complete', async (v, c) => {
        for (const t of ['session://{session_id}', 'session://{session_id}/messages/{limit}']) {
          const r = await v.client.complete({ ref: { type: 'ref/resource', uri: t }, argument: { name: 'session_id', value: 'session_' } });
          c.eq([...r.completion.values].sort(), SESSIONS.filter((s) => maySeeSession(v.id, s)).sort(), `${v.name} completes ${t}`);
          const one = await v.client.complete({ ref: { type: 'ref/resource', uri: t }, argument: { name: 'session_id', value: S1 } });
          c.eq(one.completion.values, [S1], `${v.name} completes ${t} from ${S1}`);
        }
        const d = await v.client.complete({ ref: { type: 'ref/resource', uri: 'docs://tools/{_}' }, argument: { name: '_', value: 'get_m' } });
        c.eq([...d.completion.values].sort(), ['get_memory', 'get_message', 'get_messages'], 'completes tool names');
        // prompts offer no completion: no value, whatever the argument
        const p = await rpcError(v.client.complete({ ref: { type: 'ref/prompt', name: 'debug-session' }, argument: { name: 'session_id', value: 'session_' } }));
        c.ok(p === null || p.code, 'completion of a prompt argument');
      }],
    ];

    // the other agents' write tools cannot reach an agent's memory: deleting another's key
    // deletes nothing (runs before the reads, which then find every entry in place)
    const del = checker('tools/delete_memory');
    for (const v of viewers)
      for (const e of world.memory.filter((x) => x.key.endsWith('-only') && !world.memory.some((o) => o.owner === v.id.name && o.key === x.key))) {
        const r = await call(v, 'delete_memory', { key: e.key });
        if (!hasPerm(v.id, 'write')) del.eq(r.code, 'PERMISSION_DENIED', `${v.name} delete_memory`);
        else del.eq([r.success, r.deleted], [true, false], `${v.name} delete_memory ${e.key} of ${e.owner}`);
      }

    for (const [path, run] of PATHS) {
      const c = checker(path), t = Date.now();
      for (const v of viewers) await run(v, c);
      took.set(path, Date.now() - t);
    }
    const listed = checker('tools/list');
    for (const v of viewers) {
      const names = (await v.client.listTools()).tools.map((t) => t.name);
      for (const n of names) listed.ok(toolsCalled.has(n) || NOT_READING.includes(n), `${v.name}: tool ${n} is read by no path of the matrix`);
      listed.ok(names.length === 18, `${v.name}: 18 tools listed`);
    }

    // ------------------------------------------------------------ every byte received
    const raw = checker('raw bytes (POST answers and SSE GET stream)');
    await new Promise(setImmediate); // the copies have taken in the last answers
    for (const v of viewers) {
      for (const m of world.messages)
        if (!v.tx.includes(m.marker)) raw.eq(v.rx.includes(m.marker), mayRead(v.id, m), `${v.name} received the marker of ${m.id ?? 'a refused post'} (${m.visibility} of ${m.sender})`);
      for (const e of world.memory)
        if (!v.tx.includes(e.marker)) raw.eq(v.rx.includes(e.marker), mayReadMemory(v.id, e), `${v.name} received the memory value ${e.key}@${e.session} of ${e.owner}`);
      raw.ok(/^data: /m.test(v.rx) && v.rx.includes('notifications/resources/updated'), `${v.name}: the GET stream was recorded`);
    }
  } finally {
    await Promise.all(viewers.map((v) => v.client.close().catch(() => {})));
    const code = await srv.stop();
    assert.equal(code, 0, `ctxd serve exit ${code}\n${srv.stderr()}`);
  }
});
console.log(`  set-up, posts, fences and notifications: ${(took.get('posting') / 1000).toFixed(1)} s`);
let total = 0;
for (const [path, n] of counts) {
  console.log(`  ${String(n).padStart(7)}  ${path}${took.has(path) ? ` (${(took.get(path) / 1000).toFixed(1)} s)` : ''}`);
  total += n;
}
console.log(`visibility_matrix (${backend}): ${total} checks, ${IDENTITIES.length} identities x ${CREDENTIALS.length} credentials, no leak, no miss, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
