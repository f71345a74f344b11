// tests/e2e/lib.mjs — helpers shared by the end-to-end tests: start the real
// `ctxd serve` on a free port (--port 0, the port read from its "ctxd ready:" log line),
// stop it with SIGTERM and check its exit code, and make/drop a fresh database on the
// PostgreSQL or MariaDB test fixture (tests/servers/server.sh, $CTXD_TEST_SERVERS),
// issue an agent key with `ctxd agent add`, and make a self-signed certificate.
// Must not: sleep for timing (readiness is the log line), leave processes, files or
// databases behind, or print secrets.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const API_KEY = 'e2e-api-key-0123456789';
export const JWT_SECRET = 'e2e-jwt-secret-0123456789abcdef0123456789';
// The shared key allowed to claim any type and every permission (admin included): for
// tests about something else than the shared key's policy, which need an admin quickly.
export const SHARED_KEY_ANYTHING = { SHARED_KEY_AGENT_TYPES: '*', SHARED_KEY_PERMISSIONS: 'read,write,admin,debug' };

export function tempDir(prefix) {
  const root = process.env.CTXD_TEST_TMP || tmpdir();
  mkdirSync(root, { recursive: true }); // the first test to run creates it
  return mkdtempSync(join(root, prefix));
}

// `ctxd agent add NAME --type TYPE [--permissions P,...]` on dbUrl (the database must be
// migrated: start the server on it first); returns the key it printed once.
export function agentKey(bin, dbUrl, name, type, perms) {
  const args = ['agent', 'add', name, '--type', type, ...(perms ? ['--permissions', perms.join(',')] : [])];
  const out = execFileSync(bin, args, {
    env: { ...process.env, API_KEY, JWT_SECRET_KEY: JWT_SECRET, DATABASE_URL: dbUrl, LOG_LEVEL: 'warning' },
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const m = out.match(/ctxd_ak_[A-Za-z0-9_-]{43}/g);
  if (!m || m.length !== 1) throw new Error(`ctxd agent add ${name}: no key in its output`);
  return m[0];
}

// Starts `ctxd serve --port 0 ...`; resolves {url, base, port, proc, stderr(), stop()}.
// The ready line is logged at info: env must not raise LOG_LEVEL above info.
export function startServe(bin, { env = {}, args = [], cwd } = {}) {
  const proc = spawn(bin, ['serve', '--port', '0', ...args], {
    cwd, env: { ...process.env, API_KEY, JWT_SECRET_KEY: JWT_SECRET, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const exited = new Promise((r) => proc.once('exit', (code, sig) => r(code ?? sig)));
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: proc.stderr });
    rl.on('line', (l) => {
      log += l + '\n';
      if (process.env.E2E_VERBOSE) console.error(l);
      const m = /ctxd ready: (https?:\/\/[^ ]+:(\d+)\/mcp)/.exec(l);
      if (m) {
        const url = m[1];
        resolve({
          url, port: Number(m[2]), base: url.replace(/\/mcp$/, ''), proc, exited,
          stderr: () => log,
          stop: async () => { proc.kill('SIGTERM'); return exited; },
        });
      }
    });
    exited.then((c) => reject(new Error(`ctxd serve exited (${c}) before it was ready:\n${log}`)));
  });
}

function serverEnv(name) {
  const dir = process.env.CTXD_TEST_SERVERS;
  if (!dir) return null;
  let text;
  try { text = readFileSync(join(dir, `${name}.env`), 'utf8'); } catch { return null; }
  const vars = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line);
    if (m) vars[m[1]] = m[2].replace(/^'(.*)'$/, '$1').replace(/\\(.)/g, '$1');
  }
  return vars;
}

// A fresh database on a fixture server: {url, drop()}; null when the fixture is absent.
export function freshDatabase(kind) {
  const name = `ctxd_e2e_${process.pid}_${Date.now() % 100000}`;
  if (kind === 'pg') {
    const v = serverEnv('pg');
    if (!v || !v.CTXD_TEST_PG_URL) return null;
    const u = new URL(v.CTXD_TEST_PG_URL);
    const admin = new URL(u); admin.pathname = '/postgres';
    const env = { ...process.env, PGCONNECT_TIMEOUT: '10' };
    execFileSync('psql', [admin.href, '-qAt', '-c', `CREATE DATABASE ${name} OWNER ctxd`], { env });
    const url = new URL(u); url.pathname = `/${name}`;
    return {
      url: url.href, name, vars: v,
      drop: () => execFileSync('psql', [admin.href, '-qAt', '-c', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`], { env }),
    };
  }
  if (kind === 'mariadb') {
    const v = serverEnv('mariadb');
    if (!v || !v.CTXD_TEST_MYSQL_URL) return null;
    const u = new URL(v.CTXD_TEST_MYSQL_URL);
    const cli = (sql) => execFileSync('mariadb', ['--no-defaults', '-h', u.hostname, '-P', u.port,
      '-u', decodeURIComponent(u.username), `-p${decodeURIComponent(u.password)}`, '-e', sql]);
    cli(`CREATE DATABASE ${name} CHARACTER SET utf8mb4`);
    const url = new URL(u); url.pathname = `/${name}`;
    return { url: url.href, name, vars: v, drop: () => cli(`DROP DATABASE IF EXISTS ${name}`) };
  }
  if (kind === 'mongo') {
    const v = serverEnv('mongo');
    if (!v || !v.CTXD_TEST_MONGO_URL) return null;
    const url = new URL(v.CTXD_TEST_MONGO_URL); url.pathname = `/${name}`;
    // ctxd creates the database on first use; the emulator's databases live in its
    // memory and go with the fixture (a real server named by CTXD_TEST_MONGODB_URL
    // keeps this small uniquely named database: there is no mongo client here)
    return { url: url.href, name, vars: v, drop: () => {} };
  }
  throw new Error(`unknown fixture ${kind}`);
}

// Runs fn with a database URL for the backend named on the command line
// (sqlite | pg | mariadb | mongo); returns what fn returns, cleaning up afterwards.
export async function withBackend(kind, fn) {
  const dir = tempDir('e2e-');
  let db = null;
  try {
    let url;
    if (kind === 'sqlite') url = `sqlite:///${join(dir, 'e2e.db')}`;
    else {
      db = freshDatabase(kind);
      if (!db) { console.error(`the ${kind} fixture is not available (run through ctest)`); process.exit(1); }
      url = db.url;
    }
    return await fn({ url, dir, db });
  } finally {
    if (db) { try { db.drop(); } catch (e) { console.error(`dropping ${db.name}: ${e.message}`); } }
    rmSync(dir, { recursive: true, force: true });
  }
}

// A self-signed certificate for localhost and 127.0.0.1 made with openssl: the key
// written to keyPath (mode 0600) and the certificate to certPath. Exits 77 (skipped)
// when openssl is not installed.
export function selfSignedCert(keyPath, certPath) {
  if (spawnSync('openssl', ['version']).status !== 0) {
    console.error('openssl is not installed: skipped');
    process.exit(77);
  }
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`openssl req: ${r.error || r.stderr}`);
  chmodSync(keyPath, 0o600);
}

export async function loadSdk() {
  const { createRequire } = await import('node:module');
  const { dirname } = await import('node:path');
  const { fileURLToPath, pathToFileURL } = await import('node:url');
  const sdkDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'mcp', 'sdk');
  const sdkRoot = join(sdkDir, 'node_modules', '@modelcontextprotocol', 'sdk');
  try {
    createRequire(join(sdkDir, 'package.json')).resolve('@modelcontextprotocol/sdk/package.json');
  } catch {
    console.error('SKIP: @modelcontextprotocol/sdk is not installed; run `npm ci` in tests/mcp/sdk');
    process.exit(77);
  }
  const imp = (p) => import(pathToFileURL(join(sdkRoot, 'dist', 'esm', p)).href);
  return {
    Client: (await imp('client/index.js')).Client,
    StreamableHTTPClientTransport: (await imp('client/streamableHttp.js')).StreamableHTTPClientTransport,
    types: await imp('types.js'),
  };
}
