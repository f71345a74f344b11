# ctxd.bash — bash completion for ctxd: commands, subcommands, global options, each
# command's options and their values (files where a file is expected). Installed as
# share/bash-completion/completions/ctxd; works with or without the bash-completion
# package. tests/install/test_install.sh drives it against `ctxd --help`.
# Must not: run ctxd, read a .env file, or define anything but _ctxd* names.
# shellcheck shell=bash

_ctxd_commands="serve setup client-config agent migrate db status copy export import import-scs"
_ctxd_globals="--database-url --database-path --database-type --pool-size --log-level
 --env-file --set --help -h --version"
_ctxd_variables="DATABASE_URL DATABASE_TYPE DATABASE_PATH SUPABASE_URL SUPABASE_DB_PASSWORD
 SUPABASE_REGION DB_POOL_SIZE DB_MAX_OVERFLOW DB_POOL_IDLE_TIMEOUT DB_POOL_TIMEOUT
 DB_POOL_RECYCLE SLOW_QUERY_THRESHOLD_MS ENABLE_QUERY_LOGGING CTXD_AUTO_MIGRATE
 AUDIT_LOG_RETENTION_DAYS MCP_TRANSPORT HTTP_HOST HTTP_PORT HTTP_MAX_CONNECTIONS
 HTTP_MAX_CONNECTIONS_PER_CLIENT HTTP_HEADER_TIMEOUT MCP_WRITE_WORKERS MCP_HEAVY_WORKERS
 LOG_LEVEL API_KEY JWT_SECRET_KEY JWT_TOKEN_EXPIRY PROTECTED_TOKEN_EXPIRY
 PERMISSIONS_CONFIG_FILE RATE_LIMIT_PER_MINUTE RATE_LIMIT_BURST MCP_MAX_SESSIONS
 MCP_MAX_SESSIONS_PER_PEER MCP_MAX_SUBSCRIPTIONS_PER_SESSION MCP_MAX_SUBSCRIPTIONS
 HEAVY_CALLS_PER_AGENT SEARCH_MAX_SCAN_BYTES SEARCH_TIME_BUDGET_MS SEARCH_INDEX_MAX_BYTES
 MAX_RESPONSE_BYTES SHARED_KEY_AGENT_TYPES SHARED_KEY_PERMISSIONS
 ALLOWED_HOSTS ALLOWED_ORIGINS HTTP_TLS_CERT_FILE HTTP_TLS_KEY_FILE LOG_FORMAT"

# _ctxd_valued WORD: whether WORD is an option taking a value as the next argument
_ctxd_valued()
{
    case $1 in
        --database-url | --database-path | --database-type | --pool-size | --log-level | \
            --env-file | --set | --host | --port | --maintenance-interval | --file | --url | -o | \
            --from | --to | --batch | --out | --type | --permissions | --timeout | --cacert)
            return 0
            ;;
    esac
    return 1
}

# _ctxd_words WORDS: the words that begin with the current one
_ctxd_words()
{
    local IFS=$' \t\n'
    # shellcheck disable=SC2207 # the candidates hold no blanks
    COMPREPLY=($(compgen -W "$1" -- "$cur"))
}

# _ctxd_value OPTION: complete the value of OPTION (the text so far is $cur)
_ctxd_value()
{
    local IFS=$' \t\n' head
    case $1 in
        --env-file | --database-path | --file | --out | -o | --cacert)
            compopt -o filenames 2>/dev/null
            IFS=$'\n'
            # shellcheck disable=SC2207 # one name a line
            COMPREPLY=($(compgen -f -- "$cur"))
            ;;
        --database-type) _ctxd_words "sqlite postgresql mysql mongodb supabase" ;;
        --log-level) _ctxd_words "debug info warning error critical" ;;
        --type) _ctxd_words "claude gemini codex cursor copilot qwen windsurf kiro opencode zed cline admin system test generic" ;;
        --permissions)
            head=""
            [[ $cur == *,* ]] && head=${cur%,*},
            # shellcheck disable=SC2207 # the candidates hold no blanks
            COMPREPLY=($(compgen -P "$head" -W "read write admin debug" -- "${cur##*,}"))
            ;;
        --set)
            [[ $cur == *=* ]] && return
            compopt -o nospace 2>/dev/null
            # shellcheck disable=SC2207 # the candidates hold no blanks
            COMPREPLY=($(compgen -S = -W "$_ctxd_variables" -- "$cur"))
            ;;
        *) COMPREPLY=() ;; # a URL, an address or a number: nothing to offer
    esac
}

_ctxd()
{
    local -a words=()
    local i w cword=0 cur prev cmd="" ci=0
    COMPREPLY=()
    # COMP_WORDBREAKS splits "--opt=value" and "scheme://..." at = and :; join them again
    for ((i = 0; i < ${#COMP_WORDS[@]}; i++)); do
        w=${COMP_WORDS[i]}
        if ((i > 0)) && [[ $w == [=:]* || ${COMP_WORDS[i - 1]} == *[=:] ]]; then
            words[${#words[@]} - 1]+=$w
        else
            words+=("$w")
        fi
        ((i == COMP_CWORD)) && cword=$((${#words[@]} - 1))
    done
    cur=${words[cword]}
    prev=""
    ((cword > 0)) && prev=${words[cword - 1]}

    # a value: --opt=VALUE (the line's word after = is what gets replaced) or --opt VALUE
    if [[ $cur == --*=* ]]; then
        local opt=${cur%%=*}
        cur=${cur#*=}
        _ctxd_valued "$opt" && _ctxd_value "$opt"
        return
    fi
    if _ctxd_valued "$prev"; then
        _ctxd_value "$prev"
        return
    fi

    # the command: the first word that is neither a global option nor its value
    for ((i = 1; i < cword; i++)); do
        w=${words[i]}
        if [[ $w != -* ]]; then
            cmd=$w
            ci=$i
            break
        fi
        _ctxd_valued "$w" && ((i++))
    done
    if [[ -z $cmd ]]; then
        if [[ $cur == -* ]]; then _ctxd_words "$_ctxd_globals"; else _ctxd_words "$_ctxd_commands"; fi
        return
    fi

    # the command's arguments before the current word (options and their values left out)
    local -a args=()
    for ((i = ci + 1; i < cword; i++)); do
        w=${words[i]}
        if [[ $w == -* ]]; then
            _ctxd_valued "$w" && ((i++))
        else
            args+=("$w")
        fi
    done

    local opts="--help" positional=""
    case $cmd in
        serve) opts+=" --stdio --host --port --no-migrate --maintenance-interval" ;;
        setup) opts+=" --file --force" ;;
        client-config)
            opts+=" --stdio --url --inline-key --force -o"
            ((${#args[@]} == 0)) && positional="claude claude-desktop cursor vscode gemini windsurf codex qwen kiro copilot zed opencode cline all"
            ;;
        migrate)
            ((${#args[@]} == 0)) && positional="status up down to"
            ;;
        db)
            opts+=" --json"
            ((${#args[@]} == 0)) && positional="check url"
            ;;
        status) opts+=" --url --timeout --cacert --json" ;;
        copy) opts+=" --from --to --batch --dry-run --verify --allow-nonempty --include-tokens" ;;
        export) opts+=" --out --include-tokens" ;;
        import)
            opts+=" --batch --allow-nonempty"
            if ((${#args[@]} == 0)) && [[ $cur != -* ]]; then
                _ctxd_value --file
                [[ -z $cur || $cur == - ]] && COMPREPLY+=(-)
                return
            fi
            ;;
        import-scs)
            opts+=" --dry-run --allow-nonempty --batch"
            if ((${#args[@]} == 0)) && [[ $cur != -* ]]; then
                _ctxd_value --file
                return
            fi
            ;;
        agent)
            case ${args[0]-} in
                "") positional="add list revoke rotate" ;;
                add) opts+=" --type --permissions" ;;
                list) opts+=" --json" ;;
            esac
            ;;
        *) return ;;
    esac
    if [[ $cur == -* ]]; then _ctxd_words "$opts"; else _ctxd_words "$positional"; fi
}

complete -F _ctxd ctxd
