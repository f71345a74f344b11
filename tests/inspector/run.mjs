// tests/inspector/run.mjs — CTest driver: the pinned official MCP Inspector CLI
// (@modelcontextprotocol/inspector, package-lock.json here) runs its tool-schema
// portability check (`--cli --strict --method tools/list`) against the real
// `ctxd serve --stdio` on a fresh SQLite file, and the test fails unless the check
// passes (exit 0) with no finding but the one docs/mcp-interface.md allows: the
// untyped elements ("items": {}) of the array alternative of an any-JSON argument
// (set_memory's value, metadata). First the same check runs against a tiny stdio server
// (this script, with --bad-server) whose one tool has a boolean schema and a type array:
// it must exit 6 naming both, so a pinned Inspector whose --strict checked nothing
// could not pass this test.
// Usage: node run.mjs <ctxd-binary>. Exit 77 (skipped) when node_modules is missing
// (install: npm ci --prefix tests/inspector, as scripts/deps.sh test does).
// Must not: touch the network beyond the child processes' pipes, or leave files behind.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

if (process.argv[2] === '--bad-server') {
  // A minimal MCP server on stdio: initialize, then one tool whose schema no provider
  // takes as it is.
  const rl = createInterface({ input: process.stdin });
  const send = (m) => process.stdout.write(JSON.stringify(m) + '\n');
  rl.on('line', (line) => {
    const m = JSON.parse(line);
    if (m.id === undefined) return;
    if (m.method === 'initialize') {
      send({ jsonrpc: '2.0', id: m.id, result: {
        protocolVersion: m.params.protocolVersion, capabilities: { tools: {} },
        serverInfo: { name: 'bad', version: '1' } } });
    } else if (m.method === 'tools/list') {
      send({ jsonrpc: '2.0', id: m.id, result: { tools: [{
        name: 'bad', description: 'unportable',
        inputSchema: { type: 'object', properties: { x: true, y: { type: ['string', 'null'] } } },
      }] } });
    } else {
      send({ jsonrpc: '2.0', id: m.id, error: { code: -32601, message: 'no' } });
    }
  });
} else {
  const bin = join(here, 'node_modules', '.bin', 'mcp-inspector');
  if (!existsSync(bin)) {
    console.log('MCP Inspector not installed (npm ci --prefix tests/inspector): skipped');
    process.exit(77);
  }
  const ctxd = process.argv[2] && resolve(process.argv[2]);
  assert.ok(ctxd, 'usage: node run.mjs <ctxd-binary>');
  const tmpRoot = process.env.CTXD_TEST_TMP || tmpdir();
  mkdirSync(tmpRoot, { recursive: true });
  const dir = mkdtempSync(join(tmpRoot, 'inspector-'));
  try {
    // The Inspector gets a HOME of its own (it keeps a catalog and stored logins there).
    const inspect = (...target) => spawnSync(
      process.execPath,
      [bin, '--cli', '--strict', '--format', 'json', '--method', 'tools/list', ...target],
      { env: { PATH: process.env.PATH, HOME: dir }, encoding: 'utf8', timeout: 120000 });

    const bad = inspect('--', process.execPath, fileURLToPath(import.meta.url), '--bad-server');
    assert.equal(bad.status, 6, `the strict check of an unportable schema: exit ${bad.status}\n${bad.stderr}`);
    assert.match(bad.stderr, /properties\.x/, bad.stderr);
    assert.match(bad.stderr, /properties\.y/, bad.stderr);

    const r = inspect('-e', 'JWT_SECRET_KEY=inspector-secret-0123456789abcdef0123456789',
                      '-e', 'API_KEY=inspector-key', '-e', 'LOG_LEVEL=warning',
                      '-e', `DATABASE_URL=sqlite:///${join(dir, 'inspector.db')}`,
                      '--', ctxd, 'serve', '--stdio');
    assert.equal(r.status, 0, `the strict check of ctxd's tools: exit ${r.status}\n${r.stderr}`);
    const out = JSON.parse(r.stdout);
    const tools = out.result?.tools ?? [];
    assert.ok(tools.length >= 18, `tools/list: ${tools.length} tools`);
    let allowed = 0;
    for (const { toolName, findings } of out.schemaFindings ?? []) {
      for (const f of findings) {
        const anyJson = f.rule === 'untyped-schema' && /\.anyOf\[\d+\]\.items$/.test(f.path);
        assert.ok(anyJson, `tool ${toolName}: ${f.severity} ${f.rule} at ${f.path}: ${f.issue}`);
        allowed++;
      }
    }
    console.log(`inspector --strict: ${tools.length} tools pass; ${allowed} any-JSON array element(s) left untyped`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
