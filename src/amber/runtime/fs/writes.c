/* Changes to paths inside the binary fail with EROFS, as on a read-only file system, and its members
 * have no extended attributes: shutil.copy2/copystat, os.chmod, os.mkdir, os.unlink, os.utime... of
 * such a path get the answer a read-only mount gives, not libc's ENOTDIR. Ordinary paths go to libc;
 * a path that reaches the binary another way is recognized after libc's ENOTDIR (see amber_fs.h).
 */
#include "amber_fs.h"

#include <sys/time.h>
#include <unistd.h>
#include <utime.h>

/* 1 when `path` (relative to `dirfd`) names something inside the binary (that exists, or whose parent
 * does: creating there is as read-only as changing), with errno EROFS; 0 otherwise. */
static int
inside(int dirfd, const char *path, int after_libc)
{
    NAME_BUFFER;
    if (!(after_libc ? errno == ENOTDIR && amber_other_name(dirfd, path, name) : amber_under_binary(path, name))) {
        return 0;
    }
    errno = EROFS;
    return 1;
}

/* A changing call `call` of one path: EROFS inside the binary, libc's answer elsewhere. */
#define CHANGE(ret, symbol, params, dirfd, path, args)              \
    typedef ret (*symbol##_fn) params;                             \
    EXPORTED ret amber_##symbol params __asm__(#symbol);            \
    ret amber_##symbol params                                       \
    {                                                               \
        if (inside(dirfd, path, 0)) {                               \
            return -1;                                              \
        }                                                           \
        REAL_OF(symbol##_fn, real_##symbol, #symbol)                \
        ret result = real_##symbol args;                            \
        if (result < 0 && inside(dirfd, path, 1)) {                 \
            return -1;                                              \
        }                                                           \
        return result;                                              \
    }

CHANGE(int, mkdir, (const char *path, mode_t mode), AT_FDCWD, path, (path, mode))
CHANGE(int, mkdirat, (int dirfd, const char *path, mode_t mode), dirfd, path, (dirfd, path, mode))
CHANGE(int, rmdir, (const char *path), AT_FDCWD, path, (path))
CHANGE(int, unlink, (const char *path), AT_FDCWD, path, (path))
CHANGE(int, unlinkat, (int dirfd, const char *path, int flags), dirfd, path, (dirfd, path, flags))
CHANGE(int, chmod, (const char *path, mode_t mode), AT_FDCWD, path, (path, mode))
CHANGE(int, fchmodat, (int dirfd, const char *path, mode_t mode, int flags), dirfd, path, (dirfd, path, mode, flags))
CHANGE(int, chown, (const char *path, uid_t uid, gid_t gid), AT_FDCWD, path, (path, uid, gid))
CHANGE(int, lchown, (const char *path, uid_t uid, gid_t gid), AT_FDCWD, path, (path, uid, gid))
CHANGE(int, fchownat, (int dirfd, const char *path, uid_t uid, gid_t gid, int flags), dirfd, path,
       (dirfd, path, uid, gid, flags))
CHANGE(int, truncate, (const char *path, off_t length), AT_FDCWD, path, (path, length))
CHANGE(int, truncate64, (const char *path, off_t length), AT_FDCWD, path, (path, length))
CHANGE(int, utime, (const char *path, const struct utimbuf *times), AT_FDCWD, path, (path, times))
CHANGE(int, utimes, (const char *path, const struct timeval times[2]), AT_FDCWD, path, (path, times))
CHANGE(int, utimensat, (int dirfd, const char *path, const struct timespec times[2], int flags), dirfd, path,
       (dirfd, path, times, flags))
CHANGE(int, setxattr, (const char *path, const char *key, const void *value, size_t size, int flags), AT_FDCWD,
       path, (path, key, value, size, flags))
CHANGE(int, lsetxattr, (const char *path, const char *key, const void *value, size_t size, int flags), AT_FDCWD,
       path, (path, key, value, size, flags))
CHANGE(int, removexattr, (const char *path, const char *key), AT_FDCWD, path, (path, key))
CHANGE(int, lremovexattr, (const char *path, const char *key), AT_FDCWD, path, (path, key))

/* Two paths: EROFS when either lies inside the binary. */
#define CHANGE2(symbol, params, dirfd1, path1, dirfd2, path2, args)                        \
    typedef int (*symbol##_fn) params;                                                    \
    EXPORTED int amber_##symbol params __asm__(#symbol);                                   \
    int amber_##symbol params                                                              \
    {                                                                                      \
        if (inside(dirfd1, path1, 0) || inside(dirfd2, path2, 0)) {                        \
            return -1;                                                                     \
        }                                                                                  \
        REAL_OF(symbol##_fn, real_##symbol, #symbol)                                       \
        int result = real_##symbol args;                                                   \
        if (result < 0 && errno == ENOTDIR) {                                              \
            if (inside(dirfd1, path1, 1) || (errno = ENOTDIR, inside(dirfd2, path2, 1))) { \
                return -1;                                                                 \
            }                                                                              \
        }                                                                                  \
        return result;                                                                     \
    }

CHANGE2(rename, (const char *from, const char *to), AT_FDCWD, from, AT_FDCWD, to, (from, to))
CHANGE2(renameat, (int fromfd, const char *from, int tofd, const char *to), fromfd, from, tofd, to,
        (fromfd, from, tofd, to))
CHANGE2(link, (const char *from, const char *to), AT_FDCWD, from, AT_FDCWD, to, (from, to))
CHANGE2(symlink, (const char *target, const char *path), AT_FDCWD, "", AT_FDCWD, path, (target, path))

/* -- extended attributes: none ------------------------------------------------------------------ */

/* The member (or directory) `path` names, if any: 1 and errno untouched when it exists, 1 with errno
 * ENOENT when it does not, 0 for a path outside. */
static int
attributes_of(const char *path, int after_libc, int *exists)
{
    NAME_BUFFER;
    if (!(after_libc ? errno == ENOTDIR && amber_other_name(AT_FDCWD, path, name) : amber_under_binary(path, name))) {
        return 0;
    }
    int is_dir;
    *exists = amber_lookup(name, &is_dir) != NULL || is_dir;
    return 1;
}

#define LIST_XATTR(symbol)                                                                       \
    typedef ssize_t (*symbol##_fn)(const char *, char *, size_t);                                \
    EXPORTED ssize_t amber_##symbol(const char *path, char *list, size_t size) __asm__(#symbol); \
    ssize_t amber_##symbol(const char *path, char *list, size_t size)                            \
    {                                                                                            \
        int exists;                                                                              \
        if (attributes_of(path, 0, &exists)) {                                                   \
            return exists ? 0 : -1;                                                              \
        }                                                                                        \
        REAL_OF(symbol##_fn, real_##symbol, #symbol)                                             \
        ssize_t n = real_##symbol(path, list, size);                                             \
        if (n < 0 && attributes_of(path, 1, &exists)) {                                          \
            return exists ? 0 : (errno = ENOENT, -1);                                            \
        }                                                                                        \
        return n;                                                                                \
    }

#define GET_XATTR(symbol)                                                                                     \
    typedef ssize_t (*symbol##_fn)(const char *, const char *, void *, size_t);                               \
    EXPORTED ssize_t amber_##symbol(const char *path, const char *key, void *value, size_t size)              \
        __asm__(#symbol);                                                                                     \
    ssize_t amber_##symbol(const char *path, const char *key, void *value, size_t size)                       \
    {                                                                                                         \
        int exists;                                                                                           \
        if (attributes_of(path, 0, &exists)) {                                                                \
            errno = exists ? ENODATA : errno;                                                                 \
            return -1;                                                                                        \
        }                                                                                                     \
        REAL_OF(symbol##_fn, real_##symbol, #symbol)                                                          \
        ssize_t n = real_##symbol(path, key, value, size);                                                    \
        if (n < 0 && attributes_of(path, 1, &exists)) {                                                       \
            errno = exists ? ENODATA : ENOENT;                                                                \
        }                                                                                                     \
        return n;                                                                                             \
    }

LIST_XATTR(listxattr)
LIST_XATTR(llistxattr)
GET_XATTR(getxattr)
GET_XATTR(lgetxattr)
