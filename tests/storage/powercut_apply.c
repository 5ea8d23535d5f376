/*
 * powercut_apply.c - cut the power on a directory after the process that
 * wrote it under powercut_shim.so was killed: leave exactly what the
 * ledger says was durable (the model is in powercut_shim.c).
 *
 *   powercut_apply [-v] LEDGER ROOT STASH
 *
 * For every directory below ROOT, the regular files it keeps are the
 * entries of its last snapshot in the ledger (none if it was never synced
 * since the process started): other files are removed, missing ones are
 * brought back from their current name or from the stash. Every kept file
 * is then cut to its durable length (0 if never synced). Subdirectories
 * are left as they are, and the stash is emptied.
 *
 * Exit status: 0 when the cut was applied (a summary line on stdout), 2
 * when the ledger says the run is outside the model (a "flag" record, not
 * exactly one "begin", a lost inode, a file shorter than its durable
 * length): the cut would be a guess, so nothing is changed; 1 on usage or
 * I/O errors. What this is not: a file system; it knows nothing of block
 * sizes, torn sectors or reordered metadata beyond the model.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    uint64_t ino;
    char *name;
} ent_t;

/* A directory: its durable entries (from the ledger) and its files now. */
typedef struct {
    char *rel;
    bool snapped; /* the ledger has a complete snapshot */
    ent_t *durable;
    size_t n_durable;
    ent_t *now;
    size_t n_now;
} dir_t;

typedef struct {
    uint64_t ino;
    uint64_t len;
} dur_t;

static dir_t *g_dirs;
static size_t g_n_dirs;
static dur_t *g_dur;
static size_t g_n_dur, g_cap_dur;
static bool g_verbose;
static const char *g_root, *g_stash;

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p) {
        fprintf(stderr, "powercut_apply: out of memory\n");
        exit(1);
    }
    return p;
}

static char *xstrdup(const char *s)
{
    return strcpy(xrealloc(NULL, strlen(s) + 1), s);
}

static dir_t *dir_get(const char *rel)
{
    for (size_t i = 0; i < g_n_dirs; i++)
        if (strcmp(g_dirs[i].rel, rel) == 0)
            return &g_dirs[i];
    g_dirs = xrealloc(g_dirs, (g_n_dirs + 1) * sizeof(*g_dirs));
    dir_t *d = &g_dirs[g_n_dirs++];
    memset(d, 0, sizeof(*d));
    d->rel = xstrdup(rel);
    return d;
}

static void ent_add(ent_t **v, size_t *n, uint64_t ino, const char *name)
{
    *v = xrealloc(*v, (*n + 1) * sizeof(**v));
    (*v)[*n].ino = ino;
    (*v)[*n].name = xstrdup(name);
    (*n)++;
}

static int dur_cmp(const void *a, const void *b)
{
    const dur_t *x = a, *y = b;
    return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* The durable length of ino (0: never synced). g_dur sorted and merged. */
static uint64_t dur_of(uint64_t ino)
{
    dur_t key = {ino, 0};
    dur_t *d = bsearch(&key, g_dur, g_n_dur, sizeof(*g_dur), dur_cmp);
    return d ? d->len : 0;
}

/* ---- the ledger ----------------------------------------------------------------- */

/* Parse the ledger; 0, or 2 when the run is outside the model. */
static int ledger_read(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "powercut_apply: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int begins = 0, rc = 0;
    ent_t *grp = NULL;
    size_t n_grp = 0;
    char *grp_dir = NULL;
    while ((len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] != '\n')
            break; /* the kill interrupted this record */
        line[len - 1] = '\0';
        unsigned long long a, b;
        char type;
        int off = 0;
        if (strncmp(line, "begin ", 6) == 0) {
            begins++;
        } else if (sscanf(line, "sync %llu %llu", &a, &b) == 2) {
            if (g_n_dur == g_cap_dur) {
                g_cap_dur = g_cap_dur ? 2 * g_cap_dur : 256;
                g_dur = xrealloc(g_dur, g_cap_dur * sizeof(*g_dur));
            }
            g_dur[g_n_dur++] = (dur_t){a, b};
        } else if (strncmp(line, "dir ", 4) == 0) {
            free(grp_dir);
            grp_dir = xstrdup(line + 4);
            for (size_t i = 0; i < n_grp; i++)
                free(grp[i].name);
            n_grp = 0;
        } else if (grp_dir && sscanf(line, "ent %llu %c %n", &a, &type, &off) == 2 && off > 0) {
            if (type == 'f')
                ent_add(&grp, &n_grp, a, line + off);
        } else if (grp_dir && strcmp(line, "end") == 0) {
            dir_t *d = dir_get(grp_dir);
            for (size_t i = 0; i < d->n_durable; i++)
                free(d->durable[i].name);
            free(d->durable);
            d->durable = grp;
            d->n_durable = n_grp;
            d->snapped = true;
            grp = NULL;
            n_grp = 0;
            free(grp_dir);
            grp_dir = NULL;
        } else if (strncmp(line, "flag ", 5) == 0) {
            fprintf(stderr, "powercut_apply: outside the model: %s\n", line + 5);
            rc = 2;
        } else {
            fprintf(stderr, "powercut_apply: bad ledger line: %s\n", line);
            rc = 2;
        }
    }
    free(line);
    free(grp_dir);
    for (size_t i = 0; i < n_grp; i++)
        free(grp[i].name);
    free(grp);
    fclose(f);
    if (begins != 1) {
        fprintf(stderr, "powercut_apply: %d processes in the ledger, want 1\n", begins);
        rc = 2;
    }
    /* Sort by inode; one entry each, with its largest durable length. */
    qsort(g_dur, g_n_dur, sizeof(*g_dur), dur_cmp);
    size_t w = 0;
    for (size_t i = 0; i < g_n_dur; i++) {
        if (w > 0 && g_dur[w - 1].ino == g_dur[i].ino) {
            if (g_dur[i].len > g_dur[w - 1].len)
                g_dur[w - 1].len = g_dur[i].len;
        } else {
            g_dur[w++] = g_dur[i];
        }
    }
    g_n_dur = w;
    return rc;
}

/* ---- the tree now --------------------------------------------------------------- */

static void path_of(const char *rel, const char *name, char *out, size_t cap)
{
    int n = strcmp(rel, ".") == 0 ? snprintf(out, cap, "%s/%s", g_root, name)
                                  : snprintf(out, cap, "%s/%s/%s", g_root, rel, name);
    if (n < 0 || (size_t)n >= cap) {
        fprintf(stderr, "powercut_apply: path too long under %s\n", g_root);
        exit(2);
    }
}

static void scan(const char *rel)
{
    char path[PATH_MAX];
    if (strcmp(rel, ".") == 0)
        snprintf(path, sizeof path, "%s", g_root);
    else
        snprintf(path, sizeof path, "%s/%s", g_root, rel);
    DIR *dp = opendir(path);
    if (!dp) {
        fprintf(stderr, "powercut_apply: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    dir_get(rel);
    struct dirent *de;
    while ((de = readdir(dp)) != NULL) {
        struct stat st;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            fstatat(dirfd(dp), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (S_ISREG(st.st_mode)) {
            dir_t *d = dir_get(rel); /* g_dirs may move while scanning below */
            ent_add(&d->now, &d->n_now, st.st_ino, de->d_name);
        } else if (S_ISDIR(st.st_mode)) {
            char sub[PATH_MAX];
            if (strcmp(rel, ".") == 0)
                snprintf(sub, sizeof sub, "%s", de->d_name);
            else
                snprintf(sub, sizeof sub, "%s/%s", rel, de->d_name);
            scan(sub);
        }
    }
    closedir(dp);
}

/* A path holding inode ino now: below the root, else in the stash. */
static bool source_of(uint64_t ino, char *out, size_t cap)
{
    for (size_t i = 0; i < g_n_dirs; i++)
        for (size_t j = 0; j < g_dirs[i].n_now; j++)
            if (g_dirs[i].now[j].ino == ino) {
                path_of(g_dirs[i].rel, g_dirs[i].now[j].name, out, cap);
                return true;
            }
    struct stat st;
    snprintf(out, cap, "%s/%llu", g_stash, (unsigned long long)ino);
    return stat(out, &st) == 0 && (uint64_t)st.st_ino == ino;
}

static bool has(const ent_t *v, size_t n, uint64_t ino, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].ino == ino && strcmp(v[i].name, name) == 0)
            return true;
    return false;
}

/* ---- the cut --------------------------------------------------------------------- */

static void die_io(const char *what, const char *path)
{
    fprintf(stderr, "powercut_apply: %s %s: %s\n", what, path, strerror(errno));
    exit(1);
}

/* Check everything first: a refused cut changes nothing. */
static int check(void)
{
    int rc = 0;
    char src[PATH_MAX];
    for (size_t i = 0; i < g_n_dirs; i++) {
        dir_t *d = &g_dirs[i];
        for (size_t j = 0; j < d->n_durable; j++) {
            struct stat st;
            if (!source_of(d->durable[j].ino, src, sizeof src) || stat(src, &st) != 0) {
                fprintf(stderr, "powercut_apply: inode %llu (%s/%s) is lost\n",
                        (unsigned long long)d->durable[j].ino, d->rel, d->durable[j].name);
                rc = 2;
            } else if ((uint64_t)st.st_size < dur_of(d->durable[j].ino)) {
                fprintf(stderr, "powercut_apply: %s is shorter than its durable length\n", src);
                rc = 2;
            }
        }
    }
    return rc;
}

int main(int argc, char **argv)
{
    int a = 1;
    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        g_verbose = true;
        a++;
    }
    if (argc - a != 3) {
        fprintf(stderr, "usage: powercut_apply [-v] LEDGER ROOT STASH\n");
        return 1;
    }
    g_root = argv[a + 1];
    g_stash = argv[a + 2];
    int rc = ledger_read(argv[a]);
    for (size_t i = 0; i < g_n_dirs; i++) {
        char path[PATH_MAX];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", g_root, g_dirs[i].rel);
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
            fprintf(stderr, "powercut_apply: synced directory %s is gone\n", g_dirs[i].rel);
            rc = 2;
        }
    }
    if (rc)
        return rc;
    scan(".");
    if ((rc = check()) != 0)
        return rc;

    size_t kept = 0, cut = 0, removed = 0, restored = 0;
    uint64_t dropped = 0;
    char src[PATH_MAX], dst[PATH_MAX], tmp[PATH_MAX];
    /* 1. Link every durable entry that is not in place to a temporary name
     *    (before step 2 may remove its only name below the root). */
    for (size_t i = 0; i < g_n_dirs; i++) {
        dir_t *d = &g_dirs[i];
        for (size_t j = 0; j < d->n_durable; j++) {
            ent_t *e = &d->durable[j];
            if (has(d->now, d->n_now, e->ino, e->name))
                continue;
            source_of(e->ino, src, sizeof src);
            snprintf(dst, sizeof dst, "%s/.powercut-%zu", d->rel, j);
            path_of(".", dst, tmp, sizeof tmp);
            if (link(src, tmp) != 0)
                die_io("link", tmp);
        }
    }
    /* 2. Remove what the last snapshot does not hold. */
    for (size_t i = 0; i < g_n_dirs; i++) {
        dir_t *d = &g_dirs[i];
        for (size_t j = 0; j < d->n_now; j++) {
            ent_t *e = &d->now[j];
            if (has(d->durable, d->n_durable, e->ino, e->name))
                continue;
            path_of(d->rel, e->name, dst, sizeof dst);
            if (unlink(dst) != 0)
                die_io("unlink", dst);
            removed++;
            if (g_verbose)
                printf("removed %s\n", dst);
        }
    }
    /* 3. Move the brought-back entries to their names; 4. cut every kept
     *    file to its durable length. */
    for (size_t i = 0; i < g_n_dirs; i++) {
        dir_t *d = &g_dirs[i];
        for (size_t j = 0; j < d->n_durable; j++) {
            ent_t *e = &d->durable[j];
            path_of(d->rel, e->name, dst, sizeof dst);
            if (!has(d->now, d->n_now, e->ino, e->name)) {
                snprintf(src, sizeof src, "%s/.powercut-%zu", d->rel, j);
                path_of(".", src, tmp, sizeof tmp);
                if (rename(tmp, dst) != 0)
                    die_io("rename", tmp);
                restored++;
                if (g_verbose)
                    printf("restored %s\n", dst);
            }
            struct stat st;
            uint64_t len = dur_of(e->ino);
            if (stat(dst, &st) != 0)
                die_io("stat", dst);
            kept++;
            if ((uint64_t)st.st_size > len) {
                if (truncate(dst, (off_t)len) != 0)
                    die_io("truncate", dst);
                cut++;
                dropped += (uint64_t)st.st_size - len;
                if (g_verbose)
                    printf("cut %s from %llu to %llu bytes\n", dst, (unsigned long long)st.st_size,
                           (unsigned long long)len);
            }
        }
    }
    /* 5. Empty the stash. */
    DIR *dp = opendir(g_stash);
    if (!dp)
        die_io("opendir", g_stash);
    struct dirent *de;
    while ((de = readdir(dp)) != NULL)
        if (de->d_name[0] != '.' && unlinkat(dirfd(dp), de->d_name, 0) != 0)
            die_io("unlink in", g_stash);
    closedir(dp);
    printf("powercut: %zu files kept, %zu cut (%llu bytes dropped), %zu removed, %zu restored\n",
           kept, cut, (unsigned long long)dropped, removed, restored);
    return 0;
}
