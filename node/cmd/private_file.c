/* private_file.c - the secret-holding files of private_file.h. */
#include "private_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

FILE *private_file_open(const char *path, char *tmp, size_t tmp_len)
{
    int fd, n = snprintf(tmp, tmp_len, "%s.tmp", path);
    FILE *f;
    if (n < 0 || (size_t)n >= tmp_len) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    /* A leftover of a crashed write (or anything planted there) goes: the
     * file is created here, by us, or not at all. */
    if (unlink(tmp) != 0 && errno != ENOENT)
        return NULL;
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return NULL;
    if (fchmod(fd, 0600) != 0 || !(f = fdopen(fd, "w"))) {
        int e = errno;
        close(fd);
        unlink(tmp);
        errno = e;
        return NULL;
    }
    return f;
}

int private_file_commit(FILE *f, const char *path, const char *tmp)
{
    int rc = 0;
    if (fclose(f) != 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc != 0)
        unlink(tmp);
    return rc;
}
