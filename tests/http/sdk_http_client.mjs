// tests/http/sdk_http_client.mjs — the official TypeScript SDK client
// (@modelcontextprotocol/sdk, the copy pinned in tests/mcp/sdk — no second install) over
// Streamable HTTP (StreamableHTTPClientTransport) against the fixture HTTP server
// (argv[2], started here on a free port): handshake + session id, every fixture tool
// (content, logging, progress, errors, sampling, elicitation on the POST SSE stream),
// cancellation, resources with subscribe -> notifications/resources/updated on the GET
// stream, prompts, completion, two clients at once, and session termination (DELETE).
// Exits 77 (skipped) when the SDK is not installed (npm ci --prefix tests/mcp/sdk).
// Must not: depend on ctxd's own tools.
import assert from 'node:assert/strict';
import { answerServerRequests } from '../mcp/sdk/client_handlers.mjs';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';

const sdkDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'mcp', 'sdk');
const sdkRoot = join(sdkDir, 'node_modules', '@modelcontextprotocol', 'sdk');
if (!existsSync(join(sdkRoot, 'dist', 'esm', 'client', 'index.js'))) {
  console.error('SKIP: @modelcontextprotocol/sdk is not installed; run `npm ci --prefix tests/mcp/sdk`');
  process.exit(77);
}
const imp = (p) => import(pathToFileURL(join(sdkRoot, 'dist', 'esm', p)).href);
const { Client } = await imp('client/index.js');
const { StreamableHTTPClientTransport } = await imp('client/streamableHttp.js');
const types = await imp('types.js');

const server = spawn(process.argv[2], ['--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
const port = await new Promise((resolve, reject) => {
  createInterface({ input: server.stdout }).once('line', (l) => {
    const m = /^PORT (\d+)$/.exec(l);
    m ? resolve(m[1]) : reject(new Error(l));
  });
  server.once('exit', (c) => reject(new Error(`fixture server exited (${c})`)));
});
const url = new URL(`http://localhost:${port}/mcp`);

function newClient() {
  const client = new Client({ name: 'ctxd-sdk-http-test', version: '1.0.0' },
    { capabilities: { sampling: {}, elicitation: {} } });
  answerServerRequests(client, types);
  return client;
}

const checks = [];
const check = async (name, fn) => { await fn(); checks.push(name); };
let exitCode = 0;
try {
  const client = newClient();
  const logs = [];
  client.setNotificationHandler(types.LoggingMessageNotificationSchema, (n) => { logs.push(n.params); });
  let updated = null;
  const updatedSeen = new Promise((resolve) => {
    client.setNotificationHandler(types.ResourceUpdatedNotificationSchema, (n) => { updated = n.params.uri; resolve(); });
  });
  const transport = new StreamableHTTPClientTransport(url);
  await client.connect(transport);
  const call = (name, args = {}, opts) => client.callTool({ name, arguments: args }, undefined, opts);

  await check('initialize + session id', async () => {
    assert.equal(client.getServerVersion().name, 'ctxd-mcp-fixtures');
    assert.match(transport.sessionId, /^[0-9a-f-]{36}$/);
  });
  await check('ping', async () => { assert.deepEqual(await client.ping(), {}); });
  await check('tools/list', async () => {
    const { tools } = await client.listTools();
    assert.ok(tools.some((t) => t.name === 'test_simple_text'));
  });
  await check('tools/call content', async () => {
    let r = await call('test_simple_text');
    assert.equal(r.content[0].text, 'This is a simple text response for testing.');
    r = await call('test_multiple_content_types');
    assert.deepEqual(r.content.map((c) => c.type), ['text', 'image', 'resource']);
    r = await call('test_error_handling');
    assert.equal(r.isError, true);
    await assert.rejects(call('no_such_tool'), (e) => e.code === -32602);
  });
  await check('logging', async () => {
    await client.setLoggingLevel('debug');
    logs.length = 0;
    await call('test_tool_with_logging');
    assert.ok(logs.length >= 3, `got ${logs.length} log messages`);
  });
  await check('progress', async () => {
    const seen = [];
    await call('test_tool_with_progress', {}, { onprogress: (p) => seen.push(p.progress) });
    assert.ok(seen.length >= 2, `got ${seen.length} progress notifications`);
    assert.deepEqual(seen.slice(0, 2), [0, 50]);
  });
  await check('sampling', async () => {
    const r = await call('test_sampling', { prompt: 'hello' });
    assert.equal(r.content[0].text, 'LLM response: echo hello');
  });
  await check('elicitation', async () => {
    let r = await call('test_elicitation', { message: 'who?' });
    assert.match(r.content[0].text, /action=accept/);
    r = await call('test_elicitation_sep1034_defaults');
    assert.match(r.content[0].text, /John Doe/);
  });
  await check('cancellation', async () => {
    const ac = new AbortController();
    let started;
    const isStarted = new Promise((resolve) => { started = resolve; });
    const p = call('test_block', {}, { signal: ac.signal, onprogress: () => started() });
    await isStarted;
    ac.abort('test');
    await assert.rejects(p);
    assert.deepEqual(await client.ping(), {});
  });
  await check('resources', async () => {
    let r = await client.readResource({ uri: 'test://static-text' });
    assert.equal(r.contents[0].text, 'This is the content of the static text resource.');
    r = await client.readResource({ uri: 'test://template/123/data' });
    assert.match(r.contents[0].text, /123/);
    await assert.rejects(client.readResource({ uri: 'test://missing' }), (e) => e.code === -32002);
  });
  await check('subscriptions on the GET stream', async () => {
    assert.deepEqual(await client.subscribeResource({ uri: 'test://watched-resource' }), {});
    await call('test_touch_watched');
    await updatedSeen;
    assert.equal(updated, 'test://watched-resource');
    assert.deepEqual(await client.unsubscribeResource({ uri: 'test://watched-resource' }), {});
  });
  await check('prompts + completion', async () => {
    const r = await client.getPrompt({ name: 'test_prompt_with_arguments', arguments: { arg1: 'x1', arg2: 'y2' } });
    assert.match(r.messages[0].content.text, /x1/);
    const c = await client.complete({ ref: { type: 'ref/prompt', name: 'test_prompt_with_arguments' },
      argument: { name: 'arg1', value: 'par' } });
    assert.deepEqual(c.completion.values, ['paris', 'park', 'party']);
  });
  await check('two clients in parallel', async () => {
    const other = newClient();
    const t2 = new StreamableHTTPClientTransport(url);
    await other.connect(t2);
    assert.notEqual(t2.sessionId, transport.sessionId);
    const rs = await Promise.all([call('test_simple_text'),
      other.callTool({ name: 'test_simple_text', arguments: {} }), client.ping(), other.ping()]);
    assert.equal(rs[1].content[0].text, rs[0].content[0].text);
    await other.close();
  });
  await check('terminate session (DELETE) then 404', async () => {
    const sid = transport.sessionId;
    await transport.terminateSession();
    const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream', 'Mcp-Session-Id': sid },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }) });
    assert.equal(res.status, 404);
  });
  await client.close();
  console.log(`ok: ${checks.length} checks: ${checks.join(', ')}`);
} catch (e) {
  console.error(`FAILED after ${checks.join(', ')}:`, e);
  exitCode = 1;
} finally {
  server.kill('SIGTERM');
  const c = await new Promise((r) => server.once('exit', (code, sig) => r(code ?? sig)));
  if (c !== 0) { console.error(`fixture server exit: ${c}`); exitCode = 1; }
}
process.exit(exitCode);
