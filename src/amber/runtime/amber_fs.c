/* amber_fs: files inside the binary are real to C code too.
 *
 * Compiled into the runtime ELF (Modules/Setup.local, *static*, with the
 * launcher calling amber_fs_init()). The ELF is linked with --export-dynamic,
 * so the libc functions defined here (open, fopen, stat, access and their
 * variants) are the ones every shared object the process loads binds to, and
 * the ones the interpreter itself calls: a path under the binary,
 * `<binary>/<member>` (what `__file__` names inside an app), is answered from
 * the archive appended to it. A file opened for reading is a sealed memory
 * file (memfd) holding the member, so read(), pread(), mmap() and fstat() work
 * on it; opening one for writing fails with EROFS. Every other path goes to
 * libc after one prefix comparison.
 *
 * The archive's index is read here on the first call that names a path under
 * the binary (its format: src/amber/archive/format.py, checked by
 * tests/test_archive.py), from the file itself, so no Python object is touched
 * and any thread may call in. Directories list through opendir/readdir and
 * realpath() normalizes; what is not here yet (issue #17): relative paths,
 * descriptors of directories (openat/fdopendir/dirfd), scandir(3) (glibc calls
 * its own opendir), and dlopen and execve of paths inside the binary (the boot
 * code's loaders serve those).
 */
#include "Python.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define AMBER_MAGIC "AMBER\0\1\0"
#define EOCD_SIZE 22
#define TRAILER_SIZE 40
#define RECORD_SIZE 32
#define LOCAL_HEADER_SIZE 30
#define METHOD_STORED 0
#define METHOD_DEFLATED 8
#define METHOD_ZSTD 93
#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#define MFD_ALLOW_SEALING 0x0002U
#endif
#ifndef O_TMPFILE
#define O_TMPFILE (020000000 | O_DIRECTORY)
#endif
#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#define F_SEAL_SEAL 0x0001
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW 0x0004
#define F_SEAL_WRITE 0x0008
#endif

/* -- the real functions ------------------------------------------------------------------------- */

typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef FILE *(*fopen_fn)(const char *, const char *);
typedef int (*xstat_fn)(int, const char *, struct stat *);
typedef int (*fxstatat_fn)(int, int, const char *, struct stat *, int);
typedef int (*stat_fn)(const char *, struct stat *);
typedef int (*fstatat_fn)(int, const char *, struct stat *, int);
typedef int (*access_fn)(const char *, int);
typedef int (*faccessat_fn)(int, const char *, int, int);

/* libc's definition of `name`, the one after this executable in the lookup order. */
static void *
real(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

#define REAL(type, name) \
    static type real_##name; \
    if (real_##name == NULL) { \
        real_##name = (type)real(#name); \
    }
/* The *64 functions are aliases of the plain ones on 64-bit targets; a libc without them (musl 1.2.4)
 * gets the plain one. */
#define REAL64(type, name, plain) \
    static type real_##name; \
    if (real_##name == NULL) { \
        real_##name = (type)real(#name); \
        if (real_##name == NULL) { \
            real_##name = (type)real(#plain); \
        } \
    }

/* -- the archive -------------------------------------------------------------------------------- */

struct member {
    const char *name;  /* points into index_data; not NUL-terminated */
    uint32_t length;
    uint32_t next;     /* next member in the same hash bucket, +1 (0: none) */
    uint64_t header;   /* absolute offset of the local header */
    uint32_t csize, size, crc;
    uint16_t method;
};

static char archive_path[PATH_MAX];
static char prefix[PATH_MAX + 2];  /* "<binary>/" */
static size_t prefix_length;       /* 0: this process has no archive */
static pthread_once_t index_once = PTHREAD_ONCE_INIT;
static int index_error;            /* errno to report when the index cannot be read */
static unsigned char *index_data;
static struct member *members;
static uint32_t member_count, *buckets, bucket_count;
static struct stat archive_stat;

/* The launcher: this binary is `self` and carries an archive. */
__attribute__((visibility("hidden"))) void
amber_fs_init(const char *self)
{
    size_t length = strlen(self);
    if (length == 0 || length + 1 >= sizeof(prefix) || self[0] != '/') {
        return;
    }
    memcpy(archive_path, self, length + 1);
    memcpy(prefix, self, length);
    prefix[length] = '/';
    prefix[length + 1] = '\0';
    prefix_length = length + 1;
}

static uint64_t
le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

static uint32_t
hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;  /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    }
    return h;
}

static int
real_open_readonly(const char *path)
{
    REAL(open_fn, open)
    return real_open == NULL ? -1 : real_open(path, O_RDONLY | O_CLOEXEC);
}

static int
archive_fd(void)
{
    /* One descriptor for the life of the process, opened with the index. */
    static int fd = -1;
    if (fd < 0) {
        fd = real_open_readonly(archive_path);
    }
    return fd;
}

/* marshal((names, records)) as archive/writer.py's marshal_index writes it. */
static int
parse_index(const unsigned char *p, size_t n)
{
    size_t at = 0;
    if (n < 10 || p[0] != '(' || le(p + 1, 4) != 2 || p[5] != '(') {
        return -1;
    }
    uint64_t count = le(p + 6, 4);
    at = 10;
    if (count > n) {
        return -1;
    }
    members = calloc(count ? count : 1, sizeof(*members));
    if (members == NULL) {
        return -1;
    }
    for (uint64_t i = 0; i < count; i++) {
        uint64_t length;
        if (at + 2 > n) {
            return -1;
        }
        if (p[at] == 'z') {
            length = p[at + 1];
            at += 2;
        }
        else if (p[at] == 'u' && at + 5 <= n) {
            length = le(p + at + 1, 4);
            at += 5;
        }
        else {
            return -1;
        }
        if (at + length > n) {
            return -1;
        }
        members[i].name = (const char *)p + at;
        members[i].length = (uint32_t)length;
        at += length;
    }
    if (at + 5 > n || p[at] != 's' || le(p + at + 1, 4) != count * RECORD_SIZE || at + 5 + count * RECORD_SIZE > n) {
        return -1;
    }
    const unsigned char *records = p + at + 5;
    bucket_count = 1;
    while (bucket_count < count * 2) {
        bucket_count <<= 1;
    }
    buckets = calloc(bucket_count, sizeof(*buckets));
    if (buckets == NULL) {
        return -1;
    }
    for (uint32_t i = 0; i < count; i++) {
        const unsigned char *r = records + (size_t)i * RECORD_SIZE;
        members[i].header = le(r, 8);
        members[i].csize = (uint32_t)le(r + 8, 4);
        members[i].size = (uint32_t)le(r + 12, 4);
        members[i].crc = (uint32_t)le(r + 16, 4);
        members[i].method = (uint16_t)le(r + 20, 2);
        uint32_t slot = hash(members[i].name, members[i].length) & (bucket_count - 1);
        members[i].next = buckets[slot];
        buckets[slot] = i + 1;
    }
    member_count = (uint32_t)count;
    return 0;
}

static void
load_index(void)
{
    unsigned char tail[EOCD_SIZE + TRAILER_SIZE];
    int fd = archive_fd();
    if (fd < 0 || fstat(fd, &archive_stat) != 0 || archive_stat.st_size < (off_t)sizeof(tail)
        || pread(fd, tail, sizeof(tail), archive_stat.st_size - (off_t)sizeof(tail)) != (ssize_t)sizeof(tail)
        || memcmp(tail + EOCD_SIZE, AMBER_MAGIC, 8) != 0) {
        index_error = EIO;
        return;
    }
    const unsigned char *t = tail + EOCD_SIZE;
    uint64_t offset = le(t + 16, 8), size = le(t + 24, 8);
    uint32_t crc = (uint32_t)le(t + 12, 4);
    if (size > (uint64_t)archive_stat.st_size || offset > (uint64_t)archive_stat.st_size - size
        || (index_data = malloc(size ? size : 1)) == NULL
        || pread(fd, index_data, size, (off_t)offset) != (ssize_t)size
        || crc32(0, index_data, (uInt)size) != crc || parse_index(index_data, size) != 0) {
        index_error = EIO;
    }
}

static struct member *
find(const char *name, size_t length)
{
    pthread_once(&index_once, load_index);
    if (index_error || bucket_count == 0) {
        return NULL;
    }
    for (uint32_t i = buckets[hash(name, length) & (bucket_count - 1)]; i; i = members[i - 1].next) {
        struct member *m = &members[i - 1];
        if (m->length == length && memcmp(m->name, name, length) == 0) {
            return m;
        }
    }
    return NULL;
}

/* The archive name `path` stands for, written to `out` (normalized: no ".", "..", "//"): 1 when the
 * path lies under the binary, 0 when it does not (then libc answers), with `out` "" for the root. */
static int
member_name(const char *path, char *out, size_t size)
{
    if (path == NULL || prefix_length == 0 || strncmp(path, prefix, prefix_length) != 0) {
        return 0;
    }
    size_t used = 0;
    const char *p = path + prefix_length;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.')) {
            /* "//" or "/./": nothing */
        }
        else if (n == 2 && p[0] == '.' && p[1] == '.') {
            if (used == 0) {
                return 0;  /* out of the archive: a real path again */
            }
            while (used > 0 && out[used - 1] != '/') {
                used--;
            }
            if (used > 0) {
                used--;
            }
        }
        else {
            if (used + n + 2 > size) {
                return 0;
            }
            if (used) {
                out[used++] = '/';
            }
            memcpy(out + used, p, n);
            used += n;
        }
        p += n;
        if (*p == '/') {
            p++;
        }
    }
    out[used] = '\0';
    return 1;
}

/* The member `name` (a file), or NULL with errno: ENOENT, EISDIR for a directory, EIO for a damaged archive. */
static struct member *
lookup(const char *name, int *is_dir)
{
    size_t length = strlen(name);
    *is_dir = length == 0;
    if (!*is_dir) {
        struct member *m = find(name, length);
        if (m != NULL) {
            return m;
        }
        char dir[PATH_MAX + 2];
        memcpy(dir, name, length);
        dir[length] = '/';
        *is_dir = find(dir, length + 1) != NULL;
    }
    else {
        pthread_once(&index_once, load_index);
    }
    errno = index_error ? index_error : *is_dir ? EISDIR : ENOENT;
    return NULL;
}

/* -- memory files ------------------------------------------------------------------------------- */

static int
anonymous_file(const char *name)
{
    char label[64] = "amber:";
    strncat(label, name, sizeof(label) - strlen(label) - 1);
    int fd = (int)syscall(SYS_memfd_create, label, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) {  /* no memfd (a kernel before 3.17, seccomp): an unlinked temporary file */
        REAL(open_fn, open)
        const char *tmp = getenv("TMPDIR");
        fd = real_open == NULL ? -1 : real_open(tmp && *tmp ? tmp : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    }
    return fd;
}

static int
write_all(int fd, const void *data, size_t size)
{
    const char *p = data;
    while (size) {
        ssize_t n = write(fd, p, size);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        p += n;
        size -= (size_t)n;
    }
    return 0;
}

/* Copy member `m`'s bytes, inflated and CRC-checked, into `fd`. */
static int
fill(int fd, const struct member *m)
{
    int archive = archive_fd();
    unsigned char local[LOCAL_HEADER_SIZE];
    if (pread(archive, local, sizeof(local), (off_t)m->header) != (ssize_t)sizeof(local)
        || memcmp(local, "PK\3\4", 4) != 0) {
        errno = EIO;
        return -1;
    }
    off_t data = (off_t)(m->header + LOCAL_HEADER_SIZE + le(local + 26, 2) + le(local + 28, 2));
    if (m->method == METHOD_STORED && m->csize == m->size) {
        off_t at = data;
        size_t left = m->size;
        while (left) {
            ssize_t n = sendfile(fd, archive, &at, left);
            if (n <= 0) {
                if (n < 0 && errno == EINTR) {
                    continue;
                }
                errno = EIO;
                return -1;
            }
            left -= (size_t)n;
        }
        return 0;  /* the archive's index was CRC-checked; a stored copy is verified by its size */
    }
    unsigned char *packed = malloc(m->csize ? m->csize : 1), *plain = malloc(m->size ? m->size : 1);
    int ok = packed != NULL && plain != NULL && pread(archive, packed, m->csize, data) == (ssize_t)m->csize;
    if (ok && m->method == METHOD_DEFLATED) {
        z_stream z = {0};
        ok = inflateInit2(&z, -15) == Z_OK;
        if (ok) {
            z.next_in = packed;
            z.avail_in = m->csize;
            z.next_out = plain;
            z.avail_out = m->size;
            ok = inflate(&z, Z_FINISH) == Z_STREAM_END && z.total_out == m->size;
            inflateEnd(&z);
        }
    }
    else if (ok && m->method == METHOD_ZSTD) {
        size_t made = ZSTD_decompress(plain, m->size, packed, m->csize);
        ok = !ZSTD_isError(made) && made == m->size;
    }
    else if (ok) {
        ok = m->method == METHOD_STORED && m->csize == m->size;
        if (ok) {
            memcpy(plain, packed, m->size);
        }
    }
    ok = ok && crc32(0, plain, m->size) == m->crc && write_all(fd, plain, m->size) == 0;
    free(packed);
    free(plain);
    if (!ok) {
        errno = EIO;
        return -1;
    }
    return 0;
}

/* A read-only descriptor holding member `name` (flags as open() got them), or -1 with errno. */
static int
open_member(const char *name, int flags)
{
    if ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC | O_APPEND))) {
        errno = EROFS;
        return -1;
    }
    int is_dir;
    struct member *m = lookup(name, &is_dir);
    if (m == NULL) {
        return -1;  /* directories: not yet (opendir of paths inside the binary) */
    }
    if (flags & O_DIRECTORY) {
        errno = ENOTDIR;
        return -1;
    }
    int fd = anonymous_file(name);
    if (fd < 0) {
        return -1;
    }
    if (fill(fd, m) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
    lseek(fd, 0, SEEK_SET);
    if (!(flags & O_CLOEXEC)) {
        fcntl(fd, F_SETFD, 0);
    }
    return fd;
}

/* stat() of a member or directory: its size, the binary's owner, device and times. */
static int
stat_member(const char *name, struct stat *st)
{
    int is_dir;
    struct member *m = lookup(name, &is_dir);
    if (m == NULL && !is_dir) {
        return -1;
    }
    *st = archive_stat;
    st->st_mode = is_dir ? (S_IFDIR | 0555) : (S_IFREG | 0444);
    st->st_nlink = is_dir ? 2 : 1;
    st->st_size = is_dir ? 0 : (off_t)m->size;
    st->st_blocks = (st->st_size + 511) / 512;
    st->st_ino = hash(name, strlen(name)) | 1;
    st->st_rdev = 0;
    return 0;
}

/* -- the interposed functions ------------------------------------------------------------------- */

/* Everything else is built with -fvisibility=hidden; these must be in the dynamic symbol table. */
#define EXPORTED __attribute__((visibility("default")))

#define NAME_BUFFER char name[PATH_MAX + 2]

static int
do_open(const char *path, int flags, mode_t mode, int dirfd, int at, int large)
{
    NAME_BUFFER;
    if (path != NULL && path[0] == '/' && member_name(path, name, sizeof(name))) {
        return open_member(name, flags);
    }
    if (at) {
        if (large) {
            REAL64(openat_fn, openat64, openat)
            return real_openat64(dirfd, path, flags, mode);
        }
        REAL(openat_fn, openat)
        return real_openat(dirfd, path, flags, mode);
    }
    if (large) {
        REAL64(open_fn, open64, open)
        return real_open64(path, flags, mode);
    }
    REAL(open_fn, open)
    return real_open(path, flags, mode);
}

static mode_t
mode_of(int flags, va_list ap)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

EXPORTED int amber_open(const char *path, int flags, ...) __asm__("open");
EXPORTED int amber_open64(const char *path, int flags, ...) __asm__("open64");
EXPORTED int amber_openat(int dirfd, const char *path, int flags, ...) __asm__("openat");
EXPORTED int amber_openat64(int dirfd, const char *path, int flags, ...) __asm__("openat64");

int
amber_open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_of(flags, ap);
    va_end(ap);
    return do_open(path, flags, mode, AT_FDCWD, 0, 0);
}

int
amber_open64(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_of(flags, ap);
    va_end(ap);
    return do_open(path, flags, mode, AT_FDCWD, 0, 1);
}

int
amber_openat(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_of(flags, ap);
    va_end(ap);
    return do_open(path, flags, mode, dirfd, 1, 0);
}

int
amber_openat64(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_of(flags, ap);
    va_end(ap);
    return do_open(path, flags, mode, dirfd, 1, 1);
}

static FILE *
do_fopen(const char *path, const char *how, int large)
{
    NAME_BUFFER;
    if (path != NULL && path[0] == '/' && member_name(path, name, sizeof(name))) {
        if (how == NULL || how[0] != 'r' || strchr(how, '+') != NULL) {
            errno = EROFS;
            return NULL;
        }
        int fd = open_member(name, O_RDONLY | (strchr(how, 'e') ? O_CLOEXEC : 0));
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
    if (large) {
        REAL64(fopen_fn, fopen64, fopen)
        return real_fopen64(path, how);
    }
    REAL(fopen_fn, fopen)
    return real_fopen(path, how);
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

/* glibc before 2.33 (what the runtime and manylinux2014-era objects link against) has no stat
 * symbols: its headers turn stat() into __xstat(_STAT_VER, ...); 2.33 and newer have stat() and keep
 * __xstat only for old objects. Each function here passes an ordinary path to libc's own symbol of
 * that name when libc has it (so an LD_PRELOAD shim still sees the call), else makes the system call
 * itself: struct stat is the kernel's on the 64-bit targets. */
static int
archive_stat_path(const char *path, struct stat *st, int *handled)
{
    NAME_BUFFER;
    *handled = path != NULL && path[0] == '/' && member_name(path, name, sizeof(name));
    return *handled ? stat_member(name, st) : 0;
}

static int
system_fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
    return (int)syscall(SYS_newfstatat, dirfd, path, st, flags);
}

#define XSTAT(symbol, nofollow)                                                         \
    EXPORTED int amber_##symbol(int ver, const char *path, struct stat *st) __asm__(#symbol);  \
    int amber_##symbol(int ver, const char *path, struct stat *st)                      \
    {                                                                                   \
        int handled, result = archive_stat_path(path, st, &handled);                    \
        if (handled) {                                                                  \
            return result;                                                              \
        }                                                                               \
        REAL(xstat_fn, symbol)                                                          \
        if (real_##symbol != NULL) {                                                    \
            return real_##symbol(ver, path, st);                                        \
        }                                                                               \
        return system_fstatat(AT_FDCWD, path, st, nofollow);                            \
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
        int handled, result = archive_stat_path(path, st, &handled);                                \
        if (handled) {                                                                              \
            return result;                                                                          \
        }                                                                                           \
        REAL(fxstatat_fn, symbol)                                                                   \
        if (real_##symbol != NULL) {                                                                \
            return real_##symbol(ver, dirfd, path, st, flags);                                      \
        }                                                                                           \
        return system_fstatat(dirfd, path, st, flags);                                              \
    }

FXSTATAT(__fxstatat)
FXSTATAT(__fxstatat64)

#define STAT(symbol, nofollow)                                                          \
    EXPORTED int amber_##symbol(const char *path, struct stat *st) __asm__(#symbol);    \
    int amber_##symbol(const char *path, struct stat *st)                               \
    {                                                                                   \
        int handled, result = archive_stat_path(path, st, &handled);                    \
        if (handled) {                                                                  \
            return result;                                                              \
        }                                                                               \
        REAL(stat_fn, symbol)                                                           \
        if (real_##symbol != NULL) {                                                    \
            return real_##symbol(path, st);                                             \
        }                                                                               \
        return system_fstatat(AT_FDCWD, path, st, nofollow);                            \
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
        int handled, result = archive_stat_path(path, st, &handled);                                \
        if (handled) {                                                                              \
            return result;                                                                          \
        }                                                                                           \
        REAL(fstatat_fn, symbol)                                                                    \
        if (real_##symbol != NULL) {                                                                \
            return real_##symbol(dirfd, path, st, flags);                                           \
        }                                                                                           \
        return system_fstatat(dirfd, path, st, flags);                                              \
    }

FSTATAT(fstatat)
FSTATAT(fstatat64)

static int
access_member(const char *name, int how)
{
    int is_dir;
    struct member *m = lookup(name, &is_dir);
    if (m == NULL && !is_dir) {
        return -1;
    }
    if (how & W_OK) {
        errno = EROFS;
        return -1;
    }
    if ((how & X_OK) && !is_dir) {
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
    if (path != NULL && path[0] == '/' && member_name(path, name, sizeof(name))) {
        return access_member(name, how);
    }
    REAL(access_fn, access)
    return real_access(path, how);
}

int
amber_faccessat(int dirfd, const char *path, int how, int flags)
{
    NAME_BUFFER;
    if (path != NULL && path[0] == '/' && member_name(path, name, sizeof(name))) {
        return access_member(name, how);
    }
    REAL(faccessat_fn, faccessat)
    return real_faccessat(dirfd, path, how, flags);
}

/* -- directories, realpath, readlink ------------------------------------------------------------ */

/* A directory of the archive opened by opendir(): its entries, listed once from the index. Only
 * handles in `open_dirs` are ours; readdir() and closedir() of any other DIR go to libc. */
struct archive_dir {
    struct archive_dir *next_open;
    uint32_t count, position;
    char **names;
    unsigned char *types;
    struct dirent64 entry;
};

static pthread_mutex_t dirs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct archive_dir *open_dirs;

static struct archive_dir *
ours(void *handle)
{
    if (__atomic_load_n(&open_dirs, __ATOMIC_ACQUIRE) == NULL) {
        return NULL;  /* no archive directory is open: every readdir() of the process is libc's at once */
    }
    pthread_mutex_lock(&dirs_lock);
    struct archive_dir *d = open_dirs;
    while (d != NULL && (void *)d != handle) {
        d = d->next_open;
    }
    pthread_mutex_unlock(&dirs_lock);
    return d;
}

static void
free_dir(struct archive_dir *d)
{
    for (uint32_t i = 0; i < d->count; i++) {
        free(d->names[i]);
    }
    free(d->names);
    free(d->types);
    free(d);
}

/* The entries of directory `name` ("" for the root): the members one level below it. */
static struct archive_dir *
list_dir(const char *name)
{
    size_t length = strlen(name);
    struct archive_dir *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        return NULL;
    }
    uint32_t room = 16;
    d->names = malloc(room * sizeof(*d->names));
    d->types = malloc(room);
    for (uint32_t i = 0; d->names != NULL && d->types != NULL && i < member_count; i++) {
        const struct member *m = &members[i];
        size_t start = length ? length + 1 : 0;
        if (m->length <= start || (length && (memcmp(m->name, name, length) != 0 || m->name[length] != '/'))) {
            continue;
        }
        const char *leaf = m->name + start;
        size_t n = m->length - start;
        const char *slash = memchr(leaf, '/', n);
        if (slash != NULL && (size_t)(slash - leaf) != n - 1) {
            continue;  /* deeper down */
        }
        if (d->count == room) {
            room *= 2;
            char **names = realloc(d->names, room * sizeof(*names));
            if (names != NULL) {
                d->names = names;
            }
            unsigned char *types = names != NULL ? realloc(d->types, room) : NULL;
            if (types == NULL) {
                free_dir(d);
                errno = ENOMEM;
                return NULL;
            }
            d->types = types;
        }
        size_t leaf_length = slash ? n - 1 : n;
        d->names[d->count] = strndup(leaf, leaf_length);
        d->types[d->count] = slash ? DT_DIR : DT_REG;
        if (d->names[d->count] == NULL) {
            free_dir(d);
            errno = ENOMEM;
            return NULL;
        }
        d->count++;
    }
    if (d->names == NULL || d->types == NULL) {
        free_dir(d);
        errno = ENOMEM;
        return NULL;
    }
    return d;
}

typedef DIR *(*opendir_fn)(const char *);
typedef struct dirent *(*readdir_fn)(DIR *);
typedef struct dirent64 *(*readdir64_fn)(DIR *);
typedef int (*closedir_fn)(DIR *);
typedef void (*rewinddir_fn)(DIR *);
typedef int (*dirfd_fn)(DIR *);
typedef char *(*realpath_fn)(const char *, char *);
typedef ssize_t (*readlink_fn)(const char *, char *, size_t);

EXPORTED DIR *amber_opendir(const char *path) __asm__("opendir");
EXPORTED struct dirent *amber_readdir(DIR *handle) __asm__("readdir");
EXPORTED struct dirent64 *amber_readdir64(DIR *handle) __asm__("readdir64");
EXPORTED int amber_closedir(DIR *handle) __asm__("closedir");
EXPORTED void amber_rewinddir(DIR *handle) __asm__("rewinddir");
EXPORTED int amber_dirfd(DIR *handle) __asm__("dirfd");
EXPORTED char *amber_realpath(const char *path, char *resolved) __asm__("realpath");
EXPORTED ssize_t amber_readlink(const char *path, char *buffer, size_t size) __asm__("readlink");

DIR *
amber_opendir(const char *path)
{
    NAME_BUFFER;
    if (path != NULL && path[0] == '/' && member_name(path, name, sizeof(name))) {
        int is_dir;
        if (lookup(name, &is_dir) != NULL) {
            errno = ENOTDIR;
            return NULL;
        }
        if (!is_dir) {
            return NULL;  /* errno: ENOENT, or EIO */
        }
        struct archive_dir *d = list_dir(name);
        if (d == NULL) {
            return NULL;
        }
        pthread_mutex_lock(&dirs_lock);
        d->next_open = open_dirs;
        __atomic_store_n(&open_dirs, d, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&dirs_lock);
        return (DIR *)d;
    }
    REAL(opendir_fn, opendir)
    return real_opendir(path);
}

/* The next entry of one of our directories, or NULL at its end (errno untouched, as readdir does). */
static struct dirent64 *
next_entry(struct archive_dir *d)
{
    if (d->position >= d->count) {
        return NULL;
    }
    const char *leaf = d->names[d->position];
    struct dirent64 *e = &d->entry;
    memset(e, 0, sizeof(*e));
    e->d_ino = hash(leaf, strlen(leaf)) | 1;
    e->d_off = ++d->position;
    e->d_reclen = sizeof(*e);
    e->d_type = d->types[d->position - 1];
    strncpy(e->d_name, leaf, sizeof(e->d_name) - 1);
    return e;
}

struct dirent *
amber_readdir(DIR *handle)
{
    struct archive_dir *d = ours(handle);
    if (d != NULL) {
        /* struct dirent and struct dirent64 are the same on the 64-bit targets */
        return (struct dirent *)next_entry(d);
    }
    REAL(readdir_fn, readdir)
    return real_readdir(handle);
}

struct dirent64 *
amber_readdir64(DIR *handle)
{
    struct archive_dir *d = ours(handle);
    if (d != NULL) {
        return next_entry(d);
    }
    REAL64(readdir64_fn, readdir64, readdir)
    return real_readdir64(handle);
}

int
amber_closedir(DIR *handle)
{
    struct archive_dir *d = NULL;
    if (__atomic_load_n(&open_dirs, __ATOMIC_ACQUIRE) != NULL) {
        pthread_mutex_lock(&dirs_lock);
        struct archive_dir **link = &open_dirs;
        while (*link != NULL && (void *)*link != (void *)handle) {
            link = &(*link)->next_open;
        }
        d = *link;
        if (d != NULL) {
            __atomic_store_n(link, d->next_open, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&dirs_lock);
    }
    if (d != NULL) {
        free_dir(d);
        return 0;
    }
    REAL(closedir_fn, closedir)
    return real_closedir(handle);
}

void
amber_rewinddir(DIR *handle)
{
    struct archive_dir *d = ours(handle);
    if (d != NULL) {
        d->position = 0;
        return;
    }
    REAL(rewinddir_fn, rewinddir)
    real_rewinddir(handle);
}

int
amber_dirfd(DIR *handle)
{
    if (ours(handle) != NULL) {
        errno = ENOTSUP;  /* a directory inside the binary has no descriptor */
        return -1;
    }
    REAL(dirfd_fn, dirfd)
    return real_dirfd(handle);
}

/* realpath() of a path under the binary: its normalized form, when it names a member or directory. */
char *
amber_realpath(const char *path, char *resolved)
{
    NAME_BUFFER;
    if (path != NULL && path[0] == '/' && member_name(path, name, sizeof(name))) {
        int is_dir;
        if (lookup(name, &is_dir) == NULL && !is_dir) {
            return NULL;
        }
        size_t length = prefix_length - 1 + (name[0] ? 1 + strlen(name) : 0);
        if (length >= PATH_MAX) {
            errno = ENAMETOOLONG;
            return NULL;
        }
        char *out = resolved != NULL ? resolved : malloc(PATH_MAX);
        if (out == NULL) {
            errno = ENOMEM;
            return NULL;
        }
        memcpy(out, archive_path, prefix_length - 1);
        if (name[0]) {
            out[prefix_length - 1] = '/';
            strcpy(out + prefix_length, name);
        }
        else {
            out[prefix_length - 1] = '\0';
        }
        return out;
    }
    REAL(realpath_fn, realpath)
    return real_realpath(path, resolved);
}

/* Nothing inside the binary is a symbolic link. */
ssize_t
amber_readlink(const char *path, char *buffer, size_t size)
{
    NAME_BUFFER;
    if (path != NULL && path[0] == '/' && member_name(path, name, sizeof(name))) {
        int is_dir;
        if (lookup(name, &is_dir) == NULL && !is_dir) {
            return -1;
        }
        errno = EINVAL;
        return -1;
    }
    REAL(readlink_fn, readlink)
    return real_readlink(path, buffer, size);
}

/* -- _amber_fs: what Python (tests, `amber inspect`) may ask ------------------------------------ */

static PyObject *
amber_fs_prefix(PyObject *module, PyObject *unused)
{
    return PyUnicode_DecodeFSDefaultAndSize(prefix, (Py_ssize_t)prefix_length);
}

static PyMethodDef amber_fs_methods[] = {
    {"prefix", amber_fs_prefix, METH_NOARGS,
     "prefix() -> str: '<binary>/', under which C code's open/fopen/stat/access read the archive ('' if none)."},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot amber_fs_slots[] = {
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
    {0, NULL},
};

static struct PyModuleDef amber_fs_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_amber_fs",
    .m_doc = "The C file layer of amber binaries: paths under the binary, read from its archive.",
    .m_size = 0,
    .m_methods = amber_fs_methods,
    .m_slots = amber_fs_slots,
};

PyMODINIT_FUNC
PyInit__amber_fs(void)
{
    return PyModuleDef_Init(&amber_fs_module);
}
