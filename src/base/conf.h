/* base/conf.h — configuration: built-in defaults, then a `.env` file in the working
 * directory, then the process environment, then command-line flags (each later
 * source wins). Every known variable is declared once in conf.c with its type,
 * range and help text; validation errors name the variable and its source.
 * Must not: print secret values (API_KEY, JWT_SECRET_KEY, passwords in URLs). */
#ifndef CTXD_BASE_CONF_H
#define CTXD_BASE_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include "base/err.h"

typedef enum conf_src {
    CONF_SRC_UNSET = 0, /* no value anywhere (and no default) */
    CONF_SRC_DEFAULT,
    CONF_SRC_DOTENV,
    CONF_SRC_ENV,
    CONF_SRC_FLAG
} conf_src;

typedef enum conf_type {
    CONF_STRING,
    CONF_INT,
    CONF_BOOL,
    CONF_ENUM,
    CONF_URL,
    CONF_SECRET,
    CONF_LIST /* names from choices, separated by commas (white space around them ignored) */
} conf_type;

typedef struct conf_var {
    const char *name; /* "DB_POOL_SIZE" */
    conf_type type;
    const char *def;     /* default as text, or NULL */
    long min, max;       /* CONF_INT range */
    const char *choices; /* CONF_ENUM, CONF_LIST: "sqlite|postgresql|mysql|mongodb|supabase" */
    const char *help;    /* one line for --help */
} conf_var;

typedef struct conf conf_t;

/* Loads defaults, then dotenv_path (NULL = "./.env"; a missing file is fine, an
 * unreadable or malformed one is ERR_INVALID naming file and line), then environ. */
err_code conf_load(conf_t **out, const char *dotenv_path, err_t *e);
void conf_free(conf_t *c);
/* A command-line override (source CONF_SRC_FLAG). Unknown name -> ERR_INVALID. */
err_code conf_set(conf_t *c, const char *name, const char *value, conf_src src, err_t *e);

const char *conf_get(const conf_t *c, const char *name); /* NULL if unset */
conf_src conf_source(const conf_t *c, const char *name);
const char *conf_src_name(conf_src s); /* "default", ".env", "environment", "flag" */
/* Typed getters: ERR_INVALID "DB_POOL_SIZE=abc (from environment): expected an
 * integer between 1 and 1000". When unset and no default, *out = def. */
err_code conf_get_int(const conf_t *c, const char *name, long def, long *out, err_t *e);
err_code conf_get_bool(const conf_t *c, const char *name, bool def, bool *out, err_t *e);
/* Validates every set variable against its declaration (type, range, choices). */
err_code conf_validate(const conf_t *c, err_t *e);

/* --- additions (storage core) ------------------------------------------------ */
/* A configuration holding only the built-in defaults (no .env, no environment):
 * for tests and tools that set every value themselves with conf_set. */
conf_t *conf_defaults(void);
/* conf_set(..., CONF_SRC_FLAG) that remembers how the flag was spelled ("--port"),
 * so messages say "(from --port)". Without it a flag is named "--http-port". */
err_code conf_set_flag(conf_t *c, const char *name, const char *value, const char *flag, err_t *e);
/* Where the value came from, for messages: "default", ".env", "environment",
 * "--db-pool-size"; NULL when unset. */
const char *conf_source_label(const conf_t *c, const char *name);
/* CONF_ENUM variables: the canonical choice (case-insensitive, aliases resolved:
 * "Postgres" -> "postgresql", "mariadb" -> "mysql", "WARN" -> "warning"); a static
 * string. *out = NULL when unset. ERR_INVALID naming variable, source and choices. */
err_code conf_get_enum(const conf_t *c, const char *name, const char **out, err_t *e);
/* The value as it may be shown: "(hidden)" for secrets, URLs with the password
 * masked, else the value. NULL when unset. Caller frees. */
char *conf_display(const conf_t *c, const char *name);

/* The declaration table (for --help and `ctxd db url`). */
const conf_var *conf_vars(size_t *count);
const conf_var *conf_var_find(const char *name);

#endif
