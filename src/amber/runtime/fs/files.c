/* open, fopen, stat, access, realpath and readlink of paths inside the binary (see amber_fs.h).
 *
 * Each function first tests the one prefix "<binary>/"; anything else goes to libc, and only when libc
 * fails with ENOTDIR (what any path through a regular file gets) is the path looked at again: relative,
 * through a link to the binary, or below one of our directory descriptors. Objects built with
 * _FORTIFY_SOURCE call __open_2/__open64_2/__openat_2/__realpath_chk instead, so those are here too.
 */
#include "amber_fs.h"

#include <stdarg.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef O_TMPFILE
#define O_TMPFILE (020000000 | O_DIRECTORY)
#endif

typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef FILE *(*fopen_fn)(const char *, const char *);
typedef int (*xstat_fn)(int, const char *, struct stat *);
typedef int (*fxstatat_fn)(int, int, const char *, struct stat *, int);
typedef int (*stat_fn)(const char *, struct stat *);
typedef int (*fstatat_fn)(int, const char *, struct stat *, int);
typedef int (*access_fn)(const char *, int);
typedef int (*faccessat_fn)(int, const char *, int, int);
typedef char *(*realpath_fn)(const char *, char *);
typedef ssize_t (*readlink_fn)(const char *, char *, size_t);

/* -- open --------------------------------------------------------------------------------------- */

static int
libc_open(const char *path, int flags, mode_t mode, int dirfd, int at, int large)
{
    if (at) {
        if (large) {
            REAL(openat_fn, openat64)
            return real_openat64(dirfd, path, flags, mode);
        }
        REAL(openat_fn, openat)
        return real_openat(dirfd, path, flags, mode);
    }
    if (large) {
        REAL(open_fn, open64)
        return real_open64(path, flags, mode);
    }
    REAL(open_fn, open)
    return real_open(path, flags, mode);
}

static int
do_open(const char *path, int flags, mode_t mode, int dirfd, int at, int large)
{
    NAME_BUFFER;
    if (amber_under_binary(path, name)) {
        return amber_open_member(name, flags);
    }
    int fd = libc_open(path, flags, mode, dirfd, at, large);
    if (fd < 0 && errno == ENOTDIR && amber_other_name(at ? dirfd : AT_FDCWD, path, name)) {
        return amber_open_member(name, flags);
    }
    return fd;
}

static mode_t
mode_of(int flags, va_list ap)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

#define OPEN(symbol, large)                                                          \
    EXPORTED int amber_##symbol(const char *path, int flags, ...) __asm__(#symbol);  \
    int amber_##symbol(const char *path, int flags, ...)                             \
    {                                                                                \
        va_list ap;                                                                  \
        va_start(ap, flags);                                                         \
        mode_t mode = mode_of(flags, ap);                                            \
        va_end(ap);                                                                  \
        return do_open(path, flags, mode, AT_FDCWD, 0, large);                       \
    }

#define OPENAT(symbol, large)                                                                    \
    EXPORTED int amber_##symbol(int dirfd, const char *path, int flags, ...) __asm__(#symbol);   \
    int amber_##symbol(int dirfd, const char *path, int flags, ...)                              \
    {                                                                                            \
        va_list ap;                                                                              \
        va_start(ap, flags);                                                                     \
        mode_t mode = mode_of(flags, ap);                                                        \
        va_end(ap);                                                                              \
        return do_open(path, flags, mode, dirfd, 1, large);                                      \
    }

OPEN(open, 0)
OPEN(open64, 1)
OPENAT(openat, 0)
OPENAT(openat64, 1)

/* _FORTIFY_SOURCE's checked opens: no mode (O_CREAT without one is the bug they catch). */
#define OPEN_2(symbol, large)                                                    \
    EXPORTED int amber_##symbol(const char *path, int flags) __asm__(#symbol);   \
    int amber_##symbol(const char *path, int flags)                              \
    {                                                                            \
        return do_open(path, flags, 0, AT_FDCWD, 0, large);                      \
    }
#define OPENAT_2(symbol, large)                                                              \
    EXPORTED int amber_##symbol(int dirfd, const char *path, int flags) __asm__(#symbol);    \
    int amber_##symbol(int dirfd, const char *path, int flags)                               \
    {                                                                                        \
        return do_open(path, flags, 0, dirfd, 1, large);                                     \
    }

OPEN_2(__open_2, 0)
OPEN_2(__open64_2, 1)
OPENAT_2(__openat_2, 0)
OPENAT_2(__openat64_2, 1)

/* -- fopen -------------------------------------------------------------------------------------- */

static FILE *
member_stream(const char *name, const char *how)
{
    if (how == NULL || how[0] != 'r' || strchr(how, '+') != NULL) {
        errno = EROFS;
        return NULL;
    }
    int fd = amber_open_member(name, O_RDONLY | (strchr(how, 'e') ? O_CLOEXEC : 0));
    if (fd < 0) {
        return NULL;
    }
    FILE *f = fdopen(fd, "r");
    if (f == NULL) {
        int saved = errno;
        close(fd);
        errno = saved;
    }
    return f;
}

static FILE *
do_fopen(const char *path, const char *how, int large)
{
    NAME_BUFFER;
    if (amber_under_binary(path, name)) {
        return member_stream(name, how);
    }
    FILE *f;
    if (large) {
        REAL(fopen_fn, fopen64)
        f = real_fopen64(path, how);
    }
    else {
        REAL(fopen_fn, fopen)
        f = real_fopen(path, how);
    }
    if (f == NULL && errno == ENOTDIR && amber_other_name(AT_FDCWD, path, name)) {
        return member_stream(name, how);
    }
    return f;
}

EXPORTED FILE *amber_fopen(const char *path, const char *how) __asm__("fopen");
EXPORTED FILE *amber_fopen64(const char *path, const char *how) __asm__("fopen64");

FILE *
amber_fopen(const char *path, const char *how)
{
    return do_fopen(path, how, 0);
}

FILE *
amber_fopen64(const char *path, const char *how)
{
    return do_fopen(path, how, 1);
}

/* -- stat --------------------------------------------------------------------------------------- */

/* glibc before 2.33 (what the runtime and manylinux2014-era objects link against) has no stat
 * symbols: its headers turn stat() into __xstat(_STAT_VER, ...); 2.33 and newer have stat() and keep
 * __xstat only for old objects. Each function here passes an ordinary path to libc's own symbol of
 * that name when libc has it (so an LD_PRELOAD shim still sees the call), else makes the system call
 * itself: struct stat is the kernel's on the 64-bit targets. */
static int
system_fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
    return (int)syscall(SYS_newfstatat, dirfd, path, st, flags);
}

/* libc's answer `result` for `path` (relative to `dirfd`, with fstatat's `flags`), or ours when libc said
 * ENOTDIR of a path that reaches into the archive; an empty path with AT_EMPTY_PATH is `dirfd` itself,
 * whose st_mode we correct when it is one of our descriptors. */
static int
stat_after(int result, int dirfd, const char *path, struct stat *st, int flags)
{
    NAME_BUFFER;
    if (result == 0 && path != NULL && path[0] == '\0' && (flags & AT_EMPTY_PATH)) {
        amber_fstat_ours(dirfd, st);
    }
    if (result != 0 && errno == ENOTDIR && amber_other_name(dirfd, path, name)) {
        return amber_stat_member(name, st);
    }
    return result;
}

#define STAT_FIRST(path)                                \
    NAME_BUFFER;                                        \
    if (amber_under_binary(path, name)) {               \
        return amber_stat_member(name, st);             \
    }

#define XSTAT(symbol, nofollow)                                                              \
    EXPORTED int amber_##symbol(int ver, const char *path, struct stat *st) __asm__(#symbol); \
    int amber_##symbol(int ver, const char *path, struct stat *st)                           \
    {                                                                                        \
        STAT_FIRST(path)                                                                     \
        REAL_OF(xstat_fn, real_##symbol, #symbol)                                            \
        int result = real_##symbol != NULL ? real_##symbol(ver, path, st)                    \
                                           : system_fstatat(AT_FDCWD, path, st, nofollow);   \
        return stat_after(result, AT_FDCWD, path, st, 0);                                    \
    }

XSTAT(__xstat, 0)
XSTAT(__xstat64, 0)
XSTAT(__lxstat, AT_SYMLINK_NOFOLLOW)
XSTAT(__lxstat64, AT_SYMLINK_NOFOLLOW)

#define FXSTATAT(symbol)                                                                            \
    EXPORTED int amber_##symbol(int ver, int dirfd, const char *path, struct stat *st, int flags)   \
        __asm__(#symbol);                                                                           \
    int amber_##symbol(int ver, int dirfd, const char *path, struct stat *st, int flags)            \
    {                                                                                               \
        STAT_FIRST(path)                                                                            \
        REAL_OF(fxstatat_fn, real_##symbol, #symbol)                                                \
        int result = real_##symbol != NULL ? real_##symbol(ver, dirfd, path, st, flags)             \
                                           : system_fstatat(dirfd, path, st, flags);                \
        return stat_after(result, dirfd, path, st, flags);                                          \
    }

FXSTATAT(__fxstatat)
FXSTATAT(__fxstatat64)

#define STAT(symbol, nofollow)                                                          \
    EXPORTED int amber_##symbol(const char *path, struct stat *st) __asm__(#symbol);    \
    int amber_##symbol(const char *path, struct stat *st)                               \
    {                                                                                   \
        STAT_FIRST(path)                                                                \
        REAL_OF(stat_fn, real_##symbol, #symbol)                                        \
        int result = real_##symbol != NULL ? real_##symbol(path, st)                    \
                                           : system_fstatat(AT_FDCWD, path, st, nofollow); \
        return stat_after(result, AT_FDCWD, path, st, 0);                               \
    }

STAT(stat, 0)
STAT(stat64, 0)
STAT(lstat, AT_SYMLINK_NOFOLLOW)
STAT(lstat64, AT_SYMLINK_NOFOLLOW)

#define FSTATAT(symbol)                                                                             \
    EXPORTED int amber_##symbol(int dirfd, const char *path, struct stat *st, int flags)          \
        __asm__(#symbol);                                                                           \
    int amber_##symbol(int dirfd, const char *path, struct stat *st, int flags)                    \
    {                                                                                               \
        STAT_FIRST(path)                                                                            \
        REAL_OF(fstatat_fn, real_##symbol, #symbol)                                                 \
        int result = real_##symbol != NULL ? real_##symbol(dirfd, path, st, flags)                 \
                                           : system_fstatat(dirfd, path, st, flags);                \
        return stat_after(result, dirfd, path, st, flags);                                          \
    }

FSTATAT(fstatat)
FSTATAT(fstatat64)

/* -- access ------------------------------------------------------------------------------------- */

static int
access_member(const char *name, int how)
{
    struct stat st;
    if (amber_stat_member(name, &st) != 0) {
        return -1;
    }
    if (how & W_OK) {
        errno = EROFS;
        return -1;
    }
    if ((how & X_OK) && !(st.st_mode & 0111)) {
        errno = EACCES;
        return -1;
    }
    return 0;
}

EXPORTED int amber_access(const char *path, int how) __asm__("access");
EXPORTED int amber_faccessat(int dirfd, const char *path, int how, int flags) __asm__("faccessat");

int
amber_access(const char *path, int how)
{
    NAME_BUFFER;
    if (amber_under_binary(path, name)) {
        return access_member(name, how);
    }
    REAL(access_fn, access)
    int result = real_access(path, how);
    if (result != 0 && errno == ENOTDIR && amber_other_name(AT_FDCWD, path, name)) {
        return access_member(name, how);
    }
    return result;
}

int
amber_faccessat(int dirfd, const char *path, int how, int flags)
{
    NAME_BUFFER;
    if (amber_under_binary(path, name)) {
        return access_member(name, how);
    }
    REAL(faccessat_fn, faccessat)
    int result = real_faccessat(dirfd, path, how, flags);
    if (result != 0 && errno == ENOTDIR && amber_other_name(dirfd, path, name)) {
        return access_member(name, how);
    }
    return result;
}

/* -- realpath, readlink ------------------------------------------------------------------------- */

/* realpath() of member or directory `name`: "<binary>/<name>", the normalized form. */
static char *
member_realpath(const char *name, char *resolved)
{
    int is_dir;
    if (amber_lookup(name, &is_dir) == NULL && !is_dir) {
        return NULL;
    }
    size_t base = amber_prefix_length - 1, length = base + (name[0] ? 1 + strlen(name) : 0);
    if (length >= PATH_MAX) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    char *out = resolved != NULL ? resolved : malloc(PATH_MAX);
    if (out == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    memcpy(out, amber_archive_path, base);
    out[base] = '\0';
    if (name[0]) {
        out[base] = '/';
        strcpy(out + base + 1, name);
    }
    return out;
}

EXPORTED char *amber_realpath(const char *path, char *resolved) __asm__("realpath");
EXPORTED char *amber___realpath_chk(const char *path, char *resolved, size_t size) __asm__("__realpath_chk");
EXPORTED ssize_t amber_readlink(const char *path, char *buffer, size_t size) __asm__("readlink");
EXPORTED ssize_t amber___readlink_chk(const char *path, char *buffer, size_t size, size_t room)
    __asm__("__readlink_chk");

char *
amber_realpath(const char *path, char *resolved)
{
    NAME_BUFFER;
    if (amber_under_binary(path, name)) {
        return member_realpath(name, resolved);
    }
    REAL(realpath_fn, realpath)
    char *out = real_realpath(path, resolved);
    if (out == NULL && errno == ENOTDIR && amber_other_name(AT_FDCWD, path, name)) {
        return member_realpath(name, resolved);
    }
    return out;
}

char *
amber___realpath_chk(const char *path, char *resolved, size_t size)
{
    if (resolved != NULL && size < PATH_MAX) {
        abort();  /* what glibc's check does: the buffer realpath() may fill is PATH_MAX bytes */
    }
    return amber_realpath(path, resolved);
}

/* Nothing inside the binary is a symbolic link. */
ssize_t
amber_readlink(const char *path, char *buffer, size_t size)
{
    NAME_BUFFER;
    int inside = amber_under_binary(path, name);
    ssize_t n = -1;
    if (!inside) {
        REAL(readlink_fn, readlink)
        n = real_readlink(path, buffer, size);
        inside = n < 0 && errno == ENOTDIR && amber_other_name(AT_FDCWD, path, name);
    }
    if (inside) {
        int is_dir;
        if (amber_lookup(name, &is_dir) != NULL || is_dir) {
            errno = EINVAL;
        }
        return -1;
    }
    return n;
}

ssize_t
amber___readlink_chk(const char *path, char *buffer, size_t size, size_t room)
{
    if (size > room) {
        abort();
    }
    return amber_readlink(path, buffer, size);
}
