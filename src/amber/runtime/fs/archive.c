/* The archive appended to the binary, as C sees it: its index, its amber_members in sealed memory files, and
 * the names paths under the binary stand for. See amber_fs.h for the whole layer.
 *
 * The index is read here on the first call that names a path under the binary (its format:
 * src/amber/archive/format.py, checked by tests/test_archive.py), from the file itself, so no Python
 * object is touched and any thread may call in.
 */
#include "amber_fs.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <zlib.h>
#define ZSTD_STATIC_LINKING_ONLY  /* ZSTD_getFrameHeader: libzstd is linked statically */
#include <zstd.h>
#include <lz4.h>
#include <lzma.h>

#define AMBER_MAGIC "AMBER\0\1\0"
#define EOCD_SIZE 22
#define TRAILER_SIZE 40
#define RECORD_SIZE 32
#define LOCAL_HEADER_SIZE 30
#define METHOD_STORED 0
#define METHOD_DEFLATED 8
#define METHOD_ZSTD 93
#define METHOD_LZ4 AMBER_METHOD_LZ4
#define METHOD_XZ 95  /* APPNOTE 4.4.5: XZ data (one .xz stream) */
#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#define MFD_ALLOW_SEALING 0x0002U
#endif
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
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

typedef int (*open_fn)(const char *, int, ...);

/* -- the archive -------------------------------------------------------------------------------- */

char amber_archive_path[PATH_MAX];
char amber_prefix[PATH_MAX + 2];  /* "<binary>/" */
size_t amber_prefix_length;
static pthread_once_t index_once = PTHREAD_ONCE_INIT;
static int index_error;            /* errno to report when the index cannot be read */
static unsigned char *index_data;
struct member *amber_members;
uint32_t amber_member_count;
static uint32_t *buckets, bucket_count;
static struct stat archive_stat;

/* The launcher: this binary is `self` and carries an archive. */
void
amber_fs_init(const char *self)
{
    size_t length = strlen(self);
    if (length == 0 || length + 1 >= sizeof(amber_prefix) || self[0] != '/') {
        return;
    }
    memcpy(amber_archive_path, self, length + 1);
    memcpy(amber_prefix, self, length);
    amber_prefix[length] = '/';
    amber_prefix[length + 1] = '\0';
    amber_prefix_length = length + 1;
}

uint64_t
amber_read_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

void *
amber_real(const char *name)
{
    void *found = dlsym(RTLD_NEXT, name);
    size_t length = strlen(name);
    if (found == NULL && length > 2 && length < 64 && strcmp(name + length - 2, "64") == 0) {
        char plain[64];
        memcpy(plain, name, length - 2);
        plain[length - 2] = '\0';
        found = dlsym(RTLD_NEXT, plain);
    }
    return found;
}

uint32_t
amber_hash(const char *s, size_t n)
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
        fd = real_open_readonly(amber_archive_path);
    }
    return fd;
}

/* marshal((names, records)) as archive/writer.py's marshal_index writes it. */
static int
parse_index(const unsigned char *p, size_t n)
{
    size_t at = 0;
    if (n < 10 || p[0] != '(' || amber_read_le(p + 1, 4) != 2 || p[5] != '(') {
        return -1;
    }
    uint64_t count = amber_read_le(p + 6, 4);
    at = 10;
    if (count > n) {
        return -1;
    }
    amber_members = calloc(count ? count : 1, sizeof(*amber_members));
    if (amber_members == NULL) {
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
            length = amber_read_le(p + at + 1, 4);
            at += 5;
        }
        else {
            return -1;
        }
        if (at + length > n) {
            return -1;
        }
        amber_members[i].name = (const char *)p + at;
        amber_members[i].length = (uint32_t)length;
        at += length;
    }
    if (at + 5 > n || p[at] != 's' || amber_read_le(p + at + 1, 4) != count * RECORD_SIZE || at + 5 + count * RECORD_SIZE > n) {
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
        amber_members[i].header = amber_read_le(r, 8);
        amber_members[i].csize = (uint32_t)amber_read_le(r + 8, 4);
        amber_members[i].size = (uint32_t)amber_read_le(r + 12, 4);
        amber_members[i].crc = (uint32_t)amber_read_le(r + 16, 4);
        amber_members[i].method = (uint16_t)amber_read_le(r + 20, 2);
        amber_members[i].mode = (uint16_t)amber_read_le(r + 26, 2);
        uint32_t slot = amber_hash(amber_members[i].name, amber_members[i].length) & (bucket_count - 1);
        amber_members[i].next = buckets[slot];
        buckets[slot] = i + 1;
    }
    amber_member_count = (uint32_t)count;
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
    uint64_t offset = amber_read_le(t + 16, 8), size = amber_read_le(t + 24, 8);
    uint32_t crc = (uint32_t)amber_read_le(t + 12, 4);
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
    for (uint32_t i = buckets[amber_hash(name, length) & (bucket_count - 1)]; i; i = amber_members[i - 1].next) {
        struct member *m = &amber_members[i - 1];
        if (m->length == length && memcmp(m->name, name, length) == 0) {
            return m;
        }
    }
    return NULL;
}

/* -- names -------------------------------------------------------------------------------------- */

/* Append the components of `rest` to the member name in `out` (`used` bytes so far), resolving "." and
 * "..": 1, or 0 when ".." climbs out of the archive (a real path again) or the name grows too long. */
static int
append_components(const char *rest, char *out, size_t used)
{
    const char *p = rest;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.')) {
            /* "//" or "/./": nothing */
        }
        else if (n == 2 && p[0] == '.' && p[1] == '.') {
            if (used == 0) {
                return 0;
            }
            while (used > 0 && out[used - 1] != '/') {
                used--;
            }
            if (used > 0) {
                used--;
            }
        }
        else {
            if (used + n + 2 > NAME_SIZE) {
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

/* The fast path every interposed call takes first: 1 with the member name `path` stands for in `name`
 * (normalized, "" for the archive's root) when it starts with "<binary>/", else 0 and libc answers. */
int
amber_under_binary(const char *path, char *name)
{
    if (path == NULL || path[0] != '/' || amber_prefix_length == 0
        || strncmp(path, amber_prefix, amber_prefix_length) != 0) {
        return 0;
    }
    return append_components(path + amber_prefix_length, name, 0);
}

/* `relative` below archive directory `directory`, as a member name. */
int
amber_join(const char *directory, const char *relative, char *name)
{
    size_t used = strlen(directory);
    if (used + 2 > NAME_SIZE) {
        return 0;
    }
    memcpy(name, directory, used + 1);
    return append_components(relative, name, used);
}

/* Walk `path` (relative to `dirfd`) one component at a time until a prefix is not a directory: when that
 * is this binary (same device and inode: a relative path, a symbolic or hard link to it), the rest names
 * a member. Only called after libc failed with ENOTDIR, which any path through a regular file gets. */
static int
through_binary(int dirfd, const char *path, char *name)
{
    size_t length = strlen(path);
    char copy[NAME_SIZE];
    if (length >= sizeof(copy)) {
        return 0;
    }
    memcpy(copy, path, length + 1);
    pthread_once(&index_once, load_index);
    if (index_error) {
        return 0;
    }
    for (size_t i = 1; i <= length; i++) {
        if (i < length && copy[i] != '/') {
            continue;
        }
        struct stat st;
        copy[i] = '\0';
        long failed = syscall(SYS_newfstatat, dirfd, copy, &st, 0);
        copy[i] = path[i];
        if (failed) {
            return 0;
        }
        if (S_ISDIR(st.st_mode)) {
            continue;
        }
        if (!S_ISREG(st.st_mode) || st.st_dev != archive_stat.st_dev || st.st_ino != archive_stat.st_ino) {
            return 0;
        }
        return append_components(path + i, name, 0);
    }
    return 0;
}

/* The slow path, after libc failed a call with ENOTDIR: 1 with the member name when `path` (relative to
 * `dirfd`) reaches into the archive by another name or below one of our directory descriptors. errno is
 * left as it was, so a 0 lets the caller return libc's failure untouched. */
int
amber_other_name(int dirfd, const char *path, char *name)
{
    if (path == NULL || path[0] == '\0' || amber_prefix_length == 0) {
        return 0;
    }
    int saved = errno, found = 0;
    if (path[0] != '/' && dirfd != AT_FDCWD) {
        const char *directory = amber_directory_of(dirfd);
        found = directory != NULL && amber_join(directory, path, name);
    }
    if (!found) {
        found = through_binary(dirfd, path, name);
    }
    errno = saved;
    return found;
}

/* The member `name` (a file), or NULL with errno: ENOENT, EISDIR for a directory, EIO for a damaged archive. */
struct member *
amber_lookup(const char *name, int *is_dir)
{
    size_t length = strlen(name);
    *is_dir = length == 0;
    if (!*is_dir) {
        struct member *m = find(name, length);
        if (m != NULL) {
            return m;
        }
        char dir[NAME_SIZE + 1];
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

/* vm.memfd_noexec (Linux 6.3+): 0 or absent, memory files are executable; 1, only when created with
 * MFD_EXEC; 2, never. */
static int
memfd_noexec(void)
{
    static int policy = -1;
    if (policy < 0) {
        char text[8] = "";
        int fd = real_open_readonly("/proc/sys/vm/memfd_noexec");
        ssize_t n = fd < 0 ? 0 : read(fd, text, sizeof(text) - 1);
        if (fd >= 0) {
            close(fd);
        }
        policy = n > 0 ? atoi(text) : 0;
    }
    return policy;
}

static int
anonymous_file(const char *name, int executable)
{
    char label[64] = "amber:";
    strncat(label, name, sizeof(label) - strlen(label) - 1);
    unsigned int flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
    if (executable && memfd_noexec() >= 2) {
        errno = EACCES;
        return -1;
    }
    if (executable && memfd_noexec() == 1) {
        flags |= MFD_EXEC;
    }
    int fd = amber_disk_mode() ? -1 : (int)syscall(SYS_memfd_create, label, flags);
    if (fd < 0 && !executable) {  /* no memfd (a kernel before 3.17, seccomp): an unlinked temporary file */
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

/* One zstd frame into `out`, with `dictionary` if not NULL. A context is kept for the small members most
 * reads are: creating one per call costs more than decompressing a small file; frames with a dictionary
 * get one of their own, so that code read between data files finds the dictionary's tables still in its
 * context. Any thread may call this (it serves libc's open()); when another one holds the kept context
 * (or held it across fork()), a fresh context is used. */
static size_t
zstd_decompress(void *out, size_t size, const void *in, size_t in_size, const ZSTD_DDict *dictionary)
{
    static pthread_mutex_t locks[2] = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER};
    static ZSTD_DCtx *kept[2];
    int which = dictionary != NULL;
    if (size <= (1 << 20) && pthread_mutex_trylock(&locks[which]) == 0) {
        if (kept[which] == NULL) {
            kept[which] = ZSTD_createDCtx();
        }
        size_t made = kept[which] == NULL ? (size_t)-ZSTD_error_memory_allocation
                                          : ZSTD_decompress_usingDDict(kept[which], out, size, in, in_size, dictionary);
        pthread_mutex_unlock(&locks[which]);
        return made;
    }
    ZSTD_DCtx *fresh = ZSTD_createDCtx();
    if (fresh == NULL) {
        return (size_t)-ZSTD_error_memory_allocation;
    }
    size_t made = ZSTD_decompress_usingDDict(fresh, out, size, in, in_size, dictionary);
    ZSTD_freeDCtx(fresh);
    return made;
}

/* -- zstd dictionaries (archive/dictionaries.py) ---------------------------------------------------- */

/* The archive's `.amber/zstd/<kind>-<id>.dict` members: what every .pyc (or .py) file has in common, which
 * its frame refers into. Each is read the first time a frame names its id, found by the id in its name,
 * and kept for the life of the process (the DDict refers into the bytes read, copying nothing). */
#define DICTIONARY_DIR ".amber/zstd/"
#define DICTIONARY_SUFFIX ".dict"
#define MAX_DICTIONARIES 8
static pthread_mutex_t dictionaries_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    unsigned id;
    const struct member *member;
    const ZSTD_DDict *ddict;  /* NULL: not read yet, or missing or damaged */
    int read;
} dictionaries[MAX_DICTIONARIES];
static int dictionary_count = -1;  /* -1: the archive's dictionaries not listed yet */
/* Set while this thread reads a dictionary: a dictionary's own frame may not need one (damage could make
 * it name one, and waiting for the lock this thread holds would never end). */
static __thread int loading_dictionaries;

/* The id in member `m`'s name if it is a zstd dictionary (`.amber/zstd/<kind>-<id>.dict`), else 0. */
static unsigned
dictionary_id_of(const struct member *m)
{
    size_t dir = sizeof(DICTIONARY_DIR) - 1, suffix = sizeof(DICTIONARY_SUFFIX) - 1;
    if (m->length <= dir + suffix || memcmp(m->name, DICTIONARY_DIR, dir) != 0
        || memcmp(m->name + m->length - suffix, DICTIONARY_SUFFIX, suffix) != 0) {
        return 0;
    }
    size_t end = m->length - suffix, start = end;
    while (start > dir && m->name[start - 1] >= '0' && m->name[start - 1] <= '9') {
        start--;
    }
    if (start == end || end - start > 10 || m->name[start - 1] != '-') {
        return 0;
    }
    unsigned long long id = 0;
    for (size_t i = start; i < end; i++) {
        id = id * 10 + (unsigned)(m->name[i] - '0');
    }
    return id <= 0xFFFFFFFFu ? (unsigned)id : 0;
}

/* Member `m`, the dictionary `id`, read and made a DDict that refers into the bytes read; NULL if damaged. */
static const ZSTD_DDict *
load_dictionary(const struct member *m, unsigned id)
{
    unsigned char *data = malloc(m->size ? m->size : 1);
    const char *why = NULL;
    ZSTD_DDict *ddict = NULL;
    loading_dictionaries = 1;
    if (data != NULL && amber_read_member(m->header, m->length, m->csize, m->size, m->method, m->crc, data,
                                          &why) == 0
        && ZSTD_getDictID_fromDict(data, m->size) == id) {
        ddict = ZSTD_createDDict_byReference(data, m->size);
    }
    loading_dictionaries = 0;
    if (ddict == NULL) {
        free(data);  /* else the DDict refers into it, for good */
    }
    return ddict;
}

/* The dictionary `id` of this binary's archive, or NULL. The archive's dictionaries are listed once (a
 * frame naming an id the archive has none for, damaged or from another zip, costs a look at the list and
 * takes no room in it); each is read the first time a frame names it. */
static const ZSTD_DDict *
dictionary(unsigned id)
{
    if (loading_dictionaries) {
        return NULL;
    }
    pthread_mutex_lock(&dictionaries_lock);
    if (dictionary_count < 0) {
        dictionary_count = 0;
        (void)find("", 0);  /* reads the index if nothing has yet (no member has the empty name) */
        for (uint32_t i = 0; i < amber_member_count && dictionary_count < MAX_DICTIONARIES; i++) {
            unsigned named = dictionary_id_of(&amber_members[i]);
            if (named != 0) {
                dictionaries[dictionary_count].id = named;
                dictionaries[dictionary_count++].member = &amber_members[i];
            }
        }
    }
    const ZSTD_DDict *found = NULL;
    for (int i = 0; i < dictionary_count; i++) {
        if (dictionaries[i].id == id) {
            if (!dictionaries[i].read) {
                dictionaries[i].read = 1;
                dictionaries[i].ddict = load_dictionary(dictionaries[i].member, id);
            }
            found = dictionaries[i].ddict;
            break;
        }
    }
    pthread_mutex_unlock(&dictionaries_lock);
    return found;
}

static const char missing_dictionary[] = "its zstd dictionary is missing or damaged";

/* One whole zstd frame of exactly `size` bytes into `out`, checked by zstd's content checksum, which the frame
 * must carry (damage could clear the flag in its header), with the archive's dictionary its header names.
 * NULL, or why not. */
static const char *
zstd_unpack(const void *in, size_t in_size, void *out, size_t size)
{
    ZSTD_FrameHeader frame;
    if (ZSTD_getFrameHeader(&frame, in, in_size) != 0 || frame.frameType != ZSTD_frame) {
        return "not a whole zstd frame";
    }
    if (!frame.checksumFlag) {
        return "frame without a content checksum";
    }
    const ZSTD_DDict *ddict = NULL;
    if (frame.dictID != 0 && (ddict = dictionary(frame.dictID)) == NULL) {
        return missing_dictionary;
    }
    size_t made = zstd_decompress(out, size, in, in_size, ddict);
    if (ZSTD_isError(made)) {
        return ZSTD_getErrorName(made);
    }
    return made == size ? NULL : "size mismatch";
}

/* `size` bytes of one member's `packed` data, as `method` stored them, into `out`, checked: the CRC of
 * stored, deflated and LZ4 data; zstd's own checksum, which the frame must carry, for zstd. NULL, or why
 * not. _amber_fs.unpack calls it too: zipfile, zipimport for another zip, and amber's build side in a
 * self-built amber. */
const char *
amber_unpack(const unsigned char *packed, uint32_t csize, uint32_t size, uint16_t method, uint32_t crc,
             unsigned char *out)
{
    if (method == METHOD_STORED) {
        if (csize != size) {
            return "size mismatch";
        }
        memcpy(out, packed, size);
    }
    else if (method == METHOD_DEFLATED) {
        z_stream z = {0};
        if (inflateInit2(&z, -15) != Z_OK) {
            return "does not inflate";
        }
        z.next_in = (unsigned char *)packed;
        z.avail_in = csize;
        z.next_out = out;
        z.avail_out = size;
        int done = inflate(&z, Z_FINISH) == Z_STREAM_END && z.total_out == size;
        inflateEnd(&z);
        if (!done) {
            return "does not inflate";
        }
    }
    else if (method == METHOD_ZSTD) {
        const char *why = zstd_unpack(packed, csize, out, size);
        return why == NULL || why == missing_dictionary ? why : "does not decompress";
    }
    else if (method == METHOD_LZ4) {
        /* one raw LZ4 block (the start-up code: it decompresses three times faster than zstd); the
         * safe decoder never reads or writes outside the two buffers, whatever the bytes */
        if (csize > INT_MAX || size > INT_MAX
            || LZ4_decompress_safe((const char *)packed, (char *)out, (int)csize, (int)size) != (int)size) {
            return "does not decompress";
        }
    }
    else if (method == METHOD_XZ) {
        /* one .xz stream, written without a check of its own (the shared objects no start loads: smaller
         * than zstd, ten times slower to decompress, once per machine); the zip CRC is checked below */
        uint64_t memlimit = (uint64_t)1 << 28;  /* amber writes dictionaries of 64 MiB at most */
        size_t in_pos = 0, out_pos = 0;
        if (lzma_stream_buffer_decode(&memlimit, 0, NULL, packed, &in_pos, csize, out, &out_pos, size) != LZMA_OK
            || in_pos != csize || out_pos != size) {
            return "does not decompress";
        }
    }
    else {
        return "unknown compression method";
    }
    return crc32(0, out, size) == crc ? NULL : "CRC mismatch";
}

/* The importer's read of a member of this binary (_amber_fs.read_member): one pread() of the local header,
 * the name and the data (a second one if the header has an extra field, which amber never writes), then
 * unpack() into `out`. 0; -1 with errno set (an I/O error); or 1 with *why (damage). */
int
amber_read_member(uint64_t header, size_t name_length, uint32_t csize, uint32_t size, uint16_t method,
                  uint32_t crc, unsigned char *out, const char **why)
{
    int archive = archive_fd();
    if (archive < 0) {
        return -1;
    }
    size_t want = LOCAL_HEADER_SIZE + name_length + csize;
    unsigned char small[16384];
    unsigned char *buffer = want <= sizeof(small) ? small : malloc(want);
    if (buffer == NULL) {
        return -1;
    }
    int status = 0;
    ssize_t got = pread(archive, buffer, want, (off_t)header);
    const unsigned char *packed = buffer + LOCAL_HEADER_SIZE + name_length;
    unsigned char *extra = NULL;
    if (got < 0) {
        status = -1;
    }
    else if (got < LOCAL_HEADER_SIZE || memcmp(buffer, "PK\3\4", 4) != 0) {
        *why = "bad local file header";
        status = 1;
    }
    else if (amber_read_le(buffer + 26, 2) + amber_read_le(buffer + 28, 2) != name_length) {
        /* another writer's extra field: the data starts further on */
        uint64_t at = header + LOCAL_HEADER_SIZE + amber_read_le(buffer + 26, 2) + amber_read_le(buffer + 28, 2);
        extra = malloc(csize ? csize : 1);
        if (extra == NULL || pread(archive, extra, csize, (off_t)at) != (ssize_t)csize) {
            *why = "truncated";
            status = extra == NULL ? -1 : 1;
        }
        packed = extra;
    }
    else if ((size_t)got != want) {
        *why = "truncated";
        status = 1;
    }
    if (status == 0 && (*why = amber_unpack(packed, csize, size, method, crc, out)) != NULL) {
        status = 1;
    }
    free(extra);
    if (buffer != small) {
        free(buffer);
    }
    return status;
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
    off_t data = (off_t)(m->header + LOCAL_HEADER_SIZE + amber_read_le(local + 26, 2) + amber_read_le(local + 28, 2));
    if (m->method == METHOD_STORED && m->csize == m->size) {
        off_t at = data;
        size_t left = m->size;
        while (left) {
            ssize_t n = sendfile(fd, archive, &at, left);
            if (n <= 0) {
                if (n < 0 && errno == EINTR) {
                    continue;
                }
                if (n == 0) {
                    errno = EIO;  /* the archive ends inside the member */
                }
                return -1;  /* else the write's own error (a full disk) */
            }
            left -= (size_t)n;
        }
        return 0;  /* the archive's index was CRC-checked; a stored copy is verified by its size */
    }
    unsigned char *packed = malloc(m->csize ? m->csize : 1), *plain = malloc(m->size ? m->size : 1);
    int ok = packed != NULL && plain != NULL && pread(archive, packed, m->csize, data) == (ssize_t)m->csize
             && amber_unpack(packed, m->csize, m->size, m->method, m->crc, plain) == NULL;
    int written = ok ? write_all(fd, plain, m->size) : 0;
    int error = errno;  /* the write's own error (a full disk) */
    free(packed);
    free(plain);
    if (!ok || written != 0) {
        errno = ok ? error : EIO;
        return -1;
    }
    return 0;
}

/* _amber_fs.fill: member `name` (`length` bytes) into `fd`, decompressed and checked (a stored one by the
 * kernel). 0, or -1 with errno set: ENOENT (no such member), EIO (damaged), or the write's. The boot
 * code's copies into the extraction cache and into memory files, with no Python object in between. */
int
amber_fill_member(const char *name, size_t length, int fd)
{
    struct member *m = find(name, length);
    if (m == NULL) {
        errno = ENOENT;
        return -1;
    }
    return fill(fd, m);
}

/* -- AMBER_NATIVE=disk: no memory files ---------------------------------------------------------- */

static int disk_mode = -1;             /* -1: not yet read from AMBER_NATIVE */
static char disk_directory[PATH_MAX];  /* the extraction cache's directory for C-layer files, once known */

/* AMBER_NATIVE=disk (or the app's build-time default, which the boot code passes on): members reach C
 * code as files in the extraction cache, never as memory files, for hosts whose security tooling flags
 * memfd_create. */
int
amber_disk_mode(void)
{
    if (disk_mode < 0) {
        const char *policy = getenv("AMBER_NATIVE");
        disk_mode = policy != NULL && strcmp(policy, "disk") == 0;
    }
    return disk_mode;
}

/* The boot code: the mode, and the directory (private, checked by boot/cache.py) that serves it. */
void
amber_set_disk(int on, const char *directory)
{
    disk_mode = on;
    if (directory != NULL && strlen(directory) < sizeof(disk_directory)) {
        strcpy(disk_directory, directory);
    }
}

/* A read-only descriptor of member `m` in the cache, `<directory>/<crc>-<size>-<leaf>`: content-addressed,
 * so a file already there with this owner, size and bytes serves again; else written under a temporary
 * name and renamed into place. -1 when there is no cache directory (yet). */
static int
disk_copy(const char *name, const struct member *m)
{
    REAL(open_fn, open)
    if (disk_directory[0] == '\0' || real_open == NULL) {
        errno = ENOSYS;
        return -1;
    }
    const char *leaf = strrchr(name, '/');
    char path[PATH_MAX], temporary[PATH_MAX + 32];
    int n = snprintf(path, sizeof(path), "%s/%08x-%u-%s", disk_directory, m->crc, m->size, leaf ? leaf + 1 : name);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = real_open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd >= 0) {
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() && !(st.st_mode & 022)
            && st.st_size == (off_t)m->size) {
            return fd;  /* the name carries the CRC; a wrong size means a damaged copy, replaced below */
        }
        close(fd);
    }
    snprintf(temporary, sizeof(temporary), "%s.%ld.tmp", path, (long)getpid());
    int out = real_open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0555);
    if (out < 0) {
        return -1;
    }
    int ok = fill(out, m) == 0 && fsync(out) == 0;
    int saved = errno;
    close(out);
    if (!ok || rename(temporary, path) != 0) {
        saved = ok ? errno : saved;
        unlink(temporary);
        errno = saved;
        return -1;
    }
    return real_open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
}

/* -- members as descriptors --------------------------------------------------------------------- */

/* A sealed descriptor holding member `m`: a memory file (executable ones asked for with MFD_EXEC where
 * vm.memfd_noexec=1 wants that), else, for data only, an unlinked temporary file. In disk mode: a file
 * of the extraction cache, else (before the boot code named the cache) an unlinked temporary file. */
static int
member_copy(const char *name, const struct member *m, int executable)
{
    if (amber_disk_mode()) {
        int fd = disk_copy(name, m);
        if (fd >= 0 || executable) {
            return fd;
        }
    }
    int fd = anonymous_file(name, executable);
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
    return fd;
}

static void remember(int fd, const struct member *m);

/* open() of `name` (flags as open() got them): a read-only descriptor holding the member, a directory
 * descriptor, or -1 with errno (EROFS for any kind of writing). */
int
amber_open_member(const char *name, int flags)
{
    int is_dir;
    struct member *m = amber_lookup(name, &is_dir);
    if (m == NULL && is_dir) {
        return amber_open_directory(name, flags);
    }
    if ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC | O_APPEND))) {
        errno = m != NULL || errno == ENOENT ? EROFS : errno;
        return -1;
    }
    if (m == NULL) {
        return -1;
    }
    if (flags & O_DIRECTORY) {
        errno = ENOTDIR;
        return -1;
    }
    int fd = member_copy(name, m, 0);
    if (fd >= 0 && !(flags & O_CLOEXEC)) {
        fcntl(fd, F_SETFD, 0);
    }
    if (fd >= 0) {
        remember(fd, m);
    }
    return fd;
}

/* -- fstat() of a member's descriptor ----------------------------------------------------------- */

/* Descriptor number -> the member a descriptor we handed out holds, and the copy's device and inode:
 * fstat() reports the member as stat() of its path does (mode 0444, the binary's times), for the
 * descriptors below TRACKED_FDS. A closed and reused number no longer matches the device and inode, so
 * close() need not be watched. */
#define TRACKED_FDS 4096
struct tracked_fd {
    dev_t dev;
    ino_t ino;
    uint32_t member;  /* index + 1 */
};
static struct tracked_fd *tracked;
static int tracking;

static void
remember(int fd, const struct member *m)
{
    struct stat st;
    if (fd >= TRACKED_FDS || syscall(SYS_fstat, fd, &st) != 0) {
        return;
    }
    if (tracked == NULL) {
        struct tracked_fd *table = calloc(TRACKED_FDS, sizeof(*table));
        struct tracked_fd *expected = NULL;
        if (table == NULL) {
            return;
        }
        if (!__atomic_compare_exchange_n(&tracked, &expected, table, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            free(table);
        }
    }
    struct tracked_fd *t = &tracked[fd];
    t->member = 0;
    t->dev = st.st_dev;
    t->ino = st.st_ino;
    __atomic_store_n(&t->member, (uint32_t)(m - amber_members) + 1, __ATOMIC_RELEASE);
    __atomic_store_n(&tracking, 1, __ATOMIC_RELEASE);
}

/* After a successful fstat() of `fd`: the member's own stat when `fd` is a copy we made. */
void
amber_fstat_member(int fd, struct stat *st)
{
    if (!__atomic_load_n(&tracking, __ATOMIC_ACQUIRE) || fd < 0 || fd >= TRACKED_FDS) {
        return;
    }
    struct tracked_fd *t = &tracked[fd];
    uint32_t member = __atomic_load_n(&t->member, __ATOMIC_ACQUIRE);
    if (member == 0 || t->ino != st->st_ino || t->dev != st->st_dev) {
        return;
    }
    const struct member *m = &amber_members[member - 1];
    char name[NAME_SIZE];
    if (m->length >= sizeof(name)) {
        return;
    }
    memcpy(name, m->name, m->length);
    name[m->length] = '\0';
    amber_stat_member(name, st);
}

/* A close-on-exec memory file holding program or library `name`, for execveat()/dlopen(); -1 with errno
 * (EACCES: not executable; ENOSYS: no memory files here). */
int
amber_member_file(const char *name, int executable)
{
    int is_dir;
    struct member *m = amber_lookup(name, &is_dir);
    if (m == NULL) {
        errno = is_dir ? EACCES : errno;
        return -1;
    }
    if (executable && !(m->mode & 0111)) {
        errno = EACCES;
        return -1;
    }
    return member_copy(name, m, 1);
}

/* stat() of a member or directory: its size and permissions, the binary's owner, device and times. */
int
amber_stat_member(const char *name, struct stat *st)
{
    int is_dir;
    struct member *m = amber_lookup(name, &is_dir);
    if (m == NULL && !is_dir) {
        return -1;
    }
    *st = archive_stat;
    st->st_mode = is_dir ? (S_IFDIR | 0555) : S_IFREG | ((m->mode & 0111) ? 0555 : 0444);
    st->st_nlink = is_dir ? 2 : 1;
    st->st_size = is_dir ? 0 : (off_t)m->size;
    st->st_blocks = (st->st_size + 511) / 512;
    st->st_ino = amber_hash(name, strlen(name)) | 1;
    st->st_rdev = 0;
    return 0;
}
