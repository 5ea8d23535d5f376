/*
 * fuzz_config.c - libFuzzer harness of the node's configuration
 * (node/cmd/config.c): a JSON configuration file (every option of the
 * table, tokens with their scopes) and the command-line flags that
 * override it. Input: the file's bytes up to the first NUL, then flags
 * separated by NULs; a `--config` flag always names that file (an
 * in-memory file, /proc/self/fd/N of a memfd), never another path. Both
 * roles' defaults are used in turn. Property: a failed load says why (a
 * non-empty message), and the configuration frees cleanly either way.
 */
#include "fuzz_util.h"

#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

#define FZ_ARGS 32

static int memfd = -1;
static char memfd_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    memfd = memfd_create("edgekv-fuzz-config", 0);
    FZ_CHECK(memfd >= 0);
    snprintf(memfd_path, sizeof memfd_path, "/proc/self/fd/%d", memfd);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in_t in = {data, size};
    const uint8_t *file;
    size_t flen = fz_until(&in, 0, &file);
    FZ_CHECK(ftruncate(memfd, 0) == 0);
    FZ_CHECK(pwrite(memfd, file, flen, 0) == (ssize_t)flen);

    /* The flags, each a NUL-terminated copy. */
    char *args[FZ_ARGS];
    int argc = 0;
    while (in.n > 0 && argc < FZ_ARGS) {
        const uint8_t *s;
        size_t l = fz_until(&in, 0, &s);
        if (l >= 8 && memcmp(s, "--config", 8) == 0) {
            args[argc++] = strdup("--config");
            if (argc < FZ_ARGS)
                args[argc++] = strdup(memfd_path);
            continue;
        }
        args[argc] = malloc(l + 1);
        FZ_CHECK(args[argc] != NULL);
        memcpy(args[argc], s, l);
        args[argc++][l] = '\0';
    }

    static const char *const roles[] = {"origin", "edge"};
    for (int r = 0; r < 2; r++) {
        node_config_t c;
        char err[512] = "";
        node_config_defaults(&c, roles[r]);
        int rc = node_config_load_file(&c, memfd_path, err, sizeof err);
        FZ_CHECK(rc == 0 || (rc == -1 && err[0] != '\0'));
        node_config_free(&c);
        if (argc > 0) {
            node_config_defaults(&c, roles[r]);
            err[0] = '\0';
            rc = node_config_parse(&c, argc, args, err, sizeof err);
            FZ_CHECK(rc == 0 || rc == 1 || (rc == -1 && err[0] != '\0'));
            node_config_free(&c);
        }
    }
    for (int i = 0; i < argc; i++)
        free(args[i]);
    return 0;
}
