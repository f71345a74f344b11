// tests/http/conformance/run.mjs — CTest driver: starts the fixture HTTP server
// (argv[2]) on a free port, runs the pinned official conformance suite
// (@modelcontextprotocol/conformance 0.1.13, active suite = the 2025-11-25 server
// scenarios) against http://localhost:PORT/mcp, and fails unless it reports
// "Total: N passed, 0 failed". Exit 77 (skipped) when node_modules is missing
// (install: npm ci --prefix tests/http/conformance).
// Must not: install packages or touch the network beyond loopback.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const bin = join(here, 'node_modules', '.bin', 'conformance');
if (!existsSync(bin)) {
  console.log('conformance suite not installed (npm ci --prefix tests/http/conformance): skipped');
  process.exit(77);
}
const server = spawn(process.argv[2], ['--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
const port = await new Promise((resolve, reject) => {
  const rl = createInterface({ input: server.stdout });
  rl.once('line', (l) => { const m = /^PORT (\d+)$/.exec(l); m ? resolve(m[1]) : reject(new Error(l)); });
  server.once('exit', (c) => reject(new Error(`fixture server exited (${c})`)));
});
const extra = process.argv.slice(3);
const suite = spawn(bin, ['server', '--url', `http://localhost:${port}/mcp`, ...extra],
                    { stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
suite.stdout.on('data', (d) => { out += d; process.stdout.write(d); });
const code = await new Promise((r) => suite.once('exit', r));
server.kill('SIGTERM');
const serverCode = await new Promise((r) => server.once('exit', (c, sig) => r(c ?? sig)));
const m = /Total: (\d+) passed, (\d+) failed/.exec(out);
if (!m) { console.error(`no summary line (suite exit ${code})`); process.exit(1); }
if (serverCode !== 0) { console.error(`fixture server exit: ${serverCode}`); process.exit(1); }
const failed = Number(m[2]);
const badScenario = /^✗/m.test(out);
console.log(`conformance: ${m[1]} passed, ${failed} failed`);
process.exit(failed === 0 && !badScenario && Number(m[1]) > 0 ? 0 : 1);
