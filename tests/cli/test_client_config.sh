#!/usr/bin/env bash
# tests/cli/test_client_config.sh — `ctxd client-config`: every client listed in --help
# gets a snippet that parses in its format (JSON, TOML, a `claude mcp add` command) with
# that client's documented keys, over HTTP and over stdio; where the client expands a
# variable the snippet names CTXD_API_KEY and never holds the key (--inline-key puts it
# back); `all` covers every client; -o writes mode 0600 and refuses to overwrite without
# --force; an unknown client is a usage error naming it; and the --stdio command, run from
# another directory, opens the same database (it sees a session created before).
# Usage: test_client_config.sh path/to/ctxd. Must not: leave files behind (lib.sh).
source "$(dirname "$0")/lib.sh"
umask 022
unset API_KEY JWT_SECRET_KEY HTTP_HOST HTTP_PORT MCP_TRANSPORT CTXD_API_KEY

mode() { stat -c %a "$1"; }

# check_snippet CLIENT http|stdio|inline FILE KEY: the snippet parses and has the
# client's keys; prints what is wrong, exits 1.
check_snippet() {
  python3 - "$@" <<'EOF'
import json, shlex, sys, tomllib
client, mode, path, key = sys.argv[1:5]
text = open(path).read()
url = "http://127.0.0.1:23456/mcp"
def fail(msg):
    print(f"{client} {mode}: {msg}"); sys.exit(1)
if client == "claude":
    argv = shlex.split(text)
    if argv[:3] != ["claude", "mcp", "add"]: fail(f"not a claude mcp add command: {argv}")
    if mode == "stdio":
        cmd = argv[argv.index("--") + 1:]
        if not cmd[0].startswith("/") or cmd[-2:] != ["serve", "--stdio"]: fail(f"stdio command {cmd}")
    elif argv[-2:] != ["--header", f"X-API-Key: {key}"] or url not in argv: fail(f"http command {argv}")
    sys.exit(0)
if client == "codex":
    doc = tomllib.loads(text)
    e = doc["mcp_servers"]["ctxd"]
    if mode == "stdio":
        if not e["command"].startswith("/") or e["args"][-2:] != ["serve", "--stdio"]: fail(str(e))
    elif mode == "inline":
        if e != {"url": url, "http_headers": {"X-API-Key": key}}: fail(str(e))
    elif e != {"url": url, "env_http_headers": {"X-API-Key": "CTXD_API_KEY"}}: fail(str(e))
    sys.exit(0)
doc = json.loads(text)
root = {"vscode": "servers", "zed": "context_servers", "opencode": "mcp"}.get(client, "mcpServers")
top = {root} | ({"$schema"} if client == "opencode" else set()) | \
      ({"inputs"} if client == "vscode" and mode == "http" else set())
if set(doc) != top: fail(f"top-level keys {sorted(doc)}, expected {sorted(top)}")
e = doc[root]["ctxd"]
if mode == "stdio":
    cmd = e["command"] if client == "opencode" else [e["command"]] + e["args"]
    if not cmd[0].startswith("/") or cmd[-2:] != ["serve", "--stdio"]: fail(f"command {cmd}")
    want = {"vscode": "stdio", "copilot": "local", "opencode": "local"}.get(client)
    if e.get("type") != want: fail(f"type {e.get('type')}, expected {want}")
    sys.exit(0)
if client == "claude-desktop":  # mcp-remote, the key in env
    a = e["args"]
    if e["command"] != "npx" or a[1:3] != ["mcp-remote", url] or \
       a[3:5] != ["--header", "X-API-Key:${CTXD_API_KEY}"] or e["env"] != {"CTXD_API_KEY": key}:
        fail(str(e))
    sys.exit(0)
field = {"gemini": "httpUrl", "qwen": "httpUrl", "windsurf": "serverUrl"}.get(client, "url")
if e.get(field) != url: fail(f"{field} = {e.get(field)}")
want = {"vscode": "http", "copilot": "http", "opencode": "remote", "cline": "streamableHttp"}.get(client)
if e.get("type") != want: fail(f"type {e.get('type')}, expected {want}")
ref = {"cursor": "${env:CTXD_API_KEY}", "windsurf": "${env:CTXD_API_KEY}",
       "vscode": "${input:ctxd-api-key}", "gemini": "${CTXD_API_KEY}", "qwen": "${CTXD_API_KEY}",
       "kiro": "${CTXD_API_KEY}", "copilot": "${CTXD_API_KEY}",
       "opencode": "{env:CTXD_API_KEY}"}.get(client)
want = key if mode == "inline" or ref is None else ref
if e["headers"] != {"X-API-Key": want}: fail(f"headers {e['headers']}, expected X-API-Key {want}")
if client == "copilot" and e.get("tools") != ["*"]: fail("copilot needs tools")
if client == "vscode" and mode == "http" and doc["inputs"][0]["id"] != "ctxd-api-key": fail("input")
EOF
}

run "$CTXD" client-config --help
CLIENTS=$(sed -n 's/^Clients: \(.*\)\.$/\1/p' <<<"$OUT" | tr -d ,)
check "--help lists the clients" eval '[[ $(wc -w <<<"$CLIENTS") -ge 13 ]]'

run "$CTXD" setup
KEY=$(sed -n 's/^API_KEY=//p' .env)
JWT=$(sed -n 's/^JWT_SECRET_KEY=//p' .env)
check "setup wrote a key" eval '[[ -n $KEY && -n $JWT ]]'

for c in $CLIENTS; do
  for m in http inline stdio; do
    flags=()
    [[ $m == inline ]] && flags=(--inline-key)
    [[ $m == stdio ]] && flags=(--stdio)
    run "$CTXD" client-config "$c" "${flags[@]}"
    printf '%s\n' "$OUT" >"$T/snippet"
    check "$c $m: parses with the client's keys" eval 'rc_is 0 && check_snippet "$c" "$m" "$T/snippet" "$KEY"'
    check "$c $m: never the JWT secret" eval 'out_lacks "$JWT" && err_lacks "$JWT"'
  done
  # where the client expands a variable, the snippet holds no key
  run "$CTXD" client-config "$c"
  case $c in
  claude | claude-desktop | zed | cline)
    check "$c: the key literal, with a hint not to commit it" eval 'out_has "$KEY" && err_has "out of version control"' ;;
  *) check "$c: CTXD_API_KEY or an input, not the key" eval 'out_lacks "$KEY" && (out_has CTXD_API_KEY || out_has "input:ctxd-api-key")' ;;
  esac
done

# all: every client, each after its heading
run "$CTXD" client-config all
for c in $CLIENTS; do
  check "all has $c" eval 'out_has "### $c: "'
done
check "all: as many snippets as clients" eval '[[ $(grep -c "^### " <<<"$OUT") -eq $(wc -w <<<"$CLIENTS") ]]'

# -o FILE: 0600, never overwritten without --force
run "$CTXD" client-config cursor -o "$T/cursor.json"
check "-o writes the file 0600 (umask 022)" eval 'rc_is 0 && [[ $(mode "$T/cursor.json") == 600 ]] && [[ -z $OUT ]]'
check "-o: the file holds the snippet" eval 'check_snippet cursor http "$T/cursor.json" "$KEY"'
echo mine >"$T/mine.json"
run "$CTXD" client-config cursor -o "$T/mine.json"
check "-o refuses an existing file" eval 'rc_is 1 && err_has "exists" && [[ $(cat "$T/mine.json") == mine ]]'
chmod 0644 "$T/mine.json"
run "$CTXD" client-config codex --output "$T/mine.json" --force
check "--force replaces it, 0600" eval 'rc_is 0 && [[ $(mode "$T/mine.json") == 600 ]] && check_snippet codex http "$T/mine.json" "$KEY"'
ln -s "$T/target" "$T/link.json"
run "$CTXD" client-config cursor -o "$T/link.json"
check "-o does not write through a symbolic link" eval 'rc_is 1 && [[ ! -e $T/target ]]'

# all -o DIR: one file per client
run "$CTXD" client-config all -o "$T/snippets"
check "all -o DIR writes every client" eval 'rc_is 0 && [[ $(ls "$T/snippets" | wc -l) -eq $(wc -w <<<"$CLIENTS") ]]'
check "all -o: the files are 0600" eval '[[ -z $(find "$T/snippets" -type f ! -perm 600) ]]'
check "all -o: codex.toml holds the Codex snippet" eval 'check_snippet codex http "$T/snippets/codex.toml" "$KEY"'
run "$CTXD" client-config all -o "$T/snippets"
check "all -o refuses existing files" eval 'rc_is 1 && err_has "exists"'
run "$CTXD" client-config all -o "$T/snippets" --force
check "all -o --force replaces them" eval 'rc_is 0'

# bad client names
run "$CTXD" client-config emacs
check "an unknown client is a usage error naming it" eval 'rc_is 2 && err_has "unknown client '"'"'emacs'"'"'" && err_has codex'
run "$CTXD" client-config
check "no client: a usage error listing them" eval 'rc_is 2 && err_has "name a client" && err_has opencode'

# no key configured: a placeholder, said so
mkdir "$T/nokey" && pushd "$T/nokey" >/dev/null
run "$CTXD" client-config cursor --inline-key
check "no API_KEY: the placeholder" eval 'rc_is 0 && out_has YOUR_API_KEY && err_has "API_KEY is not set"'
popd >/dev/null

# --stdio: absolute paths; the command run from another directory opens the same database
# (a relative DATABASE_PATH in .env would otherwise create an empty one there)
echo "DATABASE_PATH=./rel.db" >>.env
run "$CTXD" client-config cursor --stdio
printf '%s\n' "$OUT" >"$T/stdio.json"
check "stdio: --env-file and --database-url are absolute" eval 'out_has "\"$T/.env\"" && out_has "\"sqlite:///$T/rel.db\""'
mcp() { # mcp DIR CMD-JSON ACTION: runs the snippet's command in DIR
  python3 - "$@" <<'EOF'
import json, subprocess, sys
d, snip, action = sys.argv[1:4]
e = json.load(open(snip))["mcpServers"]["ctxd"]
p = subprocess.Popen([e["command"]] + e["args"], cwd=d, stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, text=True, env={"PATH": "/usr/bin:/bin"})
n = 0
def call(method, params):
    global n
    n += 1
    p.stdin.write(json.dumps({"jsonrpc": "2.0", "id": n, "method": method, "params": params}) + "\n")
    p.stdin.flush()
    r = json.loads(p.stdout.readline())
    if "error" in r: sys.exit(f"{method}: {r['error']}")
    return r["result"]
def tool(name, **args):
    r = call("tools/call", {"name": name, "arguments": args})
    return json.loads(r["content"][0]["text"])
call("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": {"name": "t", "version": "1"}})
tok = tool("authenticate_agent", agent_id="cc-test", agent_type="claude")["token"]
if action == "create":
    print(tool("create_session", purpose="made before", auth_token=tok)["session_id"])
else:
    print(tool("get_session", session_id=action, auth_token=tok)["session"]["purpose"])
p.stdin.close(); p.wait()
EOF
}
SID=$(mcp "$T" "$T/stdio.json" create 2>"$T/.err")
check "the stdio command serves MCP (a session created)" eval '[[ -n $SID ]]'
mkdir "$T/elsewhere"
PURPOSE=$(mcp "$T/elsewhere" "$T/stdio.json" "$SID" 2>"$T/.err")
check "from another directory it opens the same database" eval '[[ $PURPOSE == "made before" ]] && [[ ! -e $T/elsewhere/rel.db ]] && [[ -e $T/rel.db ]]'

# --env-file given to client-config is the one the snippet names
mv .env other.env
run "$CTXD" --env-file other.env client-config codex --stdio
check "--env-file: the snippet names it, absolute" eval 'rc_is 0 && out_has "\"--env-file\", \"$T/other.env\""'

finish
