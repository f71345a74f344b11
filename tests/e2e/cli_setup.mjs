// tests/e2e/cli_setup.mjs — `ctxd setup` and `ctxd client-config`: setup creates .env
// mode 0600 with fresh API_KEY and JWT_SECRET_KEY (>= 32 random bytes, url-safe), keeps
// other lines and existing keys (reporting them kept), rotates with --force, and never
// prints a value; client-config prints, for every client over HTTP and stdio, valid JSON
// (or the `claude mcp add` command) carrying the API key (or a placeholder when none is
// set) and never the JWT secret; the printed stdio command really serves MCP.
// Usage: node cli_setup.mjs <ctxd>. Must not: leave files behind.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tempDir } from './lib.mjs';

const bin = resolve(process.argv[2]);
const dir = tempDir('e2e-setup-');
const clean = { ...process.env };
for (const k of ['API_KEY', 'JWT_SECRET_KEY', 'DATABASE_URL', 'HTTP_HOST', 'HTTP_PORT', 'MCP_TRANSPORT']) delete clean[k];
const run = (args, env = {}) => {
  const r = spawnSync(bin, args, { cwd: dir, env: { ...clean, ...env }, encoding: 'utf8' });
  assert.equal(r.status, 0, `ctxd ${args.join(' ')}: ${r.stderr}`);
  return r;
};
const readEnv = () => Object.fromEntries(readFileSync(join(dir, '.env'), 'utf8').split('\n')
  .filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
try {
  // placeholder when no key is configured
  const ph = run(['client-config', 'cursor', '--inline-key']);
  assert.equal(JSON.parse(ph.stdout).mcpServers.ctxd.headers['X-API-Key'], 'YOUR_API_KEY');
  assert.match(ph.stderr, /API_KEY is not set/);

  // fresh .env
  let r = run(['setup']);
  const env1 = readEnv();
  assert.equal(statSync(join(dir, '.env')).mode & 0o777, 0o600);
  for (const k of ['API_KEY', 'JWT_SECRET_KEY']) {
    assert.match(env1[k], /^[A-Za-z0-9_-]{43,}$/, k);
    assert.ok(!r.stdout.includes(env1[k]) && !r.stderr.includes(env1[k]), `setup printed ${k}`);
  }
  assert.notEqual(env1.API_KEY, env1.JWT_SECRET_KEY);

  // existing keys and other lines are kept; a missing key is added
  writeFileSync(join(dir, '.env'), `# mine\nLOG_LEVEL=warning\nAPI_KEY=${env1.API_KEY}\n`, { mode: 0o644 });
  r = run(['setup']);
  assert.match(r.stdout, /API_KEY: kept/);
  const env2 = readEnv();
  assert.equal(env2.API_KEY, env1.API_KEY);
  assert.equal(env2.LOG_LEVEL, 'warning');
  assert.ok(env2.JWT_SECRET_KEY && env2.JWT_SECRET_KEY !== env1.JWT_SECRET_KEY);
  assert.ok(readFileSync(join(dir, '.env'), 'utf8').startsWith('# mine\nLOG_LEVEL=warning\n'));
  assert.equal(statSync(join(dir, '.env')).mode & 0o777, 0o600);
  r = run(['setup']);
  assert.deepEqual(readEnv(), env2);
  assert.match(r.stdout, /JWT_SECRET_KEY: kept/);

  // --force rotates both
  run(['setup', '--force']);
  const env3 = readEnv();
  assert.notEqual(env3.API_KEY, env2.API_KEY);
  assert.notEqual(env3.JWT_SECRET_KEY, env2.JWT_SECRET_KEY);
  assert.equal(env3.LOG_LEVEL, 'warning');

  // client-config reads .env: the key, never the JWT secret
  const json = (client, extra = []) => {
    const o = run(['client-config', client, ...extra]);
    assert.ok(!o.stdout.includes(env3.JWT_SECRET_KEY) && !o.stderr.includes(env3.JWT_SECRET_KEY), `${client} printed the JWT secret`);
    return o.stdout;
  };
  const url = 'http://127.0.0.1:23456/mcp';
  assert.equal(json('claude').trim(), `claude mcp add --transport http ctxd ${url} --header 'X-API-Key: ${env3.API_KEY}'`);
  assert.match(json('claude', ['--stdio']), /^claude mcp add ctxd -- \S+ --env-file \S+\/\.env .*serve --stdio\n$/);
  let j = JSON.parse(json('cursor', ['--inline-key']));
  assert.deepEqual(j.mcpServers.ctxd, { url, headers: { 'X-API-Key': env3.API_KEY } });
  j = JSON.parse(json('vscode', ['--inline-key']));
  assert.deepEqual(j.servers.ctxd, { type: 'http', url, headers: { 'X-API-Key': env3.API_KEY } });
  j = JSON.parse(json('gemini', ['--inline-key']));
  assert.deepEqual(j.mcpServers.ctxd, { httpUrl: url, headers: { 'X-API-Key': env3.API_KEY } });
  j = JSON.parse(json('windsurf', ['--inline-key']));
  assert.deepEqual(j.mcpServers.ctxd, { serverUrl: url, headers: { 'X-API-Key': env3.API_KEY } });
  for (const c of ['cursor', 'vscode', 'gemini', 'windsurf', 'claude-desktop']) {
    const s = JSON.parse(json(c, ['--stdio']));
    const e = (s.servers || s.mcpServers).ctxd;
    assert.ok(e.command.endsWith('ctxd') && e.args.slice(-2).join(' ') === 'serve --stdio', c);
  }
  const desk = JSON.parse(json('claude-desktop', ['--stdio'])).mcpServers.ctxd;
  assert.equal(desk.env.API_KEY, env3.API_KEY);
  // HTTP_HOST/HTTP_PORT are honoured
  j = JSON.parse(run(['client-config', 'cursor'], { HTTP_PORT: '4000' }).stdout);
  assert.equal(j.mcpServers.ctxd.url, 'http://127.0.0.1:4000/mcp');
  // unknown client: usage error
  assert.equal(spawnSync(bin, ['client-config', 'emacs'], { cwd: dir, env: clean }).status, 2);

  // the printed stdio command serves MCP (initialize over stdin, from another directory)
  const e = JSON.parse(json('claude-desktop', ['--stdio'])).mcpServers.ctxd;
  const init = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } });
  const out = execFileSync(e.command, e.args, { input: `${init}\n`, cwd: '/', env: { ...clean, ...e.env }, encoding: 'utf8', stdio: ['pipe', 'pipe', 'ignore'] });
  assert.equal(JSON.parse(out.split('\n')[0]).result.serverInfo.name, 'ctxd');
  console.log('cli_setup: all checks passed');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
