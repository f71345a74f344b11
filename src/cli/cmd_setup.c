/* cli/cmd_setup.c — `ctxd setup [--file PATH] [--force]`: writes a .env (default
 * ./.env) holding a fresh API_KEY and JWT_SECRET_KEY (32 random bytes from the OS
 * CSPRNG each, base64url), mode 0600, creating the file when missing and keeping every
 * other line as it was. Existing non-empty keys are kept (and reported as kept) unless
 * --force rotates them. The file is replaced atomically (temp file + rename).
 * Must not: print a key's value (only which keys were written or kept); loosen the
 * file's mode; drop or reorder the file's other lines. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/ids.h"
#include "base/sbuf.h"
#include "cli/cli.h"

static void setup_usage(FILE *f)
{
    fputs("Usage: ctxd setup [--file PATH] [--force]\n"
          "\n"
          "Writes API_KEY and JWT_SECRET_KEY (fresh random values) to ./.env (or PATH),\n"
          "mode 0600. Keys already set in the file are kept unless --force is given;\n"
          "other lines are preserved. Values are never printed: see `ctxd client-config`\n"
          "for the snippet that connects a client.\n",
          f);
}

static char *fresh_secret(void)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char r[33];
    ids_random(r, sizeof r);
    char *out = xmalloc(45);
    size_t o = 0;
    for (size_t i = 0; i < sizeof r; i += 3) {
        unsigned v = (unsigned)r[i] << 16 | (unsigned)r[i + 1] << 8 | r[i + 2];
        out[o++] = a[(v >> 18) & 63];
        out[o++] = a[(v >> 12) & 63];
        out[o++] = a[(v >> 6) & 63];
        out[o++] = a[v & 63];
    }
    out[o] = '\0';
    return out; /* 44 characters, 264 random bits */
}

/* When line assigns NAME (optionally after `export`), returns the value start. */
static const char *assigns(const char *line, size_t len, const char *name)
{
    const char *p = line, *end = line + len;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if ((size_t)(end - p) > 7 && strncmp(p, "export ", 7) == 0)
        p += 7;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    size_t n = strlen(name);
    if ((size_t)(end - p) < n || strncmp(p, name, n) != 0)
        return NULL;
    p += n;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p < end && *p == '=' ? p + 1 : NULL;
}

static bool value_empty(const char *v, const char *end)
{
    for (; v < end; v++)
        if (*v != ' ' && *v != '\t' && *v != '\r' && *v != '"' && *v != '\'')
            return false;
    return true;
}

int cmd_setup(cli_ctx *ctx, int argc, char **argv)
{
    (void)ctx;
    const char *path = ".env";
    bool force = false;
    const cli_opt opts[] = {{.name = "--force", .flag = &force}, {.name = "--file", .text = &path}};
    int rc = cli_parse_args("setup", argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0,
                            setup_usage);
    if (rc != CLI_RUN)
        return rc;
    sbuf_t old = SBUF_INIT;
    FILE *f = fopen(path, "rb");
    if (f) {
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0)
            sbuf_append(&old, buf, n);
        bool bad = ferror(f);
        fclose(f);
        if (bad) {
            cli_error("setup: reading %s failed", path);
            sbuf_free(&old);
            return CLI_FAIL;
        }
    } else if (errno != ENOENT) {
        cli_error("setup: %s: %s", path, strerror(errno));
        return CLI_FAIL;
    }

    static const char *const names[] = {"API_KEY", "JWT_SECRET_KEY"};
    bool kept[2] = {false, false}, written[2] = {false, false};
    sbuf_t out = SBUF_INIT;
    const char *p = sbuf_cstr(&old), *end = p + old.len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        int which = -1;
        const char *v = NULL;
        for (int k = 0; k < 2 && which < 0; k++)
            if ((v = assigns(p, (size_t)(le - p), names[k])))
                which = k;
        if (which >= 0 && !force && !value_empty(v, le) && !written[which]) {
            kept[which] = true;
            sbuf_append(&out, p, (size_t)(le - p));
            sbuf_putc(&out, '\n');
        } else if (which >= 0) {
            if (!written[which] && !kept[which]) { /* replace the first assignment, drop repeats */
                char *s = fresh_secret();
                sbuf_printf(&out, "%s=%s\n", names[which], s);
                free(s);
                written[which] = true;
            }
        } else {
            sbuf_append(&out, p, (size_t)(le - p));
            if (nl)
                sbuf_putc(&out, '\n');
        }
        p = nl ? nl + 1 : end;
    }
    if (out.len && sbuf_cstr(&out)[out.len - 1] != '\n')
        sbuf_putc(&out, '\n');
    for (int k = 0; k < 2; k++) {
        if (!kept[k] && !written[k]) {
            char *s = fresh_secret();
            sbuf_printf(&out, "%s=%s\n", names[k], s);
            free(s);
            written[k] = true;
        }
    }
    sbuf_free(&old);

    sbuf_t tmp = SBUF_INIT;
    sbuf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(sbuf_cstr(&tmp), O_WRONLY | O_CREAT | O_EXCL | O_TRUNC, 0600);
    rc = CLI_OK;
    if (fd < 0) {
        cli_error("setup: creating %s: %s", sbuf_cstr(&tmp), strerror(errno));
        rc = CLI_FAIL;
    } else {
        size_t off = 0;
        const char *d = sbuf_cstr(&out);
        while (off < out.len) {
            ssize_t w = write(fd, d + off, out.len - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        bool ok = off == out.len && fchmod(fd, 0600) == 0 && fsync(fd) == 0;
        ok = close(fd) == 0 && ok;
        if (!ok || rename(sbuf_cstr(&tmp), path) != 0) {
            cli_error("setup: writing %s: %s", path, strerror(errno));
            unlink(sbuf_cstr(&tmp));
            rc = CLI_FAIL;
        }
    }
    sbuf_free(&tmp);
    sbuf_free(&out);
    if (rc != CLI_OK)
        return rc;
    printf("wrote %s (mode 0600)\n", path);
    for (int k = 0; k < 2; k++)
        printf("  %s: %s\n", names[k],
               kept[k] ? "kept the existing value (use --force to rotate)"
               : force ? "new random value (rotated)"
                       : "new random value");
    printf("next: `ctxd serve`, then `ctxd client-config "
           "<claude|cursor|vscode|gemini|windsurf|claude-desktop>`\n");
    return CLI_OK;
}
