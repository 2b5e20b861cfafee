/* amber_fs: files inside the binary are real to C code too (issue #17; docs/how-it-works.md).
 *
 * The runtime ELF defines libc's file functions (open, fopen, stat, access, opendir, realpath, dlopen,
 * execve, posix_spawn and their variants) and exports them (--export-dynamic), so every shared object
 * the process loads binds to these definitions, as does the interpreter itself. A path under the
 * binary, `<binary>/<member>` (what `__file__` names inside an app), is answered from the archive
 * appended to it; every other path goes to libc after one prefix comparison. A path that reaches the
 * binary another way (relative, through a symbolic or hard link, or below a descriptor of one of its
 * directories) is recognized only after libc fails it with ENOTDIR, so it costs ordinary paths nothing.
 *
 *   archive.c  the index (read in C, any thread), members into sealed memory files, path names
 *   files.c    open/fopen/stat/access/realpath/readlink and their fortified and *64 variants
 *   dirs.c     opendir/fdopendir/readdir/scandir, descriptors of directories (openat, fstatat)
 *   code.c     dlopen (the boot code's native loader) and execve/posix_spawn of programs inside
 *   writes.c   mkdir/unlink/rename/chmod/utimensat... fail with EROFS; no extended attributes
 *   module.c   _amber_fs: what Python (the boot code, tests) may ask and register
 */
#ifndef AMBER_FS_H
#define AMBER_FS_H

/* The *64 names (struct dirent64, readdir64, stat64...): glibc declares them under _GNU_SOURCE, musl since
 * 1.2.4 only under this (as aliases of the plain ones, which are 64-bit there). */
#define _LARGEFILE64_SOURCE 1
#include "Python.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Everything else is built with -fvisibility=hidden; the interposed functions must be in the dynamic
 * symbol table (runtime/validate.py INTERPOSED lists them). */
#define EXPORTED __attribute__((visibility("default")))
#define INTERNAL __attribute__((visibility("hidden")))

/* libc's definition of `name`, the one after this executable in the lookup order. */
/* libc's own definition of `name` (the next after ours), kept in a static on first use. REAL_OF is for the
 * body of a macro whose parameter is the name: pasted and quoted there, before musl's macros of the *64
 * names (`#define lstat64 lstat`) could turn it into the plain one. */
#define REAL_OF(type, variable, quoted) \
    static type variable; \
    if (variable == NULL) { \
        variable = (type)amber_real(quoted); \
    }
#define REAL(type, name) REAL_OF(type, real_##name, #name)
/* dlsym(RTLD_NEXT, name); for a *64 name a libc lacks (musl since 1.2.4 links them only as macros of the
 * plain functions, which are 64-bit there), the plain one. */
INTERNAL void *amber_real(const char *name);

#define NAME_SIZE (PATH_MAX + 2)
#define NAME_BUFFER char name[NAME_SIZE]

struct member {
    const char *name;  /* points into the index; not NUL-terminated */
    uint32_t length;
    uint32_t next;     /* next member in the same hash bucket, +1 (0: none) */
    uint64_t header;   /* absolute offset of the local header */
    uint32_t csize, size, crc;
    uint16_t method;
    uint16_t mode;     /* Unix mode bits as the builder recorded them */
};

/* archive.c */
INTERNAL extern char amber_archive_path[PATH_MAX];
INTERNAL extern char amber_prefix[PATH_MAX + 2];  /* "<binary>/" */
INTERNAL extern size_t amber_prefix_length;  /* strlen("<binary>/"); 0: this process has no archive */
INTERNAL extern struct member *amber_members;
INTERNAL extern uint32_t amber_member_count;
INTERNAL uint32_t amber_hash(const char *s, size_t n);
/* An unsigned little-endian integer of `n` bytes at `p` (the index records; the launcher's trailer and ELF header). */
INTERNAL uint64_t amber_read_le(const unsigned char *p, int n);
INTERNAL int amber_under_binary(const char *path, char *name);
INTERNAL int amber_other_name(int dirfd, const char *path, char *name);
INTERNAL int amber_join(const char *directory, const char *relative, char *name);
INTERNAL struct member *amber_lookup(const char *name, int *is_dir);
/* The zip method of amber's raw LZ4 blocks (archive/writer.py's LZ4): not one APPNOTE assigns. */
#define AMBER_METHOD_LZ4 0x4C34
INTERNAL const char *amber_unpack(const unsigned char *packed, uint32_t csize, uint32_t size, uint16_t method,
                                  uint32_t crc, unsigned char *out);
INTERNAL int amber_read_member(uint64_t header, size_t name_length, uint32_t csize, uint32_t size, uint16_t method,
                               uint32_t crc, unsigned char *out, const char **why);
INTERNAL int amber_fill_member(const char *name, size_t length, int fd);
INTERNAL int amber_stat_member(const char *name, struct stat *st);
INTERNAL void amber_fstat_member(int fd, struct stat *st);
INTERNAL int amber_open_member(const char *name, int flags);
INTERNAL int amber_member_file(const char *name, int executable);
INTERNAL int amber_disk_mode(void);
INTERNAL void amber_set_disk(int on, const char *directory);

/* dirs.c */
INTERNAL int amber_open_directory(const char *name, int flags);
INTERNAL const char *amber_directory_of(int fd);
INTERNAL int amber_fstat_ours(int fd, struct stat *st);

/* code.c */
INTERNAL PyObject *amber_set_loaders(PyObject *native, PyObject *programs);

#endif
