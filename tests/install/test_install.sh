#!/usr/bin/env bash
# tests/install/test_install.sh — `cmake --install` as a user or a packager runs it: every
# file lands where docs/install.md says; the man page renders without warnings and
# describes every command, subcommand and option `ctxd --help` lists; the bash completion
# (driven as bash drives it) and the zsh completion offer them; the systemd unit passes
# `systemd-analyze verify`, keeps its sandbox and runs as the sysusers.d user; the example
# environment file is true to docs/configuration.md and, once `ctxd setup` filled its
# keys, is enough for `ctxd serve`.
# usage: test_install.sh CTXD BUILD_DIR SOURCE_DIR CMAKE
# Must not: install anywhere but its scratch directory, or need root (a few checks that
# do are replaced by weaker ones, said so on stderr).
# The conditions given to check are eval'd later, hence single-quoted (SC2016); RC, OUT
# and ERR are read by lib.sh's check (SC2034); same_set is called through check (SC2317).
# shellcheck disable=SC2016,SC2034,SC2317
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/cli/lib.sh
source "$HERE/../cli/lib.sh"
BUILD=$(realpath "${2:?usage: $0 CTXD BUILD_DIR SOURCE_DIR CMAKE}")
SRC=$(realpath "${3:?}")
CMAKE=${4:-cmake}
MISSING=() # tools a check needed and did not find: the test is then skipped (77)
have() {
    command -v "$1" >/dev/null 2>&1 && return 0
    echo "note: $1 is not installed; the checks that need it did not run" >&2
    MISSING+=("$1")
    return 1
}
lines_of() { tr ' ' '\n' <<<"$1" | grep . | sort -u; }
same_set() { [[ "$(lines_of "$1")" == "$(lines_of "$2")" ]]; }
missing_from() { comm -23 <(lines_of "$1") <(lines_of "$2") | tr '\n' ' '; } # in $1, not $2

# ---- what `ctxd --help` and `ctxd <command> --help` list ---------------------------
HELP=$("$CTXD" --help)
COMMANDS=$(sed -n '/^Commands:/,/^$/p' <<<"$HELP" | sed -nE 's/^  ([a-z][a-z-]*)( .*)?$/\1/p')
GLOBALS=$(sed -n '/^Global options/,/^$/p' <<<"$HELP" | sed -nE 's/^  (-h, )?(--[a-z-]+).*/\2/p')
DB_TYPES=$(sed -nE 's/^  --database-type TYPE +([a-z|]+) .*/\1/p' <<<"$HELP" | tr '|' ' ')
LOG_LEVELS=$(sed -nE 's/^  --log-level LEVEL +([a-z|]+) .*/\1/p' <<<"$HELP" | tr '|' ' ')
# usage_lines CMD: one line per form of the command's Usage block (continuations joined)
usage_lines() {
    "$CTXD" "$1" --help | sed -n '1,/^$/p' | sed 's/^Usage: //' |
        awk '/^ *ctxd /{ if (l != "") print l; sub(/^ */, ""); l = $0; next }
             NF { sub(/^ */, " "); l = l $0 } END { if (l != "") print l }'
}
# subcommands CMD: the words of <a|b|c N> in the usage, and literal words after the command
# (a <client> placeholder stands for the list on the usage's "Clients:" line)
subcommands() {
    usage_lines "$1" | sed -nE 's/.*<([^>]*)>.*/\1/p' | tr '|' '\n' | awk '{ print $1 }' |
        while read -r w; do
            if [[ $w == client ]]; then
                "$CTXD" "$1" --help | sed -nE 's/^Clients: (.*)\.$/\1/p' | tr -d ',' | tr ' ' '\n'
            else
                echo "$w"
            fi
        done
    usage_lines "$1" | awk '$3 ~ /^[a-z]+$/ { print $3 }'
}
N_COMMANDS=$(wc -w <<<"$COMMANDS")
RC=0 OUT="$COMMANDS" ERR=""
check "ctxd --help lists the commands and global options" \
    eval '((N_COMMANDS >= 9)) && grep -qx serve <<<"$COMMANDS" && grep -qx -- --env-file <<<"$GLOBALS" && [[ -n $DB_TYPES && -n $LOG_LEVELS ]]'
RC=0 OUT="$(subcommands migrate; subcommands agent)"
check "the usage of migrate and agent lists their subcommands" \
    eval 'same_set "$OUT" "status up down to add list revoke rotate"'

# ---- cmake --install: every file where it belongs ----------------------------------
P=$T/prefix
run "$CMAKE" --install "$BUILD" --prefix "$P"
check "cmake --install --prefix succeeds" rc_is 0
DOCS=$(cd "$SRC/docs" && find . -maxdepth 1 -name '*.md' | sed 's|^\./|share/doc/ctxd/|')
EXPECTED="bin/ctxd share/man/man1/ctxd.1 lib/systemd/system/ctxd.service
lib/sysusers.d/ctxd.conf share/bash-completion/completions/ctxd
share/zsh/vendor-completions/_ctxd share/doc/ctxd/ctxd.env.example share/doc/ctxd/README.md
$DOCS"
for l in LICENSE LICENSE.md LICENSE.txt COPYING; do
    [[ -f $SRC/$l ]] && EXPECTED+=" share/doc/ctxd/$l"
done
INSTALLED=$(cd "$P" && find . -type f | sed 's|^\./||')
RC=0 OUT="$INSTALLED"
check "exactly the documented files are installed (missing: $(missing_from "$EXPECTED" "$INSTALLED"); unexpected: $(missing_from "$INSTALLED" "$EXPECTED"))" \
    same_set "$INSTALLED" "$EXPECTED"
for f in bin/ctxd lib/systemd/system/ctxd.service lib/sysusers.d/ctxd.conf \
    share/man/man1/ctxd.1 share/bash-completion/completions/ctxd \
    share/zsh/vendor-completions/_ctxd share/doc/ctxd/ctxd.env.example; do
    check "docs/install.md names $f" grep -qF -- "$f" "$SRC/docs/install.md"
done
run "$P/bin/ctxd" --version
check "the installed ctxd runs" eval 'rc_is 0 && [[ $OUT == "$("$CTXD" --version)" ]]'
UNIT=$P/lib/systemd/system/ctxd.service
check "the unit's ExecStart is the installed binary" grep -qx "ExecStart=$P/bin/ctxd serve" "$UNIT"
check "the unit has no @VARIABLE@ left" eval '! grep -q "@[A-Z_]*@" "$UNIT"'
check "install_manifest.txt lists the unit (so uninstalling finds it)" \
    grep -qx "$UNIT" "$BUILD/install_manifest.txt"
# a packager's install: DESTDIR, the /usr prefix, nothing outside the staging directory
run env DESTDIR="$T/stage" "$CMAKE" --install "$BUILD" --prefix /usr
check "DESTDIR=... cmake --install --prefix /usr succeeds" rc_is 0
check "with DESTDIR everything lands under DESTDIR/usr" \
    eval '[[ $(ls -A "$T/stage") == usr && -x $T/stage/usr/bin/ctxd && -f $T/stage/usr/share/man/man1/ctxd.1 ]]'
check "with DESTDIR the unit runs /usr/bin/ctxd" \
    grep -qx "ExecStart=/usr/bin/ctxd serve" "$T/stage/usr/lib/systemd/system/ctxd.service"

# ---- the man page ------------------------------------------------------------------
MAN=$P/share/man/man1/ctxd.1
if have groff; then
    run groff -man -ww -z "$MAN"
    check "the man page renders without a warning" eval 'rc_is 0 && [[ -z $ERR ]]'
    TEXT=$(groff -man -Tascii -P-cbou "$MAN" 2>/dev/null)
    section() { sed -n "/^$1\$/,/^[A-Z][A-Z ]*\$/p" <<<"$TEXT" | sed '$d'; }
    for s in NAME SYNOPSIS DESCRIPTION COMMANDS "GLOBAL OPTIONS" ENVIRONMENT FILES \
        "EXIT STATUS" EXAMPLES "SEE ALSO"; do
        check "the man page has the section $s" grep -qx "$s" <<<"$TEXT"
    done
    MCMDS=$(section COMMANDS)
    for c in $COMMANDS; do
        check "the man page has an entry for ctxd $c" grep -qE "^       $c( |\$)" <<<"$MCMDS"
        for w in $(subcommands "$c") $(usage_lines "$c" | grep -oE -- '--[a-z-]+'); do
            check "the man page's entry for $c names $w" grep -qwF -- "$w" <<<"$MCMDS"
        done
    done
    for g in $GLOBALS; do
        check "the man page's GLOBAL OPTIONS has $g" \
            grep -qE -- "^       (-h, )?$g( |\$)" <<<"$(section "GLOBAL OPTIONS")"
    done
    for f in /etc/ctxd/ctxd.env ./.env ./chat_history.db; do
        check "the man page's FILES names $f" grep -qF -- "$f" <<<"$(section FILES)"
    done
    check "the man page's EXIT STATUS has 0, 1 and 2" \
        eval '[[ $(section "EXIT STATUS" | grep -cE "^       [012] ") -eq 3 ]]'
fi

# ---- bash completion, driven as bash drives it -------------------------------------
# shellcheck source=dist/completion/ctxd.bash
source "$P/share/bash-completion/completions/ctxd"
check "the bash completion is registered for ctxd" eval '[[ $(complete -p ctxd) == *"-F _ctxd"* ]]'
complete_words() { # complete_words WORD...: the last word is completed; sets RC, OUT
    COMP_WORDS=("$@")
    COMP_CWORD=$(($# - 1))
    COMP_LINE="$*"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    _ctxd 2>"$T/.err"
    RC=$? OUT="${COMPREPLY[*]}" ERR=$(cat "$T/.err")
}
complete_words ctxd ""
check "bash: ctxd <TAB> offers exactly the commands of ctxd --help" same_set "$OUT" "$COMMANDS"
complete_words ctxd --
check "bash: ctxd --<TAB> offers every global option (missing: $(missing_from "$GLOBALS" "$OUT"))" \
    eval '[[ -z $(missing_from "$GLOBALS" "$OUT") ]]'
complete_words ctxd --pool-size 4 --log-level=debug migrate ""
check "bash: ctxd [global options] migrate <TAB> offers status up down to" \
    same_set "$OUT" "$(subcommands migrate)"
for c in $COMMANDS; do
    subs=$(subcommands "$c")
    if [[ -n $subs ]]; then
        complete_words ctxd "$c" ""
        check "bash: ctxd $c <TAB> offers its subcommands" same_set "$OUT" "$subs"
    fi
    while read -r line; do
        read -ra w <<<"$line"
        words=(ctxd "$c")
        [[ ${w[2]-} =~ ^[a-z]+$ ]] && words+=("${w[2]}")
        opts=$(grep -oE -- '--[a-z-]+' <<<"$line")
        [[ -n $opts ]] || continue
        complete_words "${words[@]}" --
        check "bash: ${words[*]} --<TAB> offers $(tr '\n' ' ' <<<"$opts")" \
            eval '[[ -z $(missing_from "$opts" "$OUT") ]]'
    done < <(usage_lines "$c")
done
complete_words ctxd --database-type ""
check "bash: --database-type <TAB> offers the types of ctxd --help" same_set "$OUT" "$DB_TYPES"
complete_words ctxd --log-level ""
check "bash: --log-level <TAB> offers the levels of ctxd --help" \
    eval '[[ -z $(missing_from "$LOG_LEVELS" "$OUT") ]]'
VARS=$(grep -oE '^\| `[A-Z_]+` \|' "$SRC/docs/configuration.md" | sed -E 's/^\| `([A-Z_]+)`.*/\1=/')
complete_words ctxd --set ""
check "bash: --set <TAB> offers every variable of docs/configuration.md as NAME=" same_set "$OUT" "$VARS"
complete_words ctxd agent add bob --permissions read,w
check "bash: --permissions read,w<TAB> completes the list" eval '[[ $OUT == read,write ]]'
mkdir -p "$T/files" && cd "$T/files" && touch site.env dump.jsonl || exit 1
complete_words ctxd --env-file si
check "bash: --env-file <TAB> completes file names" eval '[[ $OUT == site.env ]]'
complete_words ctxd --env-file = si
check "bash: --env-file=<TAB> completes file names" eval '[[ $OUT == site.env ]]'
complete_words ctxd setup --file s
check "bash: setup --file <TAB> completes file names" eval '[[ $OUT == site.env ]]'
complete_words ctxd import d
check "bash: import <TAB> completes file names" eval '[[ $OUT == dump.jsonl ]]'
complete_words ctxd export --out d
check "bash: export --out <TAB> completes file names" eval '[[ $OUT == dump.jsonl ]]'
cd "$T" || exit 1

# ---- zsh completion ----------------------------------------------------------------
ZSH_FILE=$P/share/zsh/vendor-completions/_ctxd
for c in $COMMANDS; do
    check "zsh: _ctxd describes the command $c" grep -qF "'$c:" "$ZSH_FILE"
    for o in $(usage_lines "$c" | grep -oE -- '--[a-z-]+'); do
        check "zsh: _ctxd has $c's option $o" grep -qE -- "'$o(=?\\[)" "$ZSH_FILE"
    done
done
for g in $GLOBALS; do
    check "zsh: _ctxd has the global option $g" grep -qE -- "[{,')*]$g(=?[],}[])" "$ZSH_FILE"
done
if command -v zsh >/dev/null 2>&1; then
    run zsh -n "$ZSH_FILE"
    check "zsh -n accepts _ctxd" eval 'rc_is 0 && [[ -z $ERR ]]'
    zsh_lists() { # zsh_lists LINE: the names zsh lists on TAB after LINE (one a line)
        timeout 30 zsh -f "$HERE/zsh_complete.zsh" "$(dirname "$ZSH_FILE")" "$T" "$1" |
            sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g' | sed -nE 's/^([^ #>]+) +-- .*/\1/p'
    }
    RC=0 OUT=$(zsh_lists "ctxd ")
    check "zsh: ctxd <TAB> lists exactly the commands of ctxd --help" same_set "$OUT" "$COMMANDS"
    RC=0 OUT=$(zsh_lists "ctxd --pool-size 4 migrate ")
    check "zsh: ctxd migrate <TAB> lists status up down to" same_set "$OUT" "$(subcommands migrate)"
    RC=0 OUT=$(zsh_lists "ctxd serve --")
    check "zsh: ctxd serve --<TAB> lists serve's options" \
        eval '[[ -z $(missing_from "$(usage_lines serve | grep -oE -- "--[a-z-]+")" "$OUT") ]]'
else
    echo "note: zsh is not installed; the zsh completion was only checked as text" >&2
fi

# ---- the systemd unit --------------------------------------------------------------
for kv in "User=ctxd" "Group=ctxd" "StateDirectory=ctxd" "WorkingDirectory=/var/lib/ctxd" \
    "Environment=DATABASE_PATH=/var/lib/ctxd/ctxd.db" "EnvironmentFile=-/etc/ctxd/ctxd.env" \
    "ProtectSystem=strict" "ProtectHome=yes" "PrivateTmp=yes" "PrivateDevices=yes" \
    "NoNewPrivileges=yes" "ProtectKernelTunables=yes" "ProtectKernelModules=yes" \
    "ProtectKernelLogs=yes" "ProtectControlGroups=yes" \
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" "CapabilityBoundingSet=" \
    "SystemCallFilter=@system-service" "Restart=on-failure" "WantedBy=multi-user.target"; do
    check "the unit sets $kv" grep -qxF -- "$kv" "$UNIT"
done
check "the unit does not run as root" eval '! grep -qE "^(User=root|DynamicUser=no)" "$UNIT"'
if have systemd-analyze; then
    run systemd-analyze verify --man=no "$UNIT"
    check "systemd-analyze verify finds nothing in the unit" eval 'rc_is 0 && [[ -z $OUT$ERR ]]'
    run systemd-analyze security --offline=yes --threshold=20 "$UNIT"
    check "systemd-analyze security rates the unit's exposure 2.0 or lower" \
        eval 'rc_is 0 && out_has "Overall exposure level"'
    # the user the unit runs as is the one the sysusers.d entry creates
    SYSUSERS=$P/lib/sysusers.d/ctxd.conf
    if [[ $EUID -eq 0 ]] && mkdir -p "$T/root/etc"; then
        run systemd-sysusers --root="$T/root" "$SYSUSERS"
        check "systemd-sysusers creates the user ctxd, home /var/lib/ctxd, no login" \
            eval 'rc_is 0 && grep -qE "^ctxd:x:[0-9]+:[0-9]+:[^:]*:/var/lib/ctxd:.*nologin$" "$T/root/etc/passwd" && grep -q "^ctxd:" "$T/root/etc/group"'
    else
        echo "note: not root; the sysusers.d entry was only checked as text" >&2
        check "the sysusers.d entry creates the user ctxd with home /var/lib/ctxd" \
            grep -qE '^u ctxd - "[^"]+" /var/lib/ctxd$' "$SYSUSERS"
    fi
fi

# ---- the example environment file --------------------------------------------------
EXAMPLE=$P/share/doc/ctxd/ctxd.env.example
DOC_VARS=${VARS//=/}
# a line both ctxd and systemd's EnvironmentFile= read alike: no quote, blank or escape
RC=0 OUT=$(grep -vE '^(#.*)?$' "$EXAMPLE" | grep -vE '^[A-Z_]+=[A-Za-z0-9_./:,*@%+-]*$')
check "every setting of the example is a plain NAME=VALUE line" eval '[[ -z $OUT ]]'
RC=0 OUT=$(sed -nE 's/^#?([A-Z_]+)=.*/\1/p' "$EXAMPLE")
check "every variable the example names is in docs/configuration.md (not: $(missing_from "$OUT" "$DOC_VARS"))" \
    eval '[[ -n $OUT && -z $(missing_from "$OUT" "$DOC_VARS") ]]'
# "#NAME=value" lines show the default: docs/configuration.md's, or the unit's for the path
while IFS='=' read -r name value; do
    if [[ $name == DATABASE_PATH ]]; then
        want=$(sed -n 's/^Environment=DATABASE_PATH=//p' "$UNIT")
    else
        want=$(grep -E "^\| \`$name\` \|" "$SRC/docs/configuration.md" | awk -F'|' '{ print $3 }' |
            sed -nE 's/^ *`([^`]*)`.*/\1/p')
    fi
    check "the example's #$name=$value is the default ($want)" eval '[[ $value == "$want" ]]'
done < <(sed -n 's/^#\([A-Z_]*=\)/\1/p' "$EXAMPLE")
sed -E 's/^#([A-Z_]+=)/\1/' "$EXAMPLE" >"$T/all.env"
run "$CTXD" --env-file "$T/all.env" db url
check "ctxd accepts the example with every #NAME=value line made a setting" \
    eval 'rc_is 0 && out_has "sqlite:////var/lib/ctxd/ctxd.db"'
# the steps docs/install.md gives: copy the example, fill the keys with ctxd setup
cp "$EXAMPLE" "$T/ctxd.env"
run "$CTXD" --database-path "$T/svc.db" --env-file "$T/ctxd.env" serve --stdio </dev/null
check "the example as shipped has no keys: ctxd serve refuses it, naming JWT_SECRET_KEY" \
    eval 'rc_not 0 && err_has JWT_SECRET_KEY'
run "$CTXD" setup --file "$T/ctxd.env"
check "ctxd setup --file fills the example's keys, changes nothing else, mode 0600" \
    eval 'rc_is 0 && [[ $(stat -c %a "$T/ctxd.env") == 600 ]] && grep -qE "^API_KEY=.{32}" "$T/ctxd.env" && grep -qE "^JWT_SECRET_KEY=.{32}" "$T/ctxd.env" && [[ $(diff "$EXAMPLE" "$T/ctxd.env" | grep -c "^[<>]") -eq 4 ]]'
run "$CTXD" --database-path "$T/svc.db" --env-file "$T/ctxd.env" serve --stdio </dev/null
check "with its keys filled the example is enough for ctxd serve" rc_is 0
# as the service runs it: the unit's Environment= lines, then the file
mapfile -t UNIT_ENV < <(sed -n 's/^Environment=//p' "$UNIT")
run env "${UNIT_ENV[@]}" "$CTXD" --env-file "$T/ctxd.env" db url
check "as the service runs it the database is /var/lib/ctxd/ctxd.db" \
    eval 'rc_is 0 && out_has "url:      sqlite:////var/lib/ctxd/ctxd.db"'

if ((${#MISSING[@]})) && ((FAILS == 0)); then
    echo "skipped: ${MISSING[*]} not installed" >&2
    exit 77
fi
finish
