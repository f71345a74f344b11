#!/usr/bin/env bash
# scripts/check-docker.sh — static checks of the container files, for machines without a
# container engine (CTest docker_static): hadolint-like rules on the Dockerfile, the
# .dockerignore against the Dockerfile's COPY sources, the runtime packages against
# Debian 12's archive and against the libraries a built ctxd links, and compose.yaml
# (services, loopback ports, healthchecks, no secret written in the file).
# Prints one line per rule, PASS / FAIL / SKIP with the reason; exits 1 if a rule failed,
# 2 on a bad command line. SKIP (a check that cannot run here) is never a failure.
# Usage: scripts/check-docker.sh [--dockerfile F] [--compose F] [--dockerignore F]
#          [--context DIR] [--ctxd BIN] [--port N] [--no-yaml]
# Must not: need a container engine or the network, or change any file.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dockerfile=$root/Dockerfile
compose=$root/compose.yaml
dockerignore=""
context=$root
ctxd=""
port=""
yaml=auto

usage() {
  sed -n '9,10p' "$0" | sed 's/^# //'
}
while (($# > 0)); do
  case $1 in
    --dockerfile | --compose | --dockerignore | --context | --ctxd | --port)
      if (($# < 2)); then echo "check-docker: option $1 needs a value" >&2; exit 2; fi
      v=$2
      case $1 in
        --dockerfile) dockerfile=$v ;;
        --compose) compose=$v ;;
        --dockerignore) dockerignore=$v ;;
        --context) context=$v ;;
        --ctxd) ctxd=$v ;;
        --port) port=$v ;;
      esac
      shift 2 ;;
    --no-yaml) yaml=no; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "check-docker: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
[[ -n $dockerignore ]] || dockerignore=$(dirname "$dockerfile")/.dockerignore
for f in "$dockerfile" "$compose"; do
  [[ -r $f ]] || { echo "check-docker: cannot read $f" >&2; exit 2; }
done

failed=0
pass() { printf 'PASS  %s\n' "$1"; }
fail() { printf 'FAIL  %s: %s\n' "$1" "$2"; failed=$((failed + 1)); }
skip() { printf 'SKIP  %s: %s\n' "$1" "$2"; }
# rule NAME: reports the reasons collected in $why (one per line; none = PASS)
why=""
rule() {
  if [[ -z $why ]]; then pass "$1"; else
    while IFS= read -r w; do fail "$1" "$w"; done <<<"$why"
  fi
  why=""
}
note() { why+=${why:+$'\n'}$1; }

echo "check-docker: $dockerfile, $compose"

# ---- the Dockerfile as instructions: continuation lines joined, comments dropped -------
kw=() args=() stage=()
nstage=-1
while IFS= read -r line; do
  k=${line%%[[:space:]]*}
  k=${k^^}
  a=${line#"${line%%[[:space:]]*}"}
  a=${a#"${a%%[![:space:]]*}"}
  a=${a%"${a##*[![:space:]]}"}
  [[ $k == FROM ]] && nstage=$((nstage + 1))
  kw+=("$k") args+=("$a") stage+=("$nstage")
done < <(awk '
  { sub(/\r$/, "") }
  /^[ \t]*#/ { next }
  !cont && /^[ \t]*$/ { next }
  /\\[ \t]*$/ { sub(/\\[ \t]*$/, ""); buf = buf $0 " "; cont = 1; next }
  { print buf $0; buf = ""; cont = 0 }
  END { if (buf != "") print buf }' "$dockerfile")
final=$nstage
n=${#kw[@]}
if ((nstage < 0)); then
  fail "dockerfile-parse" "no FROM instruction in $dockerfile"
  exit 1
fi

# ARG defaults of the final stage, to resolve ${VAR} in LABEL values
declare -A argdef=()
for ((i = 0; i < n; i++)); do
  if [[ ${kw[i]} == ARG && ${stage[i]} == "$final" && ${args[i]} =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]]; then
    argdef[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]//\"/}
  fi
done

# every FROM names a tag (not latest) or a digest, or an earlier stage
declare -A aliases=()
for ((i = 0; i < n; i++)); do
  [[ ${kw[i]} == FROM ]] || continue
  read -ra w <<<"${args[i]}"
  img="" as=""
  for ((j = 0; j < ${#w[@]}; j++)); do
    case ${w[j]} in
      --*) ;;
      [Aa][Ss]) as=${w[j + 1]:-}; break ;;
      *) [[ -z $img ]] && img=${w[j]} ;;
    esac
  done
  if [[ -n ${aliases[$img]:-} || $img == scratch ]]; then :
  elif [[ $img == *'$'* ]]; then note "FROM $img: a variable image cannot be checked; write the tag"
  elif [[ $img == *@sha256:* ]]; then :
  else
    last=${img##*/}
    if [[ $last != *:* ]]; then note "FROM $img has no tag (it means :latest)"
    elif [[ ${last##*:} == latest ]]; then note "FROM $img uses the moving tag latest"
    fi
  fi
  [[ -n $as ]] && aliases[$as]=1
done
rule "every FROM pinned to a tag or digest (not latest)"

# the final stage runs as a user other than root
user=""
for ((i = 0; i < n; i++)); do
  [[ ${kw[i]} == USER && ${stage[i]} == "$final" ]] && user=${args[i]}
done
uname=${user%%:*}
if [[ -z $user ]]; then note "the final stage has no USER: it runs as root"
elif [[ $uname == 0 || $uname == root ]]; then note "USER $user is root"
elif [[ $uname == *'$'* ]]; then note "USER $user: a variable cannot be checked"
fi
rule "final stage USER is not root"

# HEALTHCHECK, VOLUME, EXPOSE in the final stage
hc="" vols=() exposed=() envs=() labels=""
for ((i = 0; i < n; i++)); do
  [[ ${stage[i]} == "$final" ]] || continue
  case ${kw[i]} in
    HEALTHCHECK) hc=${args[i]} ;;
    VOLUME)
      v=${args[i]}
      if [[ $v == \[* ]]; then v=${v//[\[\]\",]/ }; fi
      read -ra w <<<"$v"; vols+=("${w[@]}") ;;
    EXPOSE) read -ra w <<<"${args[i]}"; exposed+=("${w[@]}") ;;
    ENV) envs+=("${args[i]}") ;;
    LABEL) labels+=" ${args[i]}" ;;
  esac
done
if [[ -z $hc ]]; then note "the final stage has no HEALTHCHECK"
elif [[ ${hc^^} == NONE ]]; then note "HEALTHCHECK NONE turns the check off"
elif [[ $hc != *CMD* ]]; then note "HEALTHCHECK without CMD"
fi
rule "final stage has a HEALTHCHECK"

((${#vols[@]} > 0)) || note "the final stage declares no VOLUME"
rule "final stage declares a VOLUME"

dburl=""
for e in "${envs[@]}"; do
  if [[ $e =~ (^|[[:space:]])DATABASE_URL=\"?([^[:space:]\"]+) ]]; then dburl=${BASH_REMATCH[2]}; fi
done
if [[ $dburl != sqlite:///* ]]; then note "ENV DATABASE_URL is '${dburl:-unset}', not a sqlite:/// file"
else
  dbpath=${dburl#sqlite:///}
  dbpath=${dbpath%%\?*}
  on=0
  for v in "${vols[@]}"; do [[ $dbpath == "${v%/}"/* ]] && on=1; done
  ((on)) || note "the SQLite file $dbpath lies on no VOLUME (${vols[*]:-none})"
fi
rule "default SQLite file (ENV DATABASE_URL) is on a VOLUME"

if [[ -z $port ]]; then
  port=$(sed -n 's/.*{"HTTP_PORT", CONF_INT, "\([0-9]*\)".*/\1/p' "$root/src/base/conf.c" 2>/dev/null)
fi
if [[ -z $port ]]; then note "the default port is unknown (src/base/conf.c unreadable; give --port)"
else
  ok=0
  for p in "${exposed[@]}"; do [[ $p == "$port" || $p == "$port/tcp" ]] && ok=1; done
  ((ok)) || note "EXPOSE ${exposed[*]:-(none)} does not include ctxd's default port $port"
fi
rule "EXPOSE matches the default HTTP port${port:+ ($port)}"

# apt-get: install with -y and --no-install-recommends, update and lists removal in the
# same RUN; never `apt` (its CLI is not stable for scripts)
for ((i = 0; i < n; i++)); do
  [[ ${kw[i]} == RUN ]] || continue
  r=${args[i]}
  if [[ $r =~ (^|[^[:alnum:]_-])apt[[:space:]]+(install|update|upgrade) ]]; then
    note "RUN uses 'apt ${BASH_REMATCH[2]}': use apt-get"
  fi
  if [[ $r == *"apt-get install"* ]]; then
    [[ $r == *--no-install-recommends* ]] || note "apt-get install without --no-install-recommends (instruction $((i + 1)))"
    [[ $r =~ apt-get\ install[^\&\;\|]*[[:space:]](-y|--yes|-[a-z]*y[a-z]*|--assume-yes)([[:space:]]|$) ]] ||
      note "apt-get install without -y (instruction $((i + 1)))"
    [[ $r == *"rm -rf /var/lib/apt/lists"* ]] || note "apt-get install whose RUN does not rm -rf /var/lib/apt/lists/* (instruction $((i + 1)))"
    [[ $r == *"apt-get update"* ]] || note "apt-get install without apt-get update in the same RUN (instruction $((i + 1)))"
  elif [[ $r == *"apt-get update"* ]]; then
    note "apt-get update without an install in the same RUN (a stale cached layer) (instruction $((i + 1)))"
  fi
done
rule "apt-get install: -y, --no-install-recommends, update and rm /var/lib/apt/lists in one RUN"

for ((i = 0; i < n; i++)); do
  [[ ${kw[i]} == ADD ]] && note "ADD ${args[i]}: use COPY"
done
rule "no ADD (COPY for local files)"

for ((i = 0; i < n; i++)); do
  [[ ${kw[i]} == RUN && ${args[i]} =~ (^|[^[:alnum:]_-])sudo([^[:alnum:]_-]|$) ]] && note "RUN uses sudo: ${args[i]:0:60}"
done
rule "no sudo"

# ENTRYPOINT, CMD and HEALTHCHECK CMD in exec (JSON array) form
jstr='"([^"\\]|\\.)*"'
jarr="^\[[[:space:]]*$jstr([[:space:]]*,[[:space:]]*$jstr)*[[:space:]]*\]$"
seen_ep=0 seen_cmd=0
for ((i = 0; i < n; i++)); do
  [[ ${stage[i]} == "$final" ]] || continue
  case ${kw[i]} in
    ENTRYPOINT | CMD)
      [[ ${kw[i]} == ENTRYPOINT ]] && seen_ep=1 || seen_cmd=1
      [[ ${args[i]} =~ $jarr ]] || note "${kw[i]} ${args[i]} is in shell form: write a JSON array" ;;
    HEALTHCHECK)
      c=${args[i]#*CMD}
      c=${c#"${c%%[![:space:]]*}"}
      [[ ${args[i]} != *CMD* || $c =~ $jarr ]] || note "HEALTHCHECK CMD $c is in shell form: write a JSON array" ;;
  esac
done
((seen_ep || seen_cmd)) || note "the final stage has neither ENTRYPOINT nor CMD"
rule "ENTRYPOINT, CMD and HEALTHCHECK CMD in exec (JSON) form"

# OCI labels; the version label is the version CMakeLists.txt builds
ver=$(sed -n 's/^project(ctxd VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt" 2>/dev/null)
for l in title version; do
  [[ $labels == *org.opencontainers.image.$l=* ]] || note "no LABEL org.opencontainers.image.$l"
done
if [[ $labels =~ org\.opencontainers\.image\.version=\"?([^\"[:space:]]*) ]]; then
  lv=${BASH_REMATCH[1]}
  if [[ $lv =~ ^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$ ]]; then lv=${argdef[${BASH_REMATCH[1]}]:-}; fi
  [[ -z $ver || $lv == "$ver" ]] || note "LABEL version '$lv' is not the project version $ver (CMakeLists.txt)"
fi
rule "OCI labels (org.opencontainers.image.*), version = CMakeLists.txt's"

# .dockerignore: keeps .git, .env and build directories out, lets every COPY source in.
# Docker's rule: the last pattern matching a path or one of its parents decides.
ignored() {
  local path=$1 res=1 p neg pat pre
  [[ -r $dockerignore ]] || return 1
  while IFS= read -r p; do
    p=${p%$'\r'}
    [[ -z ${p//[[:space:]]/} || $p == \#* ]] && continue
    neg=0
    if [[ $p == !* ]]; then neg=1; p=${p#!}; fi
    pat=${p#/}
    pat=${pat%/}
    pat=${pat//\*\*\//*}
    pre=$path
    while :; do
      # shellcheck disable=SC2053 # $pat is a glob on purpose
      if [[ $pre == $pat ]]; then res=$neg; break; fi
      [[ $pre == */* ]] || break
      pre=${pre%/*}
    done
  done <"$dockerignore"
  return "$res"
}
if [[ ! -r $dockerignore ]]; then note "no $dockerignore: .git, .env and build directories go to the engine"
else
  for p in .git .env build build-fuzz node_modules; do
    ignored "$p/x" || ignored "$p" || note ".dockerignore lets $p in"
  done
  for ((i = 0; i < n; i++)); do
    [[ ${kw[i]} == COPY && ${args[i]} != *--from=* ]] || continue
    read -ra w <<<"${args[i]}"
    srcs=()
    for x in "${w[@]}"; do [[ $x == --* ]] || srcs+=("$x"); done
    unset 'srcs[${#srcs[@]}-1]'
    for s in "${srcs[@]}"; do
      s=${s%/}
      s=${s#./}
      if [[ ! -e $context/$s ]]; then note "COPY source $s does not exist in $context"; continue; fi
      while IFS= read -r f; do
        f=${f#"$context"/}
        if ignored "$f"; then note "COPY $s: .dockerignore leaves out $f"; break; fi
      done < <(find "$context/$s" -type f | head -200)
    done
  done
fi
rule ".dockerignore keeps .git/.env/build out and lets every COPY source in"

# ---- Debian 12: the packages exist; the runtime packages cover what ctxd links --------
pkgs_of() { # pkgs_of STAGE: the packages apt-get installs in that stage
  local i r t
  for ((i = 0; i < n; i++)); do
    [[ ${kw[i]} == RUN && ${stage[i]} == "$1" ]] || continue
    r=${args[i]}
    while [[ $r == *"apt-get install"* ]]; do
      r=${r#*apt-get install}
      t=${r%%[&;|]*}
      for w in $t; do [[ $w == -* || $w == *=* ]] || echo "${w%%=*}"; done
    done
  done
}
runtime_pkgs=$(pkgs_of "$final" | sort -u)
all_pkgs=$(for ((s = 0; s <= final; s++)); do pkgs_of "$s"; done | sort -u)
codename=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release 2>/dev/null)
debian12=0
if [[ $codename == bookworm ]] && command -v apt-cache >/dev/null && command -v dpkg >/dev/null; then debian12=1; fi
if ((!debian12)); then
  skip "packages exist in Debian 12" "this machine is not Debian 12 with apt-cache (${codename:-unknown})"
else
  # one apt-cache call (each costs most of a second): the packages it knows
  # shellcheck disable=SC2086 # one package per word
  known=$(apt-cache show --no-all-versions libc6 $all_pkgs 2>/dev/null | sed -n 's/^Package: //p' | sort -u)
  if ! grep -qxF libc6 <<<"$known"; then
    skip "packages exist in Debian 12" "apt-cache knows no package (empty lists: apt-get update)"
  else
    for p in $all_pkgs; do
      grep -qxF "$p" <<<"$known" || note "package $p is not in Debian 12 (apt-cache show)"
    done
    [[ -n $all_pkgs ]] || note "the Dockerfile installs no package with apt-get"
    rule "every package the Dockerfile installs exists in Debian 12 ($(wc -w <<<"$all_pkgs") packages)"
  fi
fi

declare -A lib_pkg=()
map_libs() { # map_libs PATH...: fills lib_pkg[PATH] with the package shipping it (usr-merge aware)
  local f c cands=() line pkg
  for f in "$@"; do
    for c in "$f" "$(readlink -f "$f")"; do cands+=("$c" "${c#/usr}" "/usr$c"); done
  done
  # one dpkg -S call; its lines read "pkg[:arch][, pkg2...]: /path"
  while IFS= read -r line; do
    pkg=${line%%[:, ]*}
    lib_pkg[${line##*: }]=$pkg
  done < <(dpkg -S "${cands[@]}" 2>/dev/null | grep ': /')
  for f in "$@"; do
    for c in "$f" "$(readlink -f "$f")"; do
      for x in "$c" "${c#/usr}" "/usr$c"; do
        if [[ -n ${lib_pkg[$x]:-} ]]; then lib_pkg[$f]=${lib_pkg[$x]}; continue 3; fi
      done
    done
  done
}
pkg_of_lib() { [[ -n ${lib_pkg[$1]:-} ]] && echo "${lib_pkg[$1]}"; }
deps_closure() { # the packages named and everything they depend on, recursively
  # shellcheck disable=SC2086 # one package per word
  apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances $1 2>/dev/null |
    sed -n -e 's/^\([a-z0-9][^ :]*\).*/\1/p' -e 's/^ *\(Pre\)\{0,1\}Depends: <\{0,1\}\([^ :>]*\).*/\2/p' |
    sort -u
}
if [[ -z $ctxd ]]; then
  skip "runtime packages cover the libraries ctxd links" "no built ctxd given (--ctxd BIN)"
elif ((!debian12)); then
  skip "runtime packages cover the libraries ctxd links" "this machine is not Debian 12 (dpkg -S would name other packages)"
elif [[ ! -x $ctxd ]]; then
  fail "runtime packages cover the libraries ctxd links" "$ctxd is not an executable"
elif ! command -v readelf >/dev/null || ! command -v ldd >/dev/null; then
  skip "runtime packages cover the libraries ctxd links" "readelf or ldd is missing (binutils, libc-bin)"
else
  mapfile -t libpaths < <(ldd "$ctxd" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }')
  map_libs "${libpaths[@]}"
  closure=$(deps_closure "$runtime_pkgs")
  # what every debian:12-slim holds: the Essential packages, apt, and their dependencies
  base=$(deps_closure "apt $(dpkg-query -W -f '${Package} ${Essential}\n' | awk '$2 == "yes" { print $1 }')")
  # the libraries the binary names itself (DT_NEEDED) must come from a listed package
  # (or the base image): relying on another package's dependency would break silently
  while read -r lib; do
    path=$(ldd "$ctxd" | awk -v l="$lib" '$1 == l && $2 == "=>" { print $3 }')
    if [[ -z $path ]]; then note "$lib: ldd does not find it on this machine"; continue; fi
    pkg=$(pkg_of_lib "$path") || { note "$lib ($path): no Debian package ships it"; continue; }
    grep -qxF "$pkg" <<<"$runtime_pkgs" || grep -qxF "$pkg" <<<"$base" ||
      note "$lib comes from $pkg, which the runtime stage does not install"
  done < <(readelf -d "$ctxd" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  # every library loaded in the end (ldd) comes from a listed package or its dependencies
  while read -r lib path; do
    pkg=$(pkg_of_lib "$path") || { note "$lib ($path): no Debian package ships it"; continue; }
    grep -qxF "$pkg" <<<"$closure" || grep -qxF "$pkg" <<<"$base" ||
      note "$lib comes from $pkg, which no runtime package depends on"
  done < <(ldd "$ctxd" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }')
  rule "runtime packages cover the libraries ctxd links (readelf NEEDED, ldd, dpkg -S)"
fi

# ---- compose.yaml ----------------------------------------------------------------------
py=$(command -v python3 || true)
if [[ -z $py ]]; then
  skip "compose.yaml" "python3 is missing"
  if ! grep -qE '^\s+ctxd:' "$compose" || ! grep -qE '^\s+postgres:' "$compose"; then
    note "services ctxd and postgres not found"
  fi
  rule "compose.yaml names the services ctxd and postgres (grep)"
else
  if ! "$py" - "$compose" "$yaml" <<'PY'
import re, sys

path, mode = sys.argv[1], sys.argv[2]
failed = 0


def rule(name, problems):
    global failed
    if not problems:
        print("PASS  compose: " + name)
    for p in problems:
        print("FAIL  compose: %s: %s" % (name, p))
        failed += 1


def scalar(s):
    s = s.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        return s[1:-1]
    if s.startswith("[") and s.endswith("]"):
        return [scalar(x) for x in re.findall(r'"[^"]*"|\'[^\']*\'|[^,\s][^,]*', s[1:-1])]
    return None if s in ("", "~", "null") else s


def strip_comment(line):
    out, q = "", None
    for i, ch in enumerate(line):
        if q:
            q = None if ch == q else q
        elif ch in "'\"":
            q = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            break
        out += ch
    return out.rstrip()


def mini_yaml(text):
    """Block mappings and sequences, flow lists, quoted scalars: what compose.yaml uses."""
    lines = []
    for raw in text.splitlines():
        s = strip_comment(raw)
        if s.strip():
            if "\t" in s[: len(s) - len(s.lstrip())]:
                raise ValueError("tab in indentation: " + raw)
            lines.append((len(s) - len(s.lstrip()), s.strip()))
    pos = 0

    def block(ind):
        nonlocal pos
        if lines[pos][1].startswith("- ") or lines[pos][1] == "-":
            out = []
            while pos < len(lines) and lines[pos][0] == ind and lines[pos][1].startswith("-"):
                item = lines[pos][1][1:].strip()
                if re.match(r"^[\w.-]+:(\s|$)", item):  # "- key: value" starts a mapping
                    lines[pos] = (ind + 2, item)
                    out.append(block(ind + 2))
                else:
                    pos += 1
                    out.append(scalar(item))
            return out
        out = {}
        while pos < len(lines) and lines[pos][0] == ind:
            m = re.match(r"^(\"[^\"]*\"|'[^']*'|[^:]+):(\s+(.*))?$", lines[pos][1])
            if not m:
                raise ValueError("cannot read line: " + lines[pos][1])
            key, val = scalar(m.group(1)), m.group(3)
            pos += 1
            if val is None or val == "":
                if pos < len(lines) and lines[pos][0] > ind:
                    out[key] = block(lines[pos][0])
                elif pos < len(lines) and lines[pos][0] == ind and lines[pos][1].startswith("-"):
                    out[key] = block(ind)
                else:
                    out[key] = None
            elif val[0] in "|>&*!{":
                raise ValueError("unsupported YAML (%s) without PyYAML: %s" % (val[0], lines[pos - 1][1]))
            else:
                out[key] = scalar(val)
        return out

    doc = block(lines[0][0]) if lines else {}
    if pos != len(lines):
        raise ValueError("cannot read line: " + lines[pos][1])
    return doc


text = open(path, encoding="utf-8").read()
how = "mini parser"
try:
    if mode == "no":
        raise ImportError
    import yaml

    doc, how = yaml.safe_load(text), "PyYAML"
except ImportError:
    try:
        doc = mini_yaml(text)
    except ValueError as e:
        rule("parse (" + how + ")", [str(e)])
        sys.exit(1)
if not isinstance(doc, dict):
    rule("parse (" + how + ")", ["the top level is not a mapping"])
    sys.exit(1)
print("PASS  compose: parse (" + how + ")")
services = doc.get("services") or {}
rule("services ctxd and postgres", ["no service " + s for s in ("ctxd", "postgres") if s not in services])


def env_of(svc):
    env = (svc or {}).get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env)
    return {k: ("" if v is None else str(v)) for k, v in env.items()}


ref = re.compile(r"^(\$\{[^}]+\})+$")
probs = []
for name, svc in services.items():
    for k, v in env_of(svc).items():
        if re.search(r"PASSWORD|SECRET|TOKEN|(^|_)KEY$", k, re.I) and v and not ref.match(v):
            probs.append("%s: %s is written in the file (use ${%s} from .env)" % (name, k, k))
        m = re.search(r"://[^/@:]*:([^@]*)@", v)
        if m and not ref.match(m.group(1)):
            probs.append("%s: %s holds a literal password (use ${...})" % (name, k))
rule("no secret written in the file", probs)

probs = []
for name, svc in services.items():
    if (svc or {}).get("network_mode") == "host":
        probs.append(name + ": network_mode host publishes every port on every address")
    for p in (svc or {}).get("ports") or []:
        if isinstance(p, dict):
            ip = p.get("host_ip") or ""
        else:
            p = re.sub(r"\$\{[^}:]*:?-([^}]*)\}", r"\1", str(p))  # ${VAR:-default}
            ip = p.rsplit(":", 2)[0] if p.count(":") >= 2 and not p.startswith("[") else ""
            if p.startswith("["):
                ip = p[: p.index("]") + 1]
        if ip not in ("127.0.0.1", "[::1]", "::1"):
            probs.append("%s: port %s is published on %s" % (name, p, ip or "every address"))
rule("published ports bound to loopback", probs)

probs = []
for name, svc in services.items():
    hc = (svc or {}).get("healthcheck") or {}
    if not hc.get("test") or hc.get("disable"):
        probs.append(name + " has no healthcheck")
pg = (services.get("postgres") or {}).get("healthcheck") or {}
if "pg_isready" not in str(pg.get("test")):
    probs.append("the postgres healthcheck does not run pg_isready")
rule("healthchecks (postgres: pg_isready)", probs)

ctxd = services.get("ctxd") or {}
dep = ctxd.get("depends_on") or {}
cond = dep.get("postgres", {}).get("condition") if isinstance(dep, dict) else None
rule("ctxd waits for a healthy postgres",
     [] if cond == "service_healthy" else ["depends_on postgres condition is %s, not service_healthy" % cond])

url = env_of(ctxd).get("DATABASE_URL", "")
m = re.match(r"^postgres(ql)?://[^@/]*@([^:/?]+)", url)
rule("ctxd's DATABASE_URL points at the postgres service",
     [] if m and m.group(2) == "postgres" else ["DATABASE_URL is '%s'" % re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)])

probs = []
for name, svc in services.items():
    img = str((svc or {}).get("image") or "")
    if "build" in (svc or {}):
        continue
    last = img.rsplit("/", 1)[-1]
    if not img or ("@sha256:" not in img and (":" not in last or last.endswith(":latest"))):
        probs.append("%s: image '%s' is not pinned to a tag" % (name, img))
rule("images pinned to a tag (not latest)", probs)

rule("ctxd reads its keys from an env file",
     [] if ctxd.get("env_file") else ["ctxd has no env_file (API_KEY, JWT_SECRET_KEY)"])
sys.exit(1 if failed else 0)
PY
  then
    failed=$((failed + 1))
  fi
fi

if ((failed > 0)); then
  echo "check-docker: $failed check(s) failed"
  exit 1
fi
echo "check-docker: all checks passed"
