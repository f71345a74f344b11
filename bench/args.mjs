// bench/args.mjs — the command line of the node benchmarks (bench/footprint.mjs,
// bench/peers/peers.mjs): one positional argument (the ctxd binary) and --name VALUE
// options, parsed with node's util.parseArgs; integer options are checked against their
// range. A mistake prints what was wrong and the usage line, and exits 2.
// Must not: accept an option it was not told about, or a value outside its range.
import { parseArgs } from 'node:util';

// spec: {name: {def, min, max}} for an integer, {name: {def}} for a string (def may be
// null). Returns {bin, ...options}.
export function benchArgs(script, usageLine, spec) {
  const usage = (msg) => {
    if (msg) console.error(`${script}: ${msg}`);
    console.error(`usage: ${usageLine}`);
    process.exit(2);
  };
  const options = { help: { type: 'boolean', short: 'h' } };
  for (const k of Object.keys(spec)) options[k] = { type: 'string' };
  let parsed;
  try {
    parsed = parseArgs({ args: process.argv.slice(2), options, allowPositionals: true, strict: true });
  } catch (e) {
    usage(e.message);
  }
  if (parsed.values.help) usage();
  if (parsed.positionals.length !== 1) usage(parsed.positionals.length ? 'one ctxd binary only' : 'the ctxd binary is required');
  const opt = { bin: parsed.positionals[0] };
  for (const [k, s] of Object.entries(spec)) {
    const v = parsed.values[k];
    if (s.min === undefined) { opt[k] = v ?? s.def; continue; }
    opt[k] = v === undefined ? s.def : Number(v);
    if (!Number.isInteger(opt[k]) || opt[k] < s.min || opt[k] > s.max) usage(`--${k} must be an integer ${s.min}..${s.max}`);
  }
  return opt;
}
