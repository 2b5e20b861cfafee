/* Code inside the binary, by path: dlopen() of a library and execve()/posix_spawn() of a program.
 *
 * dlopen() hands a path under the binary to the boot code's native loader (boot/native.py), which
 * loads the library's archive dependencies first and falls back to the extraction cache where memory
 * files cannot be mapped; before the boot code registered it (the bare runtime), the library is loaded
 * from a memory file here. A program is executed from a sealed memory file with execveat(), which needs
 * no /proc; posix_spawn() (glibc's calls its internal execve) runs /proc/self/fd/N. Where neither works
 * (no memory files, or no /proc for posix_spawn), the boot code's program runner gives a path in the
 * extraction cache. A `#!` script keeps its descriptor across
 * exec, as its interpreter opens /dev/fd/N.
 */
#include "amber_fs.h"

#include <spawn.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif
#ifndef SYS_execveat
#define SYS_execveat 322
#endif

extern char **environ;

static PyObject *native_loader;   /* boot/native.py: load(name, mode) -> dlopen() handle */
static PyObject *program_runner;  /* boot/executables.py: path(name) -> a path the kernel can execute */

PyObject *
amber_set_loaders(PyObject *native, PyObject *programs)
{
    Py_XINCREF(native);
    Py_XSETREF(native_loader, native);
    Py_XINCREF(programs);
    Py_XSETREF(program_runner, programs);
    Py_RETURN_NONE;
}

/* Whether the boot code's Python may be called from here: it registered, and the interpreter runs. */
static int
python_ready(PyObject *callable)
{
    return callable != NULL && Py_IsInitialized() && !Py_IsFinalizing();
}

/* callable(name, *extra), the GIL held by the caller; NULL on failure (the error is cleared: the
 * caller reports its own). */
static PyObject *
call_locked(PyObject *callable, const char *name, int extra, int with_extra)
{
    PyObject *text = PyUnicode_DecodeFSDefault(name);
    PyObject *result = NULL;
    if (text != NULL) {
        result = with_extra ? PyObject_CallFunction(callable, "Oi", text, extra)
                            : PyObject_CallOneArg(callable, text);
        Py_DECREF(text);
    }
    if (result == NULL) {
        PyErr_Clear();
    }
    return result;
}

/* callable(name, *extra) under the GIL, or NULL. */
static PyObject *
call_python(PyObject *callable, const char *name, int extra, int with_extra)
{
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *result = call_locked(callable, name, extra, with_extra);
    PyGILState_Release(gil);
    return result;
}

/* -- dlopen ------------------------------------------------------------------------------------- */

typedef void *(*dlopen_fn)(const char *, int);

static void *
load_member(const char *name, int mode)
{
    REAL(dlopen_fn, dlopen)
    if (python_ready(native_loader)) {
        /* One GIL hold for the call and for reading its result. */
        PyGILState_STATE gil = PyGILState_Ensure();
        PyObject *result = call_locked(native_loader, name, mode, 1);
        void *handle = NULL;
        if (result != NULL) {
            handle = PyLong_AsVoidPtr(result);
            Py_DECREF(result);
            PyErr_Clear();
        }
        PyGILState_Release(gil);
        return handle;
    }
    int fd = amber_member_file(name, 0);
    if (fd < 0) {
        return NULL;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    void *handle = real_dlopen(path, mode);
    if (handle == NULL) {
        close(fd);  /* else it stays open: the dynamic linker knows the object by this path */
    }
    return handle;
}

EXPORTED void *amber_dlopen(const char *path, int mode) __asm__("dlopen");

/* glibc's dlopen() looks at its caller (its return address): a bare name is searched in the calling
 * object's DT_RPATH, and "$ORIGIN" is the calling object's directory. So a name that cannot be a path
 * inside the binary goes on by a tail call, which leaves the original caller's return address in place. */
#if defined(__clang__) && defined(__has_attribute)
#if __has_attribute(musttail)
#define TAIL_CALL __attribute__((musttail))
#endif
#endif
#ifndef TAIL_CALL
#define TAIL_CALL
#endif

static void *dlopen_path(const char *path, int mode);

void *
amber_dlopen(const char *path, int mode)
{
    REAL(dlopen_fn, dlopen)
    if (path == NULL || strchr(path, '/') == NULL || strchr(path, '$') != NULL) {
        TAIL_CALL return real_dlopen(path, mode);
    }
    return dlopen_path(path, mode);
}

/* dlopen() of a path: ours when it lies under the binary, by its name or another. */
static void *
dlopen_path(const char *path, int mode)
{
    NAME_BUFFER;
    REAL(dlopen_fn, dlopen)
    if (amber_under_binary(path, name)) {
        void *handle = load_member(name, mode);
        /* On failure, libc's attempt at the path itself leaves dlerror() a message naming it. */
        return handle != NULL ? handle : real_dlopen(path, mode);
    }
    void *handle = real_dlopen(path, mode);
    if (handle == NULL && amber_other_name(AT_FDCWD, path, name)) {
        handle = load_member(name, mode);
        return handle != NULL ? handle : real_dlopen(path, mode);
    }
    return handle;
}

/* -- execve and friends ------------------------------------------------------------------------- */

typedef int (*execve_fn)(const char *, char *const[], char *const[]);
typedef int (*execv_fn)(const char *, char *const[]);
typedef int (*execvpe_fn)(const char *, char *const[], char *const[]);
typedef int (*spawn_fn)(pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *,
                        char *const[], char *const[]);

/* A memory file holding program `name`, inheritable when it is a `#!` script (its interpreter opens
 * /dev/fd/N after exec); -1 with errno (EACCES: the member is not executable). */
static int
program_file(const char *name)
{
    int fd = amber_member_file(name, 1);
    char magic[2];
    if (fd >= 0 && pread(fd, magic, 2, 0) == 2 && magic[0] == '#' && magic[1] == '!') {
        fcntl(fd, F_SETFD, 0);
    }
    return fd;
}

/* A path of the program in the extraction cache from the boot code's program runner, or NULL. Only when
 * this thread holds the GIL (C code called from Python, a child forked from there): execve() may run in a
 * forked child, where taking the GIL from another thread that held it at fork() would never return. */
static PyObject *
cached_program(const char *name)
{
    if (!python_ready(program_runner) || !PyGILState_Check()) {
        return NULL;
    }
    PyObject *path = call_python(program_runner, name, 0, 0), *bytes = NULL;
    if (path != NULL && !PyUnicode_FSConverter(path, &bytes)) {
        PyErr_Clear();
    }
    Py_XDECREF(path);
    return bytes;
}

static int
exec_member(const char *name, char *const argv[], char *const envp[])
{
    int fd = program_file(name);
    if (fd < 0) {
        int error = errno;
        PyObject *cached = error == EACCES ? NULL : cached_program(name);
        if (cached != NULL) {  /* no memory files here: the extraction cache's copy */
            REAL(execve_fn, execve)
            real_execve(PyBytes_AS_STRING(cached), argv, envp);
            error = errno;
            Py_DECREF(cached);
        }
        errno = error;
        return -1;
    }
    syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH);
    if (errno == ENOSYS) {  /* a kernel before 3.19 */
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        REAL(execve_fn, execve)
        real_execve(path, argv, envp);
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

EXPORTED int amber_execve(const char *path, char *const argv[], char *const envp[]) __asm__("execve");
EXPORTED int amber_execv(const char *path, char *const argv[]) __asm__("execv");
EXPORTED int amber_execvp(const char *file, char *const argv[]) __asm__("execvp");
EXPORTED int amber_execvpe(const char *file, char *const argv[], char *const envp[]) __asm__("execvpe");

int
amber_execve(const char *path, char *const argv[], char *const envp[])
{
    NAME_BUFFER;
    if (amber_under_binary(path, name)) {
        return exec_member(name, argv, envp);
    }
    REAL(execve_fn, execve)
    int result = real_execve(path, argv, envp);
    if (errno == ENOTDIR && amber_other_name(AT_FDCWD, path, name)) {
        return exec_member(name, argv, envp);
    }
    return result;
}

int
amber_execv(const char *path, char *const argv[])
{
    return amber_execve(path, argv, environ);
}

/* A file name with a slash is a path (no PATH search): the same as execve(). */
int
amber_execvp(const char *file, char *const argv[])
{
    if (file != NULL && strchr(file, '/') != NULL) {
        return amber_execve(file, argv, environ);
    }
    REAL(execv_fn, execvp)
    return real_execvp(file, argv);
}

int
amber_execvpe(const char *file, char *const argv[], char *const envp[])
{
    if (file != NULL && strchr(file, '/') != NULL) {
        return amber_execve(file, argv, envp);
    }
    REAL(execvpe_fn, execvpe)
    return real_execvpe(file, argv, envp);
}

/* -- posix_spawn -------------------------------------------------------------------------------- */

static int
spawn_member(spawn_fn spawn, const char *name, pid_t *pid, const posix_spawn_file_actions_t *actions,
             const posix_spawnattr_t *attributes, char *const argv[], char *const envp[])
{
    int fd = program_file(name);
    if (fd >= 0) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        int result = spawn(pid, path, actions, attributes, argv, envp);
        close(fd);
        if (result != ENOENT) {  /* ENOENT: no /proc; the extraction cache may still serve */
            return result;
        }
    }
    int error = fd < 0 ? errno : ENOENT;
    if (error == EACCES || !python_ready(program_runner)) {
        return error;
    }
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *result = call_locked(program_runner, name, 0, 0);
    if (result == NULL) {
        PyGILState_Release(gil);
        return error;
    }
    PyObject *bytes = NULL;
    int spawned = PyUnicode_FSConverter(result, &bytes) ? spawn(pid, PyBytes_AS_STRING(bytes), actions,
                                                                attributes, argv, envp) : error;
    Py_XDECREF(bytes);
    Py_DECREF(result);
    PyErr_Clear();
    PyGILState_Release(gil);
    return spawned;
}

EXPORTED int amber_posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
                               const posix_spawnattr_t *attributes, char *const argv[], char *const envp[])
    __asm__("posix_spawn");
EXPORTED int amber_posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *actions,
                                const posix_spawnattr_t *attributes, char *const argv[], char *const envp[])
    __asm__("posix_spawnp");

int
amber_posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
                  const posix_spawnattr_t *attributes, char *const argv[], char *const envp[])
{
    NAME_BUFFER;
    REAL(spawn_fn, posix_spawn)
    if (amber_under_binary(path, name)) {
        return spawn_member(real_posix_spawn, name, pid, actions, attributes, argv, envp);
    }
    int result = real_posix_spawn(pid, path, actions, attributes, argv, envp);
    if (result == ENOTDIR && amber_other_name(AT_FDCWD, path, name)) {
        return spawn_member(real_posix_spawn, name, pid, actions, attributes, argv, envp);
    }
    return result;
}

int
amber_posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *actions,
                   const posix_spawnattr_t *attributes, char *const argv[], char *const envp[])
{
    if (file != NULL && strchr(file, '/') != NULL) {
        return amber_posix_spawn(pid, file, actions, attributes, argv, envp);
    }
    REAL(spawn_fn, posix_spawnp)
    return real_posix_spawnp(pid, file, actions, attributes, argv, envp);
}
