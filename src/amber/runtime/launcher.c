/*
 * amber launcher: the main() of every amber runtime and app binary.
 *
 * It replaces CPython's Programs/python.c. The binary is an ELF executable
 * with a zip archive appended; the zip's end-of-central-directory comment is
 * the 40-byte amber trailer (see docs/ARCHITECTURE.md):
 *
 *   offset size
 *        0    8  magic "AMBER\0\1\0"
 *        8    4  flags (little endian; bit 0: app, the archive holds an app)
 *       12    4  crc32 of the index data (checked by the patched zipimport)
 *       16    8  absolute file offset of the index data
 *       24    8  size of the index data
 *       32    8  absolute file offset of the archive's first entry
 *
 * With a trailer, the standard library lives in the binary itself: the
 * binary's own path becomes the stdlib entry of sys.path, where CPython's
 * (patched) zipimport reads the index in one go. Without a trailer this is a
 * plain python3 that finds its stdlib on disk as usual.
 */

#include "Python.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define AMBER_MAGIC "AMBER\0\1\0"
#define AMBER_MAGIC_SIZE 8
#define AMBER_COMMENT_SIZE 40
#define EOCD_SIZE 22
#define AMBER_TAIL_SIZE (EOCD_SIZE + AMBER_COMMENT_SIZE)
#define AMBER_FLAG_APP 1u

struct amber_trailer {
    uint32_t flags;
    uint64_t index_offset;
    uint64_t index_size;
    uint64_t archive_offset;
};

/* runtime/fs/archive.c: an unsigned little-endian integer of `n` bytes at `p`. */
__attribute__((visibility("hidden"))) uint64_t amber_read_le(const unsigned char *p, int n);

/* Resolve argv[0] the way a shell did: a path with a slash, else a PATH search. */
static int
find_in_path(const char *argv0, char *out, size_t outlen)
{
    if (argv0 == NULL || argv0[0] == '\0') {
        return -1;
    }
    if (strchr(argv0, '/') != NULL) {
        return realpath(argv0, out) != NULL ? 0 : -1;
    }
    const char *path = getenv("PATH");
    if (path == NULL) {
        path = "/usr/local/bin:/usr/bin:/bin";
    }
    char candidate[PATH_MAX];
    while (*path) {
        const char *end = strchr(path, ':');
        size_t len = end ? (size_t)(end - path) : strlen(path);
        if (len > 0 && len + strlen(argv0) + 2 < sizeof(candidate)) {
            memcpy(candidate, path, len);
            candidate[len] = '/';
            strcpy(candidate + len + 1, argv0);
            if (access(candidate, X_OK) == 0 && realpath(candidate, out) != NULL) {
                return 0;
            }
        }
        if (end == NULL) {
            break;
        }
        path = end + 1;
    }
    (void)outlen;
    return -1;
}

/* The path of this very executable: /proc/self/exe, else argv[0] and PATH. */
static int
find_self(const char *argv0, char *out, size_t outlen)
{
    ssize_t n = readlink("/proc/self/exe", out, outlen - 1);
    if (n > 0 && (size_t)n < outlen - 1) {
        out[n] = '\0';
        /* A deleted or replaced binary reads as "path (deleted)"; fall back. */
        if (access(out, R_OK) == 0) {
            return 0;
        }
    }
    return find_in_path(argv0, out, outlen);
}

/* Where the ELF image of the file ends: the furthest of its program segments
 * and its section header table. 0 when the header cannot be read. */
static uint64_t
elf_end(int fd)
{
    unsigned char h[64];
    if (pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) || memcmp(h, "\177ELF", 4) != 0 || h[4] != 2) {
        return 0;
    }
    uint64_t phoff = amber_read_le(h + 0x20, 8), shoff = amber_read_le(h + 0x28, 8);
    uint64_t phentsize = amber_read_le(h + 0x36, 2), phnum = amber_read_le(h + 0x38, 2);
    uint64_t shentsize = amber_read_le(h + 0x3A, 2), shnum = amber_read_le(h + 0x3C, 2);
    uint64_t end = shoff + shentsize * shnum;
    for (uint64_t i = 0; i < phnum && phentsize >= 56; i++) {
        unsigned char ph[56];
        if (pread(fd, ph, sizeof(ph), (off_t)(phoff + i * phentsize)) != (ssize_t)sizeof(ph)) {
            return 0;
        }
        uint64_t segment_end = amber_read_le(ph + 8, 8) + amber_read_le(ph + 32, 8);
        if (segment_end > end) {
            end = segment_end;
        }
    }
    return end;
}

enum trailer_state { NO_ARCHIVE = 0, ARCHIVE = 1, DAMAGED = -1 };

/* ARCHIVE: trailer found and sane. NO_ARCHIVE: the file is exactly an ELF
 * image (a plain interpreter, e.g. during the runtime build). DAMAGED: a
 * trailer that points outside the file, or bytes after the ELF image without a
 * trailer (a truncated or modified binary); `why` says which. */
static enum trailer_state
read_trailer(const char *path, struct amber_trailer *t, const char **why)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return NO_ARCHIVE;
    }
    struct stat st;
    unsigned char tail[AMBER_TAIL_SIZE];
    enum trailer_state state = NO_ARCHIVE;
    if (fstat(fd, &st) == 0 && st.st_size >= AMBER_TAIL_SIZE
        && pread(fd, tail, sizeof(tail), st.st_size - AMBER_TAIL_SIZE) == (ssize_t)sizeof(tail)
        && memcmp(tail, "PK\5\6", 4) == 0
        && amber_read_le(tail + 20, 2) == AMBER_COMMENT_SIZE
        && memcmp(tail + EOCD_SIZE, AMBER_MAGIC, AMBER_MAGIC_SIZE) == 0) {
        const unsigned char *c = tail + EOCD_SIZE;
        uint64_t size = (uint64_t)st.st_size;
        t->flags = (uint32_t)amber_read_le(c + 8, 4);
        t->index_offset = amber_read_le(c + 16, 8);
        t->index_size = amber_read_le(c + 24, 8);
        t->archive_offset = amber_read_le(c + 32, 8);
        state = t->archive_offset <= t->index_offset && t->index_size <= size
                && t->index_offset <= size - t->index_size ? ARCHIVE : DAMAGED;
        *why = "its archive trailer points outside the file";
    }
    else if (fstat(fd, &st) == 0) {
        uint64_t end = elf_end(fd);
        if (end != 0 && end != (uint64_t)st.st_size) {
            state = DAMAGED;
            *why = end > (uint64_t)st.st_size ? "it is shorter than its own interpreter (truncated)"
                                              : "data follows the interpreter but the archive trailer is missing "
                                                "(truncated or modified)";
        }
    }
    close(fd);
    return state;
}

/* Append each entry of $PYTHONPATH (as CPython reads it: only without -E/-I),
 * made absolute against the current directory like getpath does. */
static PyStatus
append_pythonpath(const PyConfig *config, PyWideStringList *paths)
{
    if (!config->use_environment || config->pythonpath_env == NULL) {
        return PyStatus_Ok();
    }
    wchar_t cwd[PATH_MAX];
    cwd[0] = L'\0';
    char cwd_bytes[PATH_MAX];
    if (getcwd(cwd_bytes, sizeof(cwd_bytes)) != NULL) {
        wchar_t *decoded = Py_DecodeLocale(cwd_bytes, NULL);
        if (decoded != NULL) {
            wcsncpy(cwd, decoded, PATH_MAX - 1);
            cwd[PATH_MAX - 1] = L'\0';
            PyMem_RawFree(decoded);
        }
    }
    const wchar_t *p = config->pythonpath_env;
    while (*p) {
        const wchar_t *end = wcschr(p, L':');
        size_t len = end ? (size_t)(end - p) : wcslen(p);
        if (len > 0) {
            wchar_t entry[2 * PATH_MAX];
            if (p[0] == L'/' || cwd[0] == L'\0') {
                swprintf(entry, 2 * PATH_MAX, L"%.*ls", (int)len, p);
            }
            else {
                swprintf(entry, 2 * PATH_MAX, L"%ls/%.*ls", cwd, (int)len, p);
            }
            PyStatus status = PyWideStringList_Append(paths, entry);
            if (PyStatus_Exception(status)) {
                return status;
            }
        }
        if (end == NULL) {
            break;
        }
        p = end + 1;
    }
    return PyStatus_Ok();
}

/* The bare runtime's lib-dynload: <root>/lib/pythonX.Y/lib-dynload for
 * <root>/bin/pythonX.Y, as in any installed Python. It holds the stdlib
 * extension modules built as shared objects (extensions.toml, "shared"),
 * which an app binary instead loads from its archive through memory. */
static void
dynload_dir(const char *self, char *out, size_t size)
{
    char root[PATH_MAX];
    strncpy(root, self, sizeof(root) - 1);
    root[sizeof(root) - 1] = '\0';
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(root, '/');
        if (slash == NULL) {
            root[0] = '\0';
            break;
        }
        *slash = '\0';
    }
    snprintf(out, size, "%s/lib/python%d.%d/lib-dynload", root, PY_MAJOR_VERSION, PY_MINOR_VERSION);
}

/* sys.path: $PYTHONPATH entries, then the binary itself, whose appended
 * archive holds the stdlib (where getpath would have put lib/python313.zip
 * and lib/python3.13), then, for the bare runtime, lib-dynload.
 * Site-packages are added later by site.py. */
static PyStatus
set_search_path(PyConfig *config, const char *self, int app)
{
    wchar_t *wself = Py_DecodeLocale(self, NULL);
    if (wself == NULL) {
        return PyStatus_NoMemory();
    }
    PyWideStringList paths = {0, NULL};
    PyStatus status = append_pythonpath(config, &paths);
    if (!PyStatus_Exception(status)) {
        status = PyWideStringList_Append(&paths, wself);
    }
    if (!PyStatus_Exception(status) && !app) {
        char dynload[PATH_MAX + 32];
        dynload_dir(self, dynload, sizeof(dynload));
        wchar_t *wdynload = Py_DecodeLocale(dynload, NULL);
        if (wdynload == NULL) {
            status = PyStatus_NoMemory();
        }
        else {
            status = PyWideStringList_Append(&paths, wdynload);
            PyMem_RawFree(wdynload);
        }
    }
    if (!PyStatus_Exception(status)) {
        status = PyConfig_SetWideStringList(config, &config->module_search_paths, paths.length, paths.items);
        config->module_search_paths_set = 1;
    }
    /* PyWideStringList has no public clear; free what we appended. */
    for (Py_ssize_t i = 0; i < paths.length; i++) {
        PyMem_RawFree(paths.items[i]);
    }
    PyMem_RawFree(paths.items);
    PyMem_RawFree(wself);
    return status;
}

/* sys.prefix and sys.exec_prefix. The bare runtime is an installed python:
 * the directory above its bin/. An app binary is its own prefix, because its
 * archive is where everything the app installed lives: a wheel's data files
 * (`share/jupyter/...`, `etc/...`) sit at the archive root, so
 * `os.path.join(sys.prefix, "share", ...)` and sysconfig's "data" path name
 * them (paths under the binary are read from the archive by __amber_vfs__). */
static PyStatus
set_prefix(PyConfig *config, const char *self, int app)
{
    char root[PATH_MAX];
    strncpy(root, self, sizeof(root) - 1);
    root[sizeof(root) - 1] = '\0';
    for (int up = 0; up < 2 && !app; up++) {
        char *slash = strrchr(root, '/');
        if (slash == NULL) {
            break;
        }
        if (slash == root) {
            root[1] = '\0';
            break;
        }
        *slash = '\0';
    }
    PyStatus status = PyConfig_SetBytesString(config, &config->prefix, root);
    if (!PyStatus_Exception(status)) {
        status = PyConfig_SetBytesString(config, &config->exec_prefix, root);
    }
    /* The standard library is in the binary too: sys._stdlib_dir names it,
     * so the frozen modules (os, codecs...) get `__file__` = <binary>/os.py
     * like the ones imported from the archive, as in any installed python. */
    if (!PyStatus_Exception(status)) {
        status = PyConfig_SetBytesString(config, &config->stdlib_dir, self);
    }
    return status;
}

/* The variable that turns an app binary into its own python (see
 * boot/children.py, which sets it for the app's children started as
 * sys.executable, and the README, which documents it for debugging). */
#define AMBER_INTERPRETER_VAR "AMBER_INTERPRETER"
/* App mode's command: pick the script by argv[0], set up, call it. */
/* A damaged archive member (zipimport checks the CRC of each one it reads)
 * ends the app with one line instead of a traceback. */
#define APP_MAIN_COMMAND \
    L"try:\n" \
    L"    import __amber_boot__\n" \
    L"    __amber_boot__.main()\n" \
    L"except ImportError as e:\n" \
    L"    if not str(e).startswith('amber: damaged'):\n" \
    L"        raise\n" \
    L"    raise SystemExit(f'{e}; copy the file again') from None\n"

/* A script argument a python would run: a Python file name, a directory
 * (its __main__.py), or this very binary (script_is_self runs the app). */
static int
is_python_script(const char *arg, const char *self)
{
    static const char *suffixes[] = {".py", ".pyw", ".pyc", ".pyz"};
    size_t len = strlen(arg);
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        size_t n = strlen(suffixes[i]);
        if (len > n && strcmp(arg + len - n, suffixes[i]) == 0) {
            return 1;
        }
    }
    struct stat a, b;
    if (stat(arg, &a) != 0) {
        return 0;
    }
    return S_ISDIR(a.st_mode) || (stat(self, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino);
}

/* 1 when argv[1:] is a command line a python runs code from: interpreter
 * options (CPython's short options, combined or not) up to -c, -m, "-" or a
 * script is_python_script accepts. Options alone (-V, --help) and anything
 * else are the app's arguments. */
static int
is_python_command(int argc, char **argv, const char *self)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-") == 0) {
            return 1;
        }
        if (strcmp(arg, "--") == 0) {
            return i + 1 < argc && is_python_script(argv[i + 1], self);
        }
        if (arg[0] != '-') {
            return is_python_script(arg, self);
        }
        if (arg[1] == '-') {
            if (strcmp(arg, "--check-hash-based-pycs") == 0) {
                i++;
                continue;
            }
            return 0; /* --help, --version, or an option of the app */
        }
        for (const char *p = arg + 1; *p; p++) {
            if (*p == 'c' || *p == 'm') {
                return 1;
            }
            if (*p == 'W' || *p == 'X') {
                if (p[1] == '\0') {
                    i++; /* the value is the next argument */
                }
                break;
            }
            if (strchr("bBdEhiIOPqsSuvVx", *p) == NULL) {
                return 0;
            }
        }
    }
    return 0;
}

/* A link named python, python3 or python3.X to an app binary is its interpreter. */
static int
named_python(const char *argv0)
{
    if (argv0 == NULL) {
        return 0;
    }
    const char *slash = strrchr(argv0, '/');
    const char *name = slash ? slash + 1 : argv0;
    char versioned[32];
    snprintf(versioned, sizeof(versioned), "python%d.%d", PY_MAJOR_VERSION, PY_MINOR_VERSION);
    return strcmp(name, "python") == 0 || strcmp(name, "python3") == 0 || strcmp(name, versioned) == 0;
}

/* 1 when this run of an app binary is an interpreter, after AMBER_INTERPRETER:
 *   unset, empty or "0"  the app (unless argv[0] is named python);
 *   an absolute path     what a parent amber app sets for children that may
 *                        run it (boot/children.py): granted only to the binary
 *                        at that path, and only for a command line a python
 *                        runs code from (multiprocessing's `-c`, `-m`, a .py
 *                        script); any other command line runs the app, whose
 *                        script argv[0] names, as links do;
 *   anything else ("1")  the interpreter, whatever the arguments (debugging).
 * The variable is removed from the environment either way, before Python
 * copies it into os.environ, so it never reaches a grandchild. */
static int
take_interpreter_request(int argc, char **argv, const char *self)
{
    const char *value = getenv(AMBER_INTERPRETER_VAR);
    int wanted = 0;
    if (value != NULL && value[0] == '/') {
        struct stat a, b;
        wanted = stat(value, &a) == 0 && stat(self, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino
                 && is_python_command(argc, argv, self);
    }
    else if (value != NULL) {
        wanted = value[0] != '\0' && strcmp(value, "0") != 0;
    }
    if (value != NULL) {
        unsetenv(AMBER_INTERPRETER_VAR);
    }
    return wanted || named_python(argc > 0 ? argv[0] : NULL);
}

/* Both modes of an app binary: the interpreter ignores PYTHON* variables and
 * user and system site-packages: what runs is what was built. Only plain
 * fields here: setting a string pre-initializes Python, which must happen in
 * PyConfig_SetBytesArgv, with the arguments (-X utf8, -I in interpreter mode). */
static void
configure_app_common(PyConfig *config)
{
    config->use_environment = 0;
    config->user_site_directory = 0;
    config->site_import = 0;
    config->pathconfig_warnings = 0;
}

/* App mode: an isolated interpreter (nor the current directory on sys.path)
 * whose argv belongs to the app, not to the interpreter (`./app -c foo`
 * passes -c foo); the boot module picks the entry point. */
static PyStatus
configure_app(PyConfig *config)
{
    configure_app_common(config);
    config->isolated = 1;
    config->safe_path = 1;
    config->parse_argv = 0;
    return PyConfig_SetString(config, &config->run_command, APP_MAIN_COMMAND);
}

/* Interpreter mode: argv parsed as CPython does (-c, -m, -X, -I, a script,
 * the REPL), sys.path[0] as CPython sets it; the archive's packages are made
 * importable by __amber_boot__.setup() before Py_RunMain. */
static void
configure_interpreter(PyConfig *config)
{
    configure_app_common(config);
}

/* Interpreter mode, after initialization: the app mode's set-up (archive file
 * system, native-code loader, exit()/help(), child relaunch) without the entry
 * point. 0 on success; else the traceback is printed. */
static int
run_boot_setup(void)
{
    PyObject *boot = PyImport_ImportModule("__amber_boot__");
    PyObject *result = boot ? PyObject_CallMethod(boot, "setup", NULL) : NULL;
    Py_XDECREF(boot);
    if (result == NULL) {
        PyErr_Print();
        return -1;
    }
    Py_DECREF(result);
    return 0;
}

/* Interpreter mode whose script is this very binary: `python /path/to/app
 * args`, which is how reloaders (Django's, Werkzeug's) restart a program,
 * [sys.executable, *options, *sys.argv]. Like a zipapp with a __main__, the
 * binary then runs its app, with argv = [script, args...] as CPython parsed it. */
static int
script_is_self(const PyConfig *config, int argc, char **argv, const char *self)
{
    if (config->run_filename == NULL || config->run_command != NULL || config->run_module != NULL
        || config->argv.length < 1) {
        return 0;
    }
    /* The script as given is sys.argv[0]; find its bytes in the real argv
     * (Py_EncodeLocale would need PyMem_Malloc, unusable before initialization). */
    const wchar_t *script = config->argv.items[0];
    for (int i = 1; i < argc; i++) {
        wchar_t *decoded = Py_DecodeLocale(argv[i], NULL);
        int match = decoded != NULL && wcscmp(decoded, script) == 0;
        PyMem_RawFree(decoded);
        if (match) {
            struct stat a, b;
            return stat(argv[i], &a) == 0 && stat(self, &b) == 0
                   && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
        }
    }
    return 0;
}

/* Turn a read interpreter-mode config into app mode for script_is_self():
 * the app's entry point instead of the script, and the app's safe sys.path
 * (no directory of the script or current directory in front of the archive);
 * options given before the script (-W, -X, -O...) stay in force. */
static PyStatus
run_app_instead_of_script(PyConfig *config)
{
    PyStatus status = PyConfig_SetString(config, &config->run_filename, NULL);
    if (!PyStatus_Exception(status)) {
        status = PyConfig_SetString(config, &config->run_command, APP_MAIN_COMMAND);
    }
    config->safe_path = 1;
    return status;
}

/* stderr to /dev/null; the saved descriptor, or -1 when nothing was changed. */
static int
quiet_stderr(void)
{
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null < 0) {
        return -1;
    }
    int saved = fcntl(2, F_DUPFD_CLOEXEC, 3);
    if (saved >= 0 && dup2(null, 2) < 0) {
        close(saved);
        saved = -1;
    }
    close(null);
    return saved;
}

static void
restore_stderr(int saved)
{
    if (saved >= 0) {
        dup2(saved, 2);
        close(saved);
    }
}

static int
run_with_archive(int argc, char **argv, const char *self, uint32_t flags)
{
    PyStatus status;
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    int interpreter = 0;

    /* Before PyConfig_SetBytesArgv: it pre-initializes Python (locale,
     * UTF-8 mode) from the fields set so far. */
    if (flags & AMBER_FLAG_APP) {
        interpreter = take_interpreter_request(argc, argv, self);
        if (interpreter) {
            configure_interpreter(&config);
        }
        else {
            status = configure_app(&config);
            if (PyStatus_Exception(status)) {
                goto fail;
            }
        }
    }
    status = PyConfig_SetBytesArgv(&config, argc, argv);
    if (PyStatus_Exception(status)) {
        goto fail;
    }
    if (flags & AMBER_FLAG_APP) {
        /* sys.executable is the binary's real path (what /proc/self/exe
         * names), whatever argv[0] says, so that children started as
         * sys.executable run this very file. */
        status = PyConfig_SetBytesString(&config, &config.executable, self);
        if (PyStatus_Exception(status)) {
            goto fail;
        }
    }
    status = set_prefix(&config, self, (flags & AMBER_FLAG_APP) != 0);
    if (PyStatus_Exception(status)) {
        goto fail;
    }
    status = PyConfig_Read(&config);
    if (PyStatus_Exception(status)) {
        goto fail;
    }
    if (interpreter && script_is_self(&config, argc, argv, self)) {
        status = run_app_instead_of_script(&config);
        if (PyStatus_Exception(status)) {
            goto fail;
        }
        interpreter = 0; /* main() does the set-up */
    }
    status = set_search_path(&config, self, (flags & AMBER_FLAG_APP) != 0);
    if (PyStatus_Exception(status)) {
        goto fail;
    }
    /* An app's own start-up prints nothing unless it fails, and then the
     * user needs one line, not CPython's dump of its path configuration: an
     * app binary that cannot initialize is a damaged file. */
    int saved_stderr = -1;
    if ((flags & AMBER_FLAG_APP) && !interpreter) {
        saved_stderr = quiet_stderr();
    }
    status = Py_InitializeFromConfig(&config);
    restore_stderr(saved_stderr);
    if (PyStatus_Exception(status) && saved_stderr >= 0 && !PyStatus_IsExit(status)) {
        fprintf(stderr, "amber: %s: cannot start: %s%s%s; the file may be damaged: copy it again\n", self,
                status.func ? status.func : "", status.func ? ": " : "", status.err_msg ? status.err_msg : "?");
        PyConfig_Clear(&config);
        return 1;
    }
    if (PyStatus_Exception(status)) {
        goto fail;
    }
    PyConfig_Clear(&config);
    if (interpreter && run_boot_setup() < 0) {
        Py_Finalize();
        return 1;
    }
    return Py_RunMain();

fail:
    PyConfig_Clear(&config);
    if (PyStatus_IsExit(status)) {
        return status.exitcode;
    }
    Py_ExitStatusException(status);
}

/* runtime/fs/: libc's file functions (open, stat, opendir, dlopen, execve...) of paths under `self` read its archive. */
void amber_fs_init(const char *self);

int
main(int argc, char **argv)
{
    char self[PATH_MAX];
    struct amber_trailer trailer;
    const char *why = NULL;
    if (find_self(argc > 0 ? argv[0] : NULL, self, sizeof(self)) == 0) {
        switch (read_trailer(self, &trailer, &why)) {
        case ARCHIVE:
            amber_fs_init(self);
            return run_with_archive(argc, argv, self, trailer.flags);
        case DAMAGED:
            fprintf(stderr, "amber: %s: damaged file: %s; copy it again\n", self, why);
            return 1;
        case NO_ARCHIVE:
            break;
        }
    }
    return Py_BytesMain(argc, argv);
}
