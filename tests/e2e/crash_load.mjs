// tests/e2e/crash_load.mjs — crash safety under load: 64 clients write (add_message and
// set_memory, each with its own agent) to the real `ctxd serve` over HTTP; after a given
// number of acknowledged writes the server is killed with SIGKILL, mid-load, then started
// again on the same database, and every write it acknowledged (answered with success)
// must be there, intact: the message with its content, sender and session, the memory
// entry with its value. No message may be there twice or be one that was never sent.
// Several rounds, each killing after a different number of acknowledged writes.
//
// Usage: node crash_load.mjs <ctxd> sqlite [normal|full] | pg   (pg: the test fixture,
// run through ctest). Prints the rounds and the writes acknowledged and verified.
// Must not: sleep for timing (the kill follows the N-th acknowledgement), leave
// processes, files or databases behind, or print secrets.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { API_KEY, SHARED_KEY_ANYTHING, startServe, withBackend } from './lib.mjs';

const [bin, kind, sync = 'normal'] = process.argv.slice(2);
const CLIENTS = 64;
const SESSIONS = 8;
const KILL_AFTER = [100, 300, 600, 1000]; // acknowledged writes of each round before the kill
const started = Date.now();

if (!['sqlite', 'pg'].includes(kind) || !['normal', 'full'].includes(sync)) {
  console.error('usage: node crash_load.mjs <ctxd> sqlite [normal|full] | pg');
  process.exit(2);
}

// ---- a small MCP client over HTTP -----------------------------------------------------

const HEADERS = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream',
  'MCP-Protocol-Version': '2025-06-18' };

// POSTs one JSON-RPC message: {status, headers, json}; rejects when the connection fails.
function post(srv, agent, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: srv.port, method: 'POST', path: '/mcp', agent,
      headers: { ...HEADERS, ...headers } }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        if ((res.headers['content-type'] || '').includes('text/event-stream')) {
          json = text.split('\n').filter((l) => l.startsWith('data:')).map((l) => JSON.parse(l.slice(5)))
            .find((m) => 'result' in m || 'error' in m) ?? null;
        } else if (text) {
          json = JSON.parse(text);
        }
        resolve({ status: res.statusCode, headers: res.headers, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

let nextId = 1;
class Client {
  constructor(srv, headers = {}) {
    this.srv = srv;
    this.headers = headers;
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  }
  async init() {
    const r = await post(this.srv, this.agent, { jsonrpc: '2.0', id: nextId++, method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'crash-load', version: '1' } } },
    this.headers);
    assert.equal(r.status, 200);
    this.headers = { ...this.headers, 'Mcp-Session-Id': r.headers['mcp-session-id'] };
    const n = await post(this.srv, this.agent, { jsonrpc: '2.0', method: 'notifications/initialized' }, this.headers);
    assert.equal(n.status, 202);
    return this;
  }
  // a tool's structured result; rejects on a failed connection, throws on an error answer
  async tool(name, args) {
    const r = await post(this.srv, this.agent, { jsonrpc: '2.0', id: nextId++, method: 'tools/call',
      params: { name, arguments: args } }, this.headers);
    const sc = r.json?.result?.structuredContent;
    if (r.status !== 200 || !sc || sc.success !== true) throw new Error(`${name}: ${r.status} ${JSON.stringify(r.json)}`);
    return sc;
  }
  close() { this.agent.destroy(); }
}

// ---- the load --------------------------------------------------------------------------

// Writes until the server dies; acks receives every acknowledged write, sent every
// message content sent. Resolves when this client's connection has failed.
async function writer(srv, me, round, sessions, acks, sent, onAck) {
  const c = new Client(srv);
  try {
    await c.init(); // the kill may come first
    for (let seq = 0; ; seq++) {
      const tag = `r${round} c${me.index} n${seq} ${randomUUID()}`;
      if (seq % 2 === 0) {
        const session_id = sessions[(me.index + seq) % sessions.length];
        const content = `crash load ${tag} — é ✓ ${'x'.repeat(seq % 200)}.`;
        sent.add(content);
        const r = await c.tool('add_message', { session_id, content, auth_token: me.token,
          metadata: { round, client: me.index, seq } });
        acks.messages.push({ id: r.message_id, session_id, content, sender: me.agent_id });
      } else {
        const key = `crash.r${round}.c${me.index}.n${seq}`;
        const value = { tag, round, seq, list: [1, 'two', { three: 3 }], text: 'ünïcode ✓' };
        await c.tool('set_memory', { key, value, auth_token: me.token });
        acks.memory.push({ key, value, agent: me });
      }
      onAck();
    }
  } catch (e) {
    // the server was killed: a refused connection or a reset is the expected end
    if (!['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ECONNABORTED'].includes(e.code) && !/socket hang up/.test(e.message)) throw e;
  } finally {
    c.close();
  }
}

// Every acknowledged write is in the database the restarted server reads, intact.
async function verify(srv, admin, agents, sessions, acks, sent) {
  const c = await new Client(srv).init();
  try {
    const stored = new Map();
    for (const session_id of sessions) {
      for (let offset = 0; ; offset += 1000) {
        const r = await c.tool('get_messages', { session_id, limit: 1000, offset, auth_token: admin.token });
        for (const m of r.messages) {
          assert.ok(!stored.has(m.id), `message ${m.id} listed twice`);
          stored.set(m.id, m);
        }
        if (!r.has_more) break;
      }
    }
    const contents = new Set();
    for (const m of stored.values()) {
      assert.ok(sent.has(m.content), `a message that was never sent: ${m.content.slice(0, 80)}`);
      assert.ok(!contents.has(m.content), `a message stored twice: ${m.content.slice(0, 80)}`);
      contents.add(m.content);
    }
    for (const a of acks.messages) {
      const m = stored.get(a.id);
      assert.ok(m, `acknowledged message ${a.id} is missing`);
      assert.equal(m.content, a.content, `message ${a.id}: content`);
      assert.equal(m.sender, a.sender, `message ${a.id}: sender`);
      assert.equal(m.session_id, a.session_id, `message ${a.id}: session`);
    }
    const queue = [...acks.memory];
    await Promise.all(Array.from({ length: 8 }, async () => {
      for (let a; (a = queue.shift());) {
        const r = await c.tool('get_memory', { key: a.key, auth_token: a.agent.token });
        assert.deepEqual(r.value, a.value, `memory ${a.key} of ${a.agent.agent_id}`);
      }
    }));
    return stored.size;
  } finally {
    c.close();
  }
}

// ---- the run ---------------------------------------------------------------------------

const label = kind === 'sqlite' ? `sqlite synchronous=${sync}` : 'postgresql';
await withBackend(kind, async ({ url, dir }) => {
  // the checking reader is an admin: the shared key may claim one under this policy only
  const env = { DATABASE_URL: kind === 'sqlite' ? `${url}?synchronous=${sync}` : url, LOG_LEVEL: 'info',
    ...SHARED_KEY_ANYTHING };
  let srv = await startServe(bin, { env, cwd: dir });
  try {
    // the agents, their tokens and the sessions outlive every crash (they are stored)
    const keyed = await new Client(srv, { 'X-API-Key': API_KEY }).init();
    const agents = [];
    for (let i = 0; i < CLIENTS; i++) {
      const agent_id = `crash-${i}`;
      const r = await keyed.tool('authenticate_agent', { agent_id, agent_type: 'claude' });
      agents.push({ index: i, agent_id, token: r.token });
    }
    const admin = { agent_id: 'crash-admin',
      token: (await keyed.tool('authenticate_agent', { agent_id: 'crash-admin', agent_type: 'admin',
        requested_permissions: ['read', 'write', 'admin'] })).token };
    const sessions = [];
    for (let i = 0; i < SESSIONS; i++)
      sessions.push((await keyed.tool('create_session', { purpose: `crash load ${i}`, auth_token: agents[0].token })).session_id);
    keyed.close();

    const acks = { messages: [], memory: [] };
    const sent = new Set();
    for (let round = 0; round < KILL_AFTER.length; round++) {
      let n = 0;
      let killed = false;
      const victim = srv;
      const onAck = () => {
        if (++n >= KILL_AFTER[round] && !killed) {
          killed = true;
          victim.proc.kill('SIGKILL');
        }
      };
      await Promise.all(agents.map((me) => writer(victim, me, round, sessions, acks, sent, onAck)));
      assert.ok(killed, `round ${round}: the load ended before the kill`);
      assert.equal(await victim.exited, 'SIGKILL');
      srv = await startServe(bin, { env, cwd: dir });
      const stored = await verify(srv, admin, agents, sessions, acks, sent);
      console.log(`${label}: round ${round + 1}: killed after ${KILL_AFTER[round]} acknowledged writes ` +
        `(${n} acknowledged in all); ${acks.messages.length} messages and ${acks.memory.length} memory entries ` +
        `acknowledged so far, all present and intact (${stored} messages stored)`);
    }
    console.log(`${label}: ${KILL_AFTER.length} rounds, ${acks.messages.length + acks.memory.length} acknowledged ` +
      `writes verified, ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    const code = await srv.stop();
    assert.equal(code, 0, `ctxd serve exited ${code}:\n${srv.stderr()}`);
  }
});
