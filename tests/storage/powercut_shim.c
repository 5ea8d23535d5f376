/*
 * powercut_shim.c - an LD_PRELOAD library that records, for the files under
 * one directory, what a power cut would leave of them; powercut_apply then
 * cuts the power on that record once the process has been killed.
 *
 * Why: SIGKILL leaves the page cache alone, so every byte a process wrote
 * survives it, synced or not, and "an acknowledged write survives a crash"
 * holds even when nothing is ever synced. This shim watches a process's
 * file calls and appends to a ledger what each sync made durable.
 *
 * The model (a strict reading of POSIX, without a journal's courtesies):
 *  - Data: when fsync or fdatasync(fd) returns, the file's first `size`
 *    bytes are durable, `size` taken before the call (bytes written while
 *    it runs may be lost). Later bytes are lost: the cut file keeps its
 *    last durable length, 0 if it was never synced. sync_file_range is not
 *    a sync (no metadata, no disk cache flush) and is not watched. A write
 *    to an fd opened O_SYNC or O_DSYNC is durable when it returns.
 *  - Names: a directory holds, after the cut, the entries it had when it
 *    was last fsynced. A file created, renamed or linked into it since is
 *    gone; one unlinked or renamed over since is back (the shim keeps a
 *    hard link to every file it sees unlinked or renamed, in the stash).
 *    Name changes and directory snapshots take one lock, so a snapshot is
 *    exactly what the fsync after it made durable.
 *  - What exists when the process starts is durable.
 *  - Directories are durable once made (mkdir is not watched): RocksDB,
 *    like most programs, never fsyncs the parent of a directory it makes,
 *    and Linux's journaling file systems commit a mkdir with the first
 *    fsync below it. Directories are never removed by the cut.
 *
 * What the model cannot follow is refused, not guessed: a "flag" record
 * makes powercut_apply fail. That is a write below a file's durable length
 * (the old bytes are not kept), a truncation below it, O_TRUNC of durable
 * bytes, a shared writable mmap of a watched file, RENAME_EXCHANGE, a
 * watched fd past PC_FDS_MAX, a full inode table. Not seen at all: calls
 * glibc makes internally (stdio's fopen/fwrite/fclose), dup'ed fds,
 * io_uring, truncate(2) by path, copy_file_range, files of other devices
 * (the root must not have mount points below it). RocksDB with its default
 * options (no mmap writes, no WAL recycling) writes its files through the
 * watched calls; stdio-written files are never synced, which the model
 * covers (they are cut to nothing).
 *
 * Linux only. The shim's own I/O and the calls it wraps go straight to the
 * kernel through syscall(2): it never recurses into itself, needs no dlsym
 * and works before any constructor ran. Environment: POWERCUT_ROOT (the
 * watched directory), POWERCUT_LEDGER (appended), POWERCUT_STASH (a
 * directory on the root's file system); without all three the shim only
 * passes calls on.
 *
 * Ledger lines (a line without its newline, or a dir group without "end",
 * is a record the kill interrupted, and is ignored):
 *   begin PID
 *   sync INO LEN            file INO durable up to LEN bytes
 *   dir RELPATH             the entries of RELPATH ("." is the root) ...
 *   ent INO f|d|o NAME      ... one line each (regular, directory, other)
 *   end                     ... as a directory fsync made them durable
 *   flag REASON             this run is outside the model
 */
#undef _FORTIFY_SOURCE /* the wrappers below replace functions it would inline */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define PC_FDS_MAX     65536     /* watched fds are numbered below this */
#define PC_INODES_MAX  65536     /* inodes with a durable length; a power of 2 */
#define PC_DIR_BUF     (1 << 20) /* one directory's snapshot record */
#define PC_DEPTH_MAX   16        /* directory nesting under the root */
#define PC_KIND_FILE   1
#define PC_KIND_DIR    2
#define PC_KIND_OSYNC  4 /* with FILE: opened O_SYNC or O_DSYNC */
#define PC_KIND_APPEND 8 /* with FILE: opened O_APPEND */

typedef struct {
    _Atomic uint64_t ino;
    atomic_int kind; /* 0: not watched; set after ino, cleared before close */
} pc_fd_t;

typedef struct {
    uint64_t ino; /* 0: free slot */
    uint64_t durable;
} pc_inode_t;

/* Set by the constructor, before any thread but the first exists. */
static bool g_on;
static int g_ledger = -1;
static dev_t g_dev;
static char g_root[PATH_MAX];
static size_t g_root_len;
static char g_stash[PATH_MAX];

static pc_fd_t g_fds[PC_FDS_MAX];
/* Guards g_inodes and g_dirbuf, and orders name changes against directory
 * snapshots (see the model). */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pc_inode_t g_inodes[PC_INODES_MAX];
static char g_dirbuf[PC_DIR_BUF];

/* ---- the ledger ------------------------------------------------------------------ */

static void pc_emit(const char *s, size_t n)
{
    while (n > 0) {
        long w = syscall(SYS_write, g_ledger, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* nothing better to do: apply will miss the record */
        s += w;
        n -= (size_t)w;
    }
}

static void pc_flag(const char *fmt, ...)
{
    char line[PATH_MAX + 128];
    va_list ap;
    int n = snprintf(line, sizeof line, "flag ");
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    int saved = errno;
    pc_emit(line, (size_t)n);
    errno = saved;
}

/* ---- inodes and fds --------------------------------------------------------------- */

/* The slot of ino (caller holds g_lock); NULL when absent and !create or full. */
static pc_inode_t *pc_inode(uint64_t ino, bool create)
{
    for (uint64_t i = 0; i < PC_INODES_MAX; i++) {
        pc_inode_t *e = &g_inodes[(ino * 0x9E3779B97F4A7C15ull + i) & (PC_INODES_MAX - 1)];
        if (e->ino == ino)
            return e;
        if (e->ino == 0) {
            if (!create)
                return NULL;
            e->ino = ino;
            return e;
        }
    }
    if (create)
        pc_flag("inode table full");
    return NULL;
}

static uint64_t pc_durable(uint64_t ino)
{
    pc_inode_t *e = pc_inode(ino, false);
    return e ? e->durable : 0;
}

/* Record that ino is durable up to len (caller holds g_lock). */
static void pc_synced(uint64_t ino, uint64_t len)
{
    pc_inode_t *e = pc_inode(ino, true);
    if (e && len > e->durable)
        e->durable = len;
    char line[64];
    int n = snprintf(line, sizeof line, "sync %llu %llu\n", (unsigned long long)ino,
                     (unsigned long long)len);
    pc_emit(line, (size_t)n);
}

/* The path of `abs` relative to the root ("." for the root itself), or
 * NULL when it is not below the root. */
static const char *pc_rel(const char *abs)
{
    if (strncmp(abs, g_root, g_root_len) != 0)
        return NULL;
    if (abs[g_root_len] == '\0')
        return ".";
    return abs[g_root_len] == '/' ? abs + g_root_len + 1 : NULL;
}

static bool pc_fd_path(int fd, char *buf, size_t cap)
{
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    long n = syscall(SYS_readlinkat, AT_FDCWD, link, buf, cap - 1);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    return true;
}

/* The watched entry of fd, or NULL; checks the fd still is that inode (an
 * fd closed behind our back, by stdio say, may have been reused). */
static pc_fd_t *pc_fd(int fd, struct stat *st)
{
    if (!g_on || fd < 0 || fd >= PC_FDS_MAX || atomic_load(&g_fds[fd].kind) == 0)
        return NULL;
    pc_fd_t *e = &g_fds[fd];
    if (syscall(SYS_fstat, fd, st) != 0 || st->st_ino != atomic_load(&e->ino) ||
        st->st_dev != g_dev)
        return NULL;
    return e;
}

/* After a successful open: watch fd if it is a file or directory below the
 * root. Caller holds g_lock. */
static void pc_watch(int fd, int flags)
{
    struct stat st;
    char path[PATH_MAX];
    if (fd < PC_FDS_MAX)
        atomic_store(&g_fds[fd].kind, 0);
    if (syscall(SYS_fstat, fd, &st) != 0 || st.st_dev != g_dev ||
        !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) || !pc_fd_path(fd, path, sizeof path) ||
        !pc_rel(path))
        return;
    if (fd >= PC_FDS_MAX) {
        pc_flag("fd %d past the fd table: %s", fd, path);
        return;
    }
    int kind = S_ISDIR(st.st_mode) ? PC_KIND_DIR : PC_KIND_FILE;
    if (kind == PC_KIND_FILE && (flags & (O_SYNC | O_DSYNC)))
        kind |= PC_KIND_OSYNC;
    if (kind == PC_KIND_FILE && (flags & O_APPEND))
        kind |= PC_KIND_APPEND;
    if ((flags & O_TRUNC) && kind & PC_KIND_FILE && pc_durable(st.st_ino) > 0)
        pc_flag("O_TRUNC of durable bytes: %s", path);
    atomic_store(&g_fds[fd].ino, (uint64_t)st.st_ino);
    atomic_store(&g_fds[fd].kind, kind);
}

/* Keep a hard link to the regular file at (dirfd, path) in the stash, so
 * the cut can bring it back after an unlink or a rename. Caller holds
 * g_lock. Files of other devices cannot be below the root: skipped. */
static void pc_stash(int dirfd, const char *path)
{
    struct stat st;
    char to[PATH_MAX + 32];
    if (syscall(SYS_newfstatat, dirfd, path, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISREG(st.st_mode) || st.st_dev != g_dev)
        return;
    snprintf(to, sizeof to, "%s/%llu", g_stash, (unsigned long long)st.st_ino);
    if (syscall(SYS_linkat, dirfd, path, AT_FDCWD, to, 0) != 0 && errno != EEXIST)
        pc_flag("cannot stash %s: errno %d", path, errno);
}

/* ---- directory snapshots ----------------------------------------------------------- */

struct pc_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

static char pc_type(int dirfd, const struct pc_dirent64 *d)
{
    struct stat st;
    unsigned char t = d->d_type;
    if (t == DT_UNKNOWN && syscall(SYS_newfstatat, dirfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
        t = S_ISREG(st.st_mode) ? DT_REG : S_ISDIR(st.st_mode) ? DT_DIR : DT_UNKNOWN;
    return t == DT_REG ? 'f' : t == DT_DIR ? 'd' : 'o';
}

/* Write the "dir ... end" group of directory fd `dirfd` (a fresh fd:
 * its offset moves) into g_dirbuf; its length, or 0 after a flag. When
 * `each` is set, call it for every entry but . and .. (the base walk). */
typedef void (*pc_entry_fn)(int dirfd, const char *rel, const char *name, char type);

static size_t pc_dir_group(int dirfd, const char *rel, pc_entry_fn each)
{
    char buf[8192];
    size_t len = (size_t)snprintf(g_dirbuf, PC_DIR_BUF, "dir %s\n", rel);
    for (;;) {
        long n = syscall(SYS_getdents64, dirfd, buf, sizeof buf);
        if (n < 0) {
            pc_flag("getdents %s: errno %d", rel, errno);
            return 0;
        }
        if (n == 0)
            break;
        for (long off = 0; off < n;) {
            struct pc_dirent64 *d = (struct pc_dirent64 *)(buf + off);
            off += d->d_reclen;
            if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
                continue;
            if (strchr(d->d_name, '\n')) {
                pc_flag("a name with a newline in %s", rel);
                return 0;
            }
            char type = pc_type(dirfd, d);
            int w = snprintf(g_dirbuf + len, PC_DIR_BUF - len, "ent %llu %c %s\n",
                             (unsigned long long)d->d_ino, type, d->d_name);
            if (w < 0 || (size_t)w >= PC_DIR_BUF - len - 4) {
                pc_flag("directory %s too large to snapshot", rel);
                return 0;
            }
            len += (size_t)w;
            if (each)
                each(dirfd, rel, d->d_name, type);
        }
    }
    memcpy(g_dirbuf + len, "end\n", 4);
    return len + 4;
}

/* ---- the base: what exists at start is durable ------------------------------------- */

static void pc_base_dir(int dirfd, const char *rel, int depth);

static void pc_base_entry(int dirfd, const char *rel, const char *name, char type)
{
    struct stat st;
    if (syscall(SYS_newfstatat, dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return;
    if (st.st_dev != g_dev) {
        pc_flag("another file system below the root: %s/%s", rel, name);
        return;
    }
    if (type == 'f')
        pc_synced(st.st_ino, (uint64_t)st.st_size);
}

static void pc_base_dir(int dirfd, const char *rel, int depth)
{
    size_t n = pc_dir_group(dirfd, rel, pc_base_entry);
    if (n == 0)
        return;
    pc_emit(g_dirbuf, n);
    if (depth >= PC_DEPTH_MAX) {
        pc_flag("directories nested deeper than %d: %s", PC_DEPTH_MAX, rel);
        return;
    }
    /* Second pass for the subdirectories: g_dirbuf is reused below. */
    char buf[8192];
    syscall(SYS_lseek, dirfd, 0, SEEK_SET);
    for (long got; (got = syscall(SYS_getdents64, dirfd, buf, sizeof buf)) > 0;)
        for (long off = 0; off < got;) {
            struct pc_dirent64 *d = (struct pc_dirent64 *)(buf + off);
            off += d->d_reclen;
            if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0 ||
                pc_type(dirfd, d) != 'd')
                continue;
            char sub[PATH_MAX];
            snprintf(sub, sizeof sub, "%s/%s", rel, d->d_name);
            int fd = (int)syscall(SYS_openat, dirfd, d->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (fd < 0)
                continue;
            pc_base_dir(fd, strcmp(rel, ".") == 0 ? d->d_name : sub, depth + 1);
            syscall(SYS_close, fd);
        }
}

__attribute__((constructor)) static void pc_init(void)
{
    const char *root = getenv("POWERCUT_ROOT"), *ledger = getenv("POWERCUT_LEDGER"),
               *stash = getenv("POWERCUT_STASH");
    struct stat st, sst;
    if (!root || !ledger || !stash)
        return;
    g_ledger =
        (int)syscall(SYS_openat, AT_FDCWD, ledger, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (g_ledger < 0)
        return; /* no ledger: powercut_apply refuses the run */
    char line[64];
    int n = snprintf(line, sizeof line, "begin %ld\n", (long)getpid());
    pc_emit(line, (size_t)n);
    if (!realpath(root, g_root) || !realpath(stash, g_stash) || stat(g_root, &st) != 0 ||
        stat(g_stash, &sst) != 0 || st.st_dev != sst.st_dev || !S_ISDIR(st.st_mode)) {
        pc_flag("POWERCUT_ROOT and POWERCUT_STASH must be directories of one file system");
        return;
    }
    g_root_len = strlen(g_root);
    g_dev = st.st_dev;
    int fd = (int)syscall(SYS_openat, AT_FDCWD, g_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        pc_flag("cannot open the root");
        return;
    }
    pthread_mutex_lock(&g_lock);
    pc_base_dir(fd, ".", 0);
    pthread_mutex_unlock(&g_lock);
    syscall(SYS_close, fd);
    g_on = true;
}

/* ---- opens -------------------------------------------------------------------------- */

static int pc_open(int dirfd, const char *path, int flags, mode_t mode)
{
    if (!g_on)
        return (int)syscall(SYS_openat, dirfd, path, flags, mode);
    /* Under the lock: a creation never falls between a directory's
     * snapshot and its fsync. */
    pthread_mutex_lock(&g_lock);
    int fd = (int)syscall(SYS_openat, dirfd, path, flags, mode);
    int saved = errno;
    if (fd >= 0)
        pc_watch(fd, flags);
    pthread_mutex_unlock(&g_lock);
    errno = saved;
    return fd;
}

static mode_t pc_mode(int flags, va_list ap)
{
    return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = pc_mode(flags, ap);
    va_end(ap);
    return pc_open(AT_FDCWD, path, flags, mode);
}

/* The 64-bit names are the same calls on x86_64 and arm64. */
int open64(const char *path, int flags, ...) __attribute__((alias("open")));

int openat(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = pc_mode(flags, ap);
    va_end(ap);
    return pc_open(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...) __attribute__((alias("openat")));

/* The _FORTIFY_SOURCE entry points: no mode (no O_CREAT). */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

int __open_2(const char *path, int flags)
{
    return pc_open(AT_FDCWD, path, flags, 0);
}

int __open64_2(const char *path, int flags)
{
    return pc_open(AT_FDCWD, path, flags, 0);
}

int __openat_2(int dirfd, const char *path, int flags)
{
    return pc_open(dirfd, path, flags, 0);
}

int __openat64_2(int dirfd, const char *path, int flags)
{
    return pc_open(dirfd, path, flags, 0);
}

int creat(const char *path, mode_t mode)
{
    return pc_open(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

int creat64(const char *path, mode_t mode)
{
    return pc_open(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

int close(int fd)
{
    if (fd >= 0 && fd < PC_FDS_MAX)
        atomic_store(&g_fds[fd].kind, 0);
    return (int)syscall(SYS_close, fd);
}

/* ---- writes --------------------------------------------------------------------------- */

/* Before a write at `off` (-1: the fd's offset) to a watched file: flag an
 * overwrite of durable bytes. Returns the offset written at (-1 unknown). */
static int64_t pc_before_write(int fd, const pc_fd_t *e, const struct stat *st, int64_t off)
{
    if (off < 0)
        off = (atomic_load(&e->kind) & PC_KIND_APPEND)
                  ? (int64_t)st->st_size
                  : (int64_t)syscall(SYS_lseek, fd, 0, SEEK_CUR);
    pthread_mutex_lock(&g_lock);
    uint64_t durable = pc_durable(st->st_ino);
    if (off >= 0 && (uint64_t)off < durable)
        pc_flag("overwrite of durable bytes: inode %llu at %lld (durable %llu)",
                (unsigned long long)st->st_ino, (long long)off, (unsigned long long)durable);
    pthread_mutex_unlock(&g_lock);
    return off;
}

/* After a write: O_SYNC and O_DSYNC writes are durable on return. */
static void pc_after_write(const pc_fd_t *e, const struct stat *st, int64_t off, long written)
{
    if (written <= 0 || off < 0 || !(atomic_load(&e->kind) & PC_KIND_OSYNC))
        return;
    int saved = errno;
    pthread_mutex_lock(&g_lock);
    pc_synced(st->st_ino, (uint64_t)off + (uint64_t)written);
    pthread_mutex_unlock(&g_lock);
    errno = saved;
}

#define PC_WRITE(call, off)                                                                        \
    do {                                                                                           \
        struct stat st_;                                                                           \
        pc_fd_t *e_ = pc_fd(fd, &st_);                                                             \
        if (!e_ || !(atomic_load(&e_->kind) & PC_KIND_FILE))                                       \
            return call;                                                                           \
        int64_t at_ = pc_before_write(fd, e_, &st_, (off));                                        \
        long r_ = call;                                                                            \
        pc_after_write(e_, &st_, at_, r_);                                                         \
        return r_;                                                                                 \
    } while (0)

ssize_t write(int fd, const void *buf, size_t n)
{
    PC_WRITE(syscall(SYS_write, fd, buf, n), -1);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    PC_WRITE(syscall(SYS_pwrite64, fd, buf, n, off), off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
    PC_WRITE(syscall(SYS_pwrite64, fd, buf, n, off), off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    PC_WRITE(syscall(SYS_writev, fd, iov, cnt), -1);
}

/* The kernel takes the offset as two longs, low then high (as glibc does). */
ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    PC_WRITE(syscall(SYS_pwritev, fd, iov, cnt, (long)off, (long)((uint64_t)off >> 32)), off);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
    PC_WRITE(syscall(SYS_pwritev, fd, iov, cnt, (long)off, (long)((uint64_t)off >> 32)), off);
}

int ftruncate(int fd, off_t len)
{
    struct stat st;
    pc_fd_t *e = pc_fd(fd, &st);
    if (e && (atomic_load(&e->kind) & PC_KIND_FILE)) {
        pthread_mutex_lock(&g_lock);
        if ((uint64_t)len < pc_durable(st.st_ino))
            pc_flag("truncation below the durable length: inode %llu",
                    (unsigned long long)st.st_ino);
        pthread_mutex_unlock(&g_lock);
    }
    return (int)syscall(SYS_ftruncate, fd, len);
}

int ftruncate64(int fd, off64_t len)
{
    return ftruncate(fd, (off_t)len);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    struct stat st;
    if ((flags & MAP_SHARED) && (prot & PROT_WRITE) && pc_fd(fd, &st))
        pc_flag("shared writable mmap of inode %llu", (unsigned long long)st.st_ino);
    return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
    return mmap(addr, len, prot, flags, fd, (off_t)off);
}

/* ---- syncs ------------------------------------------------------------------------------ */

static int pc_sync(int fd, long nr)
{
    struct stat st;
    char path[PATH_MAX];
    pc_fd_t *e = pc_fd(fd, &st);
    if (!e)
        return (int)syscall(nr, fd);
    if (atomic_load(&e->kind) & PC_KIND_FILE) {
        int rc = (int)syscall(nr, fd);
        int saved = errno;
        if (rc == 0) {
            pthread_mutex_lock(&g_lock);
            pc_synced(st.st_ino, (uint64_t)st.st_size); /* the size before the sync */
            pthread_mutex_unlock(&g_lock);
        }
        errno = saved;
        return rc;
    }
    /* A directory: snapshot its entries, sync, record; no name changes in
     * between (they take g_lock too). */
    pthread_mutex_lock(&g_lock);
    size_t n = 0;
    const char *rel = pc_fd_path(fd, path, sizeof path) ? pc_rel(path) : NULL;
    int dfd = (int)syscall(SYS_openat, fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rel && dfd >= 0)
        n = pc_dir_group(dfd, rel, NULL);
    else
        pc_flag("cannot list a synced directory (fd %d)", fd);
    if (dfd >= 0)
        syscall(SYS_close, dfd);
    int rc = (int)syscall(nr, fd);
    int saved = errno;
    if (rc == 0 && n > 0)
        pc_emit(g_dirbuf, n);
    pthread_mutex_unlock(&g_lock);
    errno = saved;
    return rc;
}

int fsync(int fd)
{
    return pc_sync(fd, SYS_fsync);
}

int fdatasync(int fd)
{
    return pc_sync(fd, SYS_fdatasync);
}

/* ---- name changes ------------------------------------------------------------------------ */

int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
              unsigned int flags)
{
    if (!g_on)
        return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
    pthread_mutex_lock(&g_lock);
    if (flags & RENAME_EXCHANGE)
        pc_flag("RENAME_EXCHANGE of %s", oldpath);
    pc_stash(olddirfd, oldpath);
    pc_stash(newdirfd, newpath);
    int rc = (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
    int saved = errno;
    pthread_mutex_unlock(&g_lock);
    errno = saved;
    return rc;
}

int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
    return renameat2(olddirfd, oldpath, newdirfd, newpath, 0);
}

int rename(const char *oldpath, const char *newpath)
{
    return renameat2(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0);
}

int unlinkat(int dirfd, const char *path, int flags)
{
    if (!g_on)
        return (int)syscall(SYS_unlinkat, dirfd, path, flags);
    pthread_mutex_lock(&g_lock);
    if (!(flags & AT_REMOVEDIR))
        pc_stash(dirfd, path);
    int rc = (int)syscall(SYS_unlinkat, dirfd, path, flags);
    int saved = errno;
    pthread_mutex_unlock(&g_lock);
    errno = saved;
    return rc;
}

int unlink(const char *path)
{
    return unlinkat(AT_FDCWD, path, 0);
}

int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)
{
    if (!g_on)
        return (int)syscall(SYS_linkat, olddirfd, oldpath, newdirfd, newpath, flags);
    pthread_mutex_lock(&g_lock);
    int rc = (int)syscall(SYS_linkat, olddirfd, oldpath, newdirfd, newpath, flags);
    int saved = errno;
    pthread_mutex_unlock(&g_lock);
    errno = saved;
    return rc;
}

int link(const char *oldpath, const char *newpath)
{
    return linkat(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0);
}
