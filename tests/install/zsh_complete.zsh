# tests/install/zsh_complete.zsh — drives zsh's completion of one command line in an
# interactive zsh on a pseudo-terminal (zsh/zpty) and prints what zsh lists, so that
# test_install.sh can check the _ctxd completion as a user sees it.
# usage: zsh -f zsh_complete.zsh COMPLETION_DIR WORK_DIR 'ctxd migrate '
# Must not: read the user's zsh start-up files or wait on a timer (it reads up to a marker).
zmodload zsh/zpty || exit 77
zpty z zsh -f -i
zpty -w z "PROMPT='> '; fpath=(${(q)1} \$fpath); autoload -U compinit; compinit -u -D; cd ${(q)2}"
# ctxd itself is a function doing nothing here: the completed line is then run harmlessly
zpty -w z "zstyle ':completion:*' format 'GROUP:%d'; LISTMAX=0; setopt nolistambiguous; ctxd() { :; }"
zpty -w z "$3"$'\t'
# the marker is quoted apart in what is typed, so only the command's output matches it
zpty -w z "print END''MARK"
local out
zpty -r z out '*ENDMARK*'
zpty -d z
print -r -- "${out//$'\r'/}"
