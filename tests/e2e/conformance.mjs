// tests/e2e/conformance.mjs — the official conformance suite (pinned
// @modelcontextprotocol/conformance 0.1.13 in tests/http/conformance/node_modules)
// against the real `ctxd serve` over HTTP, for the scenarios that need no fixture
// tools/resources/prompts: initialize, ping, logging, tools/resources/prompts listing,
// DNS-rebinding protection and SSE streams. Fails unless every one passes; prints a
// table. Usage: node conformance.mjs <ctxd>. Exit 77 when the suite is not installed.
// Must not: install packages, touch the network beyond loopback, or sleep for timing.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServe, withBackend } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const suite = join(here, '..', 'http', 'conformance', 'node_modules', '.bin', 'conformance');
if (!existsSync(suite)) {
  console.log('conformance suite not installed (npm ci --prefix tests/http/conformance): skipped');
  process.exit(77);
}
const scenarios = ['server-initialize', 'ping', 'logging-set-level', 'tools-list', 'resources-list',
  'prompts-list', 'dns-rebinding-protection', 'server-sse-multiple-streams'];
const bin = process.argv[2];
const rows = [];
await withBackend('sqlite', async ({ url }) => {
  const srv = await startServe(bin, { env: { DATABASE_URL: url } });
  try {
    for (const sc of scenarios) {
      const p = spawn(suite, ['server', '--url', `http://localhost:${srv.port}/mcp`, '--scenario', sc],
                      { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (d) => { out += d; });
      p.stderr.on('data', (d) => { out += d; });
      const code = await new Promise((r) => p.once('exit', r));
      // one scenario prints "Passed: N/M, F failed, W warnings"; a suite "Total: N passed, F failed"
      const plain = out.replace(/\x1b\[[0-9;]*m/g, '');
      const m = /Passed: (\d+)\/\d+, (\d+) failed/.exec(plain) || /Total: (\d+) passed, (\d+) failed/.exec(plain);
      const passed = m ? Number(m[1]) : 0, failed = m ? Number(m[2]) : -1;
      const good = code === 0 && m && failed === 0 && passed > 0 && !/^\s*✗|\bFAILURE\b/m.test(plain);
      rows.push({ sc, passed, failed, good });
      if (!good || process.env.E2E_VERBOSE) console.log(out);
    }
  } finally {
    const c = await srv.stop();
    if (c !== 0) { console.error(`ctxd serve exit ${c}\n${srv.stderr()}`); process.exitCode = 1; }
  }
});
console.log('| scenario | checks passed | failed | result |\n|---|---|---|---|');
for (const r of rows) console.log(`| ${r.sc} | ${r.passed} | ${r.failed} | ${r.good ? 'PASS' : 'FAIL'} |`);
if (rows.some((r) => !r.good) || rows.length !== scenarios.length) process.exit(1);
