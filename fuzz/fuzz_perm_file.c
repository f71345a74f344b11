/* fuzz/fuzz_perm_file.c — libFuzzer harness for the permissions file loader
 * (auth/perm_file.c, auth_permmap_load): each input is written to a memory file and
 * loaded through its /proc/self/fd path, as PERMISSIONS_CONFIG_FILE would be.
 * Properties: a refused file is ERR_INVALID, leaves *out NULL and names the file; a
 * loaded one is a JSON object whose every agent type maps (also in another letter case)
 * to exactly the permissions it lists, whose "default" is the default, and whose
 * unlisted built-in types keep their built-in permissions.
 * Must not: write anywhere but its own memory file. */
#include "fuzz.h"

#include <ctype.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "auth/perm.h"

static int g_fd = -1;
static char g_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    g_fd = memfd_create("ctxd-fuzz-perm", 0);
    if (g_fd < 0) {
        perror("memfd_create");
        abort();
    }
    snprintf(g_path, sizeof g_path, "/proc/self/fd/%d", g_fd);
    return 0;
}

static auth_perms perms_of(const json_t *arr)
{
    auth_perms p = 0;
    FZ_CHECK(auth_perms_from_json(arr, &p, NULL) == ERR_OK, "a loaded list does not parse");
    return p;
}

static bool listed(const json_t *types, const char *name)
{
    const char *k;
    const json_t *v;
    json_object_foreach ((json_t *)types, k, v)
        if (strcasecmp(k, name) == 0)
            return true;
    return false;
}

static void check_loaded(const uint8_t *data, size_t size, const auth_permmap *m)
{
    json_error_t je;
    json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
    FZ_CHECK(json_is_object(root), "a file that is not a JSON object loaded");
    const json_t *def = json_object_get(root, "default");
    const json_t *types = json_object_get(root, "agent_types");
    FZ_CHECK(json_object_size(root) == (size_t)(def != NULL) + (types != NULL),
             "a file with other keys loaded");
    auth_permmap *builtin = auth_permmap_default();
    auth_perms want_def = def ? perms_of(def) : auth_permmap_default_perms(builtin);
    FZ_CHECK(auth_permmap_default_perms(m) == want_def, "default %#x, file says %#x",
             auth_permmap_default_perms(m), want_def);
    const char *k;
    const json_t *v;
    json_object_foreach ((json_t *)types, k, v) {
        auth_perms want = perms_of(v);
        FZ_CHECK(auth_permmap_lookup(m, k) == want, "type '%s': %#x, file says %#x", k,
                 auth_permmap_lookup(m, k), want);
        char *up = strdup(k);
        for (char *p = up; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        FZ_CHECK(auth_permmap_lookup(m, up) == want, "type '%s' differs from '%s'", up, k);
        free(up);
    }
    static const char *const builtins[] = {"claude", "gemini", "admin",
                                           "system", "test",   "generic"};
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (!types || !listed(types, builtins[i]))
            FZ_CHECK(auth_permmap_lookup(m, builtins[i]) ==
                         auth_permmap_lookup(builtin, builtins[i]),
                     "built-in type '%s' changed though the file does not list it", builtins[i]);
    auth_permmap_free(builtin);
    json_decref(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (ftruncate(g_fd, 0) != 0 || pwrite(g_fd, data, size, 0) != (ssize_t)size) {
        perror("memory file");
        abort();
    }
    auth_permmap *m = (auth_permmap *)&g_fd; /* anything but NULL: a failure must clear it */
    err_t e = {0};
    err_code rc = auth_permmap_load(g_path, &m, &e);
    if (rc != ERR_OK) {
        FZ_CHECK(m == NULL, "a refused file left a map");
        FZ_CHECK(rc == ERR_INVALID && strstr(e.msg, g_path), "error %d '%s'", (int)rc, e.msg);
    } else {
        FZ_CHECK(m != NULL, "loaded without a map");
        check_loaded(data, size, m);
        auth_permmap_free(m);
    }
    return 0;
}
