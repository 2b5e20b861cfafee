/* Directories inside the binary: opendir/fdopendir/readdir/scandir list them from the archive's index,
 * and open() of one gives a directory descriptor that openat/fstatat/faccessat/fdopendir accept.
 *
 * A directory descriptor is an empty memory file (in disk mode an unlinked temporary file) whose
 * device and inode are remembered here: libc fails openat(fd, "x") on it with ENOTDIR, and only then is
 * the table asked, so descriptors of real directories cost nothing. fstat() of one reports the archive
 * directory (os.fwalk compares the two). Each DIR handle we made is in `open_dirs`; readdir() and
 * closedir() of any other go to libc, without taking a lock while none of ours is open.
 */
#include "amber_fs.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#endif
#ifndef O_TMPFILE
#define O_TMPFILE (020000000 | O_DIRECTORY)
#endif

/* -- directory descriptors ---------------------------------------------------------------------- */

struct directory_fd {
    struct directory_fd *next;
    dev_t dev;
    ino_t ino;
    char *name;
};

static pthread_mutex_t fds_lock = PTHREAD_MUTEX_INITIALIZER;
static struct directory_fd *directory_fds;  /* never shrinks: a descriptor's close is not seen here */

int
amber_open_directory(const char *name, int flags)
{
    if ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC))) {
        errno = EISDIR;
        return -1;
    }
    char label[64] = "amber-dir:";
    strncat(label, name, sizeof(label) - strlen(label) - 1);
    int fd = amber_disk_mode() ? -1 : (int)syscall(SYS_memfd_create, label, MFD_CLOEXEC);
    if (fd < 0) {
        const char *tmp = getenv("TMPDIR");
        fd = (int)syscall(SYS_openat, AT_FDCWD, tmp && *tmp ? tmp : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    }
    struct stat st;
    struct directory_fd *entry = calloc(1, sizeof(*entry));
    if (fd < 0 || entry == NULL || syscall(SYS_fstat, fd, &st) != 0 || (entry->name = strdup(name)) == NULL) {
        int saved = fd < 0 ? errno : ENOMEM;
        if (fd >= 0) {
            close(fd);
        }
        free(entry);
        errno = saved;
        return -1;
    }
    entry->dev = st.st_dev;
    entry->ino = st.st_ino;
    pthread_mutex_lock(&fds_lock);
    entry->next = directory_fds;
    __atomic_store_n(&directory_fds, entry, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&fds_lock);
    if (!(flags & O_CLOEXEC)) {
        fcntl(fd, F_SETFD, 0);
    }
    return fd;
}

static const char *
directory_named_by(const struct stat *st)
{
    for (struct directory_fd *e = __atomic_load_n(&directory_fds, __ATOMIC_ACQUIRE); e != NULL; e = e->next) {
        if (e->ino == st->st_ino && e->dev == st->st_dev) {
            return e->name;
        }
    }
    return NULL;
}

/* The archive directory `fd` stands for, or NULL (any other descriptor). */
const char *
amber_directory_of(int fd)
{
    struct stat st;
    if (__atomic_load_n(&directory_fds, __ATOMIC_ACQUIRE) == NULL || syscall(SYS_fstat, fd, &st) != 0) {
        return NULL;
    }
    return directory_named_by(&st);
}

/* After a successful fstat() of `fd` into `st`: the archive directory's or member's own stat when `fd` is
 * a descriptor of ours. */
int
amber_fstat_ours(int fd, struct stat *st)
{
    amber_fstat_member(fd, st);
    if (__atomic_load_n(&directory_fds, __ATOMIC_ACQUIRE) == NULL) {
        return 0;
    }
    const char *name = directory_named_by(st);
    return name != NULL ? amber_stat_member(name, st) : 0;
}

typedef int (*fstat_fn)(int, struct stat *);
typedef int (*fxstat_fn)(int, int, struct stat *);

#define FSTAT(symbol)                                                               \
    EXPORTED int amber_##symbol(int fd, struct stat *st) __asm__(#symbol);          \
    int amber_##symbol(int fd, struct stat *st)                                     \
    {                                                                               \
        REAL_OF(fstat_fn, real_##symbol, #symbol)                                   \
        int result = real_##symbol != NULL ? real_##symbol(fd, st)                  \
                                           : (int)syscall(SYS_fstat, fd, st);       \
        if (result == 0) {                                                          \
            amber_fstat_ours(fd, st);                                          \
        }                                                                           \
        return result;                                                              \
    }

#define FXSTAT(symbol)                                                                     \
    EXPORTED int amber_##symbol(int ver, int fd, struct stat *st) __asm__(#symbol);        \
    int amber_##symbol(int ver, int fd, struct stat *st)                                   \
    {                                                                                      \
        REAL_OF(fxstat_fn, real_##symbol, #symbol)                                         \
        int result = real_##symbol != NULL ? real_##symbol(ver, fd, st)                    \
                                           : (int)syscall(SYS_fstat, fd, st);              \
        if (result == 0) {                                                                 \
            amber_fstat_ours(fd, st);                                                 \
        }                                                                                  \
        return result;                                                                     \
    }

FSTAT(fstat)
FSTAT(fstat64)
FXSTAT(__fxstat)
FXSTAT(__fxstat64)

/* -- DIR handles -------------------------------------------------------------------------------- */

/* A directory of the archive opened by opendir() or fdopendir(): its entries, listed once. */
struct archive_dir {
    struct archive_dir *next_open;
    char *name;
    int fd;  /* its descriptor: fdopendir()'s, or made by dirfd(); -1 until then */
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
    free(d->name);
    free(d);
}

static int
add_entry(struct archive_dir *d, uint32_t *room, const char *leaf, size_t length, unsigned char type)
{
    if (d->count == *room) {
        *room *= 2;
        char **names = realloc(d->names, *room * sizeof(*names));
        if (names == NULL) {
            return -1;
        }
        d->names = names;
        unsigned char *types = realloc(d->types, *room);
        if (types == NULL) {
            return -1;
        }
        d->types = types;
    }
    if ((d->names[d->count] = strndup(leaf, length)) == NULL) {
        return -1;
    }
    d->types[d->count++] = type;
    return 0;
}

/* The entries of directory `name` ("" for the root): "." and "..", as every real directory has them
 * (code that skips them by name works either way, code that counts on them too), then the members one
 * level below it. */
static struct archive_dir *
list_dir(const char *name)
{
    size_t length = strlen(name), start = length ? length + 1 : 0;
    uint32_t room = 16;
    struct archive_dir *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    d->fd = -1;
    d->name = strdup(name);
    d->names = malloc(room * sizeof(*d->names));
    d->types = malloc(room);
    int ok = d->name != NULL && d->names != NULL && d->types != NULL
             && add_entry(d, &room, ".", 1, DT_DIR) == 0 && add_entry(d, &room, "..", 2, DT_DIR) == 0;
    for (uint32_t i = 0; ok && i < amber_member_count; i++) {
        const struct member *m = &amber_members[i];
        if (m->length <= start || (length && (memcmp(m->name, name, length) != 0 || m->name[length] != '/'))) {
            continue;
        }
        const char *leaf = m->name + start;
        size_t n = m->length - start;
        const char *slash = memchr(leaf, '/', n);
        if (slash != NULL && (size_t)(slash - leaf) != n - 1) {
            continue;  /* deeper down */
        }
        ok = add_entry(d, &room, leaf, slash ? n - 1 : n, slash ? DT_DIR : DT_REG) == 0;
    }
    if (!ok) {
        free_dir(d);
        errno = ENOMEM;
        return NULL;
    }
    return d;
}

/* opendir() of archive directory `name`: a handle of ours, or NULL with errno. */
static DIR *
open_archive_dir(const char *name, int fd)
{
    int is_dir;
    if (amber_lookup(name, &is_dir) != NULL) {
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
    d->fd = fd;
    pthread_mutex_lock(&dirs_lock);
    d->next_open = open_dirs;
    __atomic_store_n(&open_dirs, d, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&dirs_lock);
    return (DIR *)d;
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
    e->d_ino = amber_hash(leaf, strlen(leaf)) | 1;
    e->d_off = ++d->position;
    e->d_reclen = sizeof(*e);
    e->d_type = d->types[d->position - 1];
    strncpy(e->d_name, leaf, sizeof(e->d_name) - 1);
    return e;
}

typedef DIR *(*opendir_fn)(const char *);
typedef DIR *(*fdopendir_fn)(int);
typedef struct dirent *(*readdir_fn)(DIR *);
typedef struct dirent64 *(*readdir64_fn)(DIR *);
typedef int (*readdir_r_fn)(DIR *, struct dirent *, struct dirent **);
typedef int (*readdir64_r_fn)(DIR *, struct dirent64 *, struct dirent64 **);
typedef int (*closedir_fn)(DIR *);
typedef void (*rewinddir_fn)(DIR *);
typedef int (*dirfd_fn)(DIR *);
typedef int (*select_fn)(const struct dirent *);
typedef int (*compare_fn)(const struct dirent **, const struct dirent **);
typedef int (*scandir_fn)(const char *, struct dirent ***, select_fn, compare_fn);
typedef int (*select64_fn)(const struct dirent64 *);
typedef int (*compare64_fn)(const struct dirent64 **, const struct dirent64 **);
typedef int (*scandir64_fn)(const char *, struct dirent64 ***, select64_fn, compare64_fn);

EXPORTED DIR *amber_opendir(const char *path) __asm__("opendir");
EXPORTED DIR *amber_fdopendir(int fd) __asm__("fdopendir");
EXPORTED struct dirent *amber_readdir(DIR *handle) __asm__("readdir");
EXPORTED struct dirent64 *amber_readdir64(DIR *handle) __asm__("readdir64");
EXPORTED int amber_readdir_r(DIR *handle, struct dirent *entry, struct dirent **result) __asm__("readdir_r");
EXPORTED int amber_readdir64_r(DIR *handle, struct dirent64 *entry, struct dirent64 **result)
    __asm__("readdir64_r");
EXPORTED int amber_closedir(DIR *handle) __asm__("closedir");
EXPORTED void amber_rewinddir(DIR *handle) __asm__("rewinddir");
EXPORTED int amber_dirfd(DIR *handle) __asm__("dirfd");
EXPORTED int amber_scandir(const char *path, struct dirent ***list, select_fn select, compare_fn compare)
    __asm__("scandir");
EXPORTED int amber_scandir64(const char *path, struct dirent64 ***list, select64_fn select, compare64_fn compare)
    __asm__("scandir64");

DIR *
amber_opendir(const char *path)
{
    NAME_BUFFER;
    if (amber_under_binary(path, name)) {
        return open_archive_dir(name, -1);
    }
    REAL(opendir_fn, opendir)
    DIR *handle = real_opendir(path);
    if (handle == NULL && errno == ENOTDIR && amber_other_name(AT_FDCWD, path, name)) {
        return open_archive_dir(name, -1);
    }
    return handle;
}

DIR *
amber_fdopendir(int fd)
{
    REAL(fdopendir_fn, fdopendir)
    DIR *handle = real_fdopendir(fd);
    if (handle == NULL && errno == ENOTDIR) {
        const char *name = amber_directory_of(fd);
        if (name != NULL) {
            return open_archive_dir(name, fd);
        }
        errno = ENOTDIR;
    }
    return handle;
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
    REAL(readdir64_fn, readdir64)
    return real_readdir64(handle);
}

/* readdir_r() of one of ours: the next entry copied into the caller's `entry`, `*result` it or NULL at the end. */
static int
next_entry_into(struct archive_dir *d, struct dirent64 *entry, struct dirent64 **result)
{
    struct dirent64 *next = next_entry(d);
    if (next != NULL) {
        memcpy(entry, next, sizeof(*entry));
    }
    *result = next != NULL ? entry : NULL;
    return 0;
}

int
amber_readdir_r(DIR *handle, struct dirent *entry, struct dirent **result)
{
    struct archive_dir *d = ours(handle);
    if (d != NULL) {
        return next_entry_into(d, (struct dirent64 *)entry, (struct dirent64 **)result);
    }
    REAL(readdir_r_fn, readdir_r)
    return real_readdir_r(handle, entry, result);
}

int
amber_readdir64_r(DIR *handle, struct dirent64 *entry, struct dirent64 **result)
{
    struct archive_dir *d = ours(handle);
    if (d != NULL) {
        return next_entry_into(d, entry, result);
    }
    REAL(readdir64_r_fn, readdir64_r)
    return real_readdir64_r(handle, entry, result);
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
        if (d->fd >= 0) {
            close(d->fd);
        }
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
    struct archive_dir *d = ours(handle);
    if (d != NULL) {
        if (d->fd < 0) {
            d->fd = amber_open_directory(d->name, O_RDONLY | O_CLOEXEC);
        }
        return d->fd;
    }
    REAL(dirfd_fn, dirfd)
    return real_dirfd(handle);
}

/* scandir(3) of an archive directory: glibc's own calls its internal opendir, which we cannot see. The
 * entries are malloc()ed one by one, as the caller frees them. */
static int
scan_archive_dir(const char *name, struct dirent64 ***list, int (*select)(const struct dirent64 *),
                 int (*compare)(const void *, const void *))
{
    DIR *handle = open_archive_dir(name, -1);
    if (handle == NULL) {
        return -1;
    }
    struct archive_dir *d = (struct archive_dir *)handle;
    struct dirent64 **entries = malloc((d->count ? d->count : 1) * sizeof(*entries)), *e;
    int count = 0;
    while (entries != NULL && (e = next_entry(d)) != NULL) {
        if (select != NULL && !select(e)) {
            continue;
        }
        struct dirent64 *copy = malloc(sizeof(*copy));
        if (copy == NULL) {
            while (count > 0) {
                free(entries[--count]);
            }
            free(entries);
            entries = NULL;
            break;
        }
        memcpy(copy, e, sizeof(*copy));
        entries[count++] = copy;
    }
    amber_closedir(handle);
    if (entries == NULL) {
        errno = ENOMEM;
        return -1;
    }
    if (compare != NULL && count > 1) {
        qsort(entries, (size_t)count, sizeof(*entries), compare);
    }
    *list = entries;
    return count;
}

int
amber_scandir(const char *path, struct dirent ***list, select_fn select, compare_fn compare)
{
    NAME_BUFFER;
    int inside = amber_under_binary(path, name), count = -1;
    if (!inside) {
        REAL(scandir_fn, scandir)
        count = real_scandir(path, list, select, compare);
        inside = count < 0 && errno == ENOTDIR && amber_other_name(AT_FDCWD, path, name);
    }
    if (inside) {
        return scan_archive_dir(name, (struct dirent64 ***)list, (int (*)(const struct dirent64 *))select,
                                (int (*)(const void *, const void *))compare);
    }
    return count;
}

int
amber_scandir64(const char *path, struct dirent64 ***list, select64_fn select, compare64_fn compare)
{
    NAME_BUFFER;
    int inside = amber_under_binary(path, name), count = -1;
    if (!inside) {
        REAL(scandir64_fn, scandir64)
        count = real_scandir64(path, list, select, compare);
        inside = count < 0 && errno == ENOTDIR && amber_other_name(AT_FDCWD, path, name);
    }
    if (inside) {
        return scan_archive_dir(name, list, select, (int (*)(const void *, const void *))compare);
    }
    return count;
}
