/* _amber_fs: what Python (the boot code, tests, `amber inspect`) may ask of the C file layer, and what
 * the boot code registers with it. */
#include "amber_fs.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

static PyObject *
amber_fs_prefix(PyObject *module, PyObject *unused)
{
    return PyUnicode_DecodeFSDefaultAndSize(amber_prefix, (Py_ssize_t)amber_prefix_length);
}

static PyObject *
amber_fs_set_loaders(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || (args[0] != Py_None && !PyCallable_Check(args[0]))
        || (args[1] != Py_None && !PyCallable_Check(args[1]))) {
        PyErr_SetString(PyExc_TypeError, "set_loaders(native, programs): two callables (or None)");
        return NULL;
    }
    return amber_set_loaders(args[0] == Py_None ? NULL : args[0], args[1] == Py_None ? NULL : args[1]);
}

static PyObject *
amber_fs_set_disk(PyObject *module, PyObject *args)
{
    int on;
    PyObject *directory = NULL, *bytes = NULL;
    if (!PyArg_ParseTuple(args, "p|O", &on, &directory)) {
        return NULL;
    }
    if (directory != NULL && directory != Py_None && !PyUnicode_FSConverter(directory, &bytes)) {
        return NULL;
    }
    amber_set_disk(on, bytes != NULL ? PyBytes_AS_STRING(bytes) : NULL);
    Py_XDECREF(bytes);
    Py_RETURN_NONE;
}

static PyObject *
amber_fs_disk(PyObject *module, PyObject *unused)
{
    return PyBool_FromLong(amber_disk_mode());
}

/* read_member(header, name, csize, size, method, crc) -> bytes: what the patched zipimport's _get_data
 * does for this binary's own archive, in one call (see amber_read_member). */
static PyObject *
amber_fs_read_member(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    unsigned long long header;
    unsigned long csize, size, method, crc;
    Py_ssize_t name_length;
    if (nargs != 6 || !PyUnicode_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "read_member(header, name, csize, size, method, crc)");
        return NULL;
    }
    header = PyLong_AsUnsignedLongLong(args[0]);
    csize = PyLong_AsUnsignedLong(args[2]);
    size = PyLong_AsUnsignedLong(args[3]);
    method = PyLong_AsUnsignedLong(args[4]);
    crc = PyLong_AsUnsignedLong(args[5]);
    if (PyErr_Occurred() || PyUnicode_AsUTF8AndSize(args[1], &name_length) == NULL) {
        return NULL;
    }
    if (csize > UINT32_MAX || size > UINT32_MAX || method > UINT16_MAX || crc > UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "impossible size");
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size);
    if (out == NULL) {
        return NULL;
    }
    const char *why = NULL;
    int status;
    if (size > (1 << 20)) {  /* a large member: other threads run meanwhile */
        Py_BEGIN_ALLOW_THREADS
        status = amber_read_member(header, (size_t)name_length, (uint32_t)csize, (uint32_t)size, (uint16_t)method,
                                   (uint32_t)crc, (unsigned char *)PyBytes_AS_STRING(out), &why);
        Py_END_ALLOW_THREADS
    }
    else {
        status = amber_read_member(header, (size_t)name_length, (uint32_t)csize, (uint32_t)size, (uint16_t)method,
                                   (uint32_t)crc, (unsigned char *)PyBytes_AS_STRING(out), &why);
    }
    if (status != 0) {
        Py_DECREF(out);
        if (status < 0) {
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        PyErr_SetString(PyExc_ValueError, why);
        return NULL;
    }
    return out;
}

/* unpack(data, method, size, crc) -> bytes: one member's packed bytes, decompressed and checked as
 * read_member does: for zipfile reading this binary, zipimport reading another zip's zstd members,
 * amber's build side in a self-built amber, and the fuzzer. Exactly `size` bytes or ValueError, so a
 * damaged member can neither overrun nor balloon memory. */
static PyObject *
amber_fs_unpack(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "unpack(data, method, size, crc)");
        return NULL;
    }
    unsigned long method = PyLong_AsUnsignedLong(args[1]);
    unsigned long size = PyLong_AsUnsignedLong(args[2]);
    unsigned long crc = PyLong_AsUnsignedLong(args[3]);
    if (PyErr_Occurred() || PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (data.len > UINT32_MAX || size > UINT32_MAX || method > UINT16_MAX || crc > UINT32_MAX) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_ValueError, "impossible size");
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size);
    const char *why = NULL;
    if (out != NULL && size > (1 << 20)) {  /* a large member: other threads run meanwhile */
        Py_BEGIN_ALLOW_THREADS
        why = amber_unpack(data.buf, (uint32_t)data.len, (uint32_t)size, (uint16_t)method, (uint32_t)crc,
                           (unsigned char *)PyBytes_AS_STRING(out));
        Py_END_ALLOW_THREADS
    }
    else if (out != NULL) {
        why = amber_unpack(data.buf, (uint32_t)data.len, (uint32_t)size, (uint16_t)method, (uint32_t)crc,
                           (unsigned char *)PyBytes_AS_STRING(out));
    }
    PyBuffer_Release(&data);
    if (why != NULL) {
        Py_DECREF(out);
        PyErr_SetString(PyExc_ValueError, why);
        return NULL;
    }
    return out;
}

/* fill(name, fd): member `name` written into descriptor `fd` (at its offset), decompressed and checked,
 * without the GIL: the extraction cache's and the memory files' copies (boot/vfs.py's copy_into). */
static PyObject *
amber_fs_fill(PyObject *module, PyObject *args)
{
    const char *name;
    Py_ssize_t length;
    int fd;
    if (!PyArg_ParseTuple(args, "s#i:fill", &name, &length, &fd)) {
        return NULL;
    }
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = amber_fill_member(name, (size_t)length, fd);
    Py_END_ALLOW_THREADS
    if (status != 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

/* -- the first run's head start (boot/cache.py's warm) --------------------------------------------- */

/* Members written into descriptors by a thread of the runtime's own, which runs no Python: a Python
 * thread doing the same fights the main thread for the GIL at every step. One list per process. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    Py_ssize_t count, done, started;
    char **names;
    size_t *lengths;
    int *fds, *status, *claimed;
    pid_t pid;  /* the process the thread runs in (a fork's child has none) */
} ahead = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, 0};

static void *
fill_ahead_thread(void *unused)
{
    (void)unused;
    for (Py_ssize_t i = 0; i < ahead.count; i++) {
        pthread_mutex_lock(&ahead.lock);
        int skip = ahead.claimed[i];  /* the main thread got there first and writes it itself */
        ahead.started = i + 1;
        pthread_mutex_unlock(&ahead.lock);
        int status = skip ? ECANCELED : 0;
        if (!skip && amber_fill_member(ahead.names[i], ahead.lengths[i], ahead.fds[i]) != 0) {
            status = errno ? errno : EIO;
        }
        pthread_mutex_lock(&ahead.lock);
        ahead.status[i] = status;
        ahead.done = i + 1;
        pthread_cond_broadcast(&ahead.changed);
        pthread_mutex_unlock(&ahead.lock);
    }
    return NULL;
}

/* fill_ahead(names, fds): start writing member names[i] into fds[i], in order, on a thread of its own
 * (every signal blocked there: they stay the interpreter's). */
static PyObject *
amber_fs_fill_ahead(PyObject *module, PyObject *args)
{
    PyObject *names, *fds;
    if (!PyArg_ParseTuple(args, "O!O!:fill_ahead", &PyList_Type, &names, &PyList_Type, &fds)) {
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(names);
    if (count != PyList_GET_SIZE(fds) || count == 0 || ahead.count != 0) {
        PyErr_SetString(PyExc_ValueError, "fill_ahead: one list of names and descriptors, once");
        return NULL;
    }
    ahead.names = PyMem_RawCalloc((size_t)count, sizeof(char *));
    ahead.lengths = PyMem_RawCalloc((size_t)count, sizeof(size_t));
    ahead.fds = PyMem_RawCalloc((size_t)count, sizeof(int));
    ahead.status = PyMem_RawCalloc((size_t)count, sizeof(int));
    ahead.claimed = PyMem_RawCalloc((size_t)count, sizeof(int));
    if (ahead.names == NULL || ahead.lengths == NULL || ahead.fds == NULL || ahead.status == NULL
        || ahead.claimed == NULL) {
        return PyErr_NoMemory();  /* the few bytes stay allocated: nothing else reads them */
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_ssize_t length;
        const char *name = PyUnicode_AsUTF8AndSize(PyList_GET_ITEM(names, i), &length);
        int fd = PyLong_AsInt(PyList_GET_ITEM(fds, i));
        if (name == NULL || (fd == -1 && PyErr_Occurred())) {
            return NULL;
        }
        if ((ahead.names[i] = PyMem_RawMalloc((size_t)length + 1)) == NULL) {
            return PyErr_NoMemory();
        }
        memcpy(ahead.names[i], name, (size_t)length + 1);
        ahead.lengths[i] = (size_t)length;
        ahead.fds[i] = fd;
    }
    ahead.count = count;
    ahead.pid = getpid();
    sigset_t all, old;
    sigfillset(&all);
    pthread_attr_t attributes;
    pthread_t thread;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int failed = pthread_create(&thread, &attributes, fill_ahead_thread, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attributes);
    if (failed) {  /* each is then written at its import, as without a head start */
        for (Py_ssize_t i = 0; i < count; i++) {
            ahead.status[i] = failed;
        }
        ahead.done = count;
    }
    Py_RETURN_NONE;
}

/* The index argument of claim() and filled(), checked: 1, or 0 with an exception set. */
static int
ahead_item(PyObject *args, const char *format, Py_ssize_t *i)
{
    if (!PyArg_ParseTuple(args, format, i)) {
        return 0;
    }
    if (*i < 0 || *i >= ahead.count) {
        PyErr_SetString(PyExc_IndexError, "no such member in fill_ahead's list");
        return 0;
    }
    return 1;
}

/* claim(i) -> bool: True if the thread has not started fill_ahead's i-th member, which it then skips:
 * the caller writes it (an import that comes before the thread gets there does not wait for the members
 * ahead of it). False: the thread writes it, or has. */
static PyObject *
amber_fs_claim(PyObject *module, PyObject *args)
{
    Py_ssize_t i;
    if (!ahead_item(args, "n:claim", &i)) {
        return NULL;
    }
    if (getpid() != ahead.pid) {
        Py_RETURN_FALSE;  /* a fork's child: filled() says ECHILD */
    }
    int mine;
    pthread_mutex_lock(&ahead.lock);
    mine = ahead.started <= i;
    if (mine) {
        ahead.claimed[i] = 1;
    }
    pthread_mutex_unlock(&ahead.lock);
    return PyBool_FromLong(mine);
}

/* filled(i) -> int: 0 once fill_ahead's i-th member is written, else the errno it failed with (ECHILD in
 * a fork's child, where the thread does not run; ECANCELED if claimed). Waits for it without the GIL. */
static PyObject *
amber_fs_filled(PyObject *module, PyObject *args)
{
    Py_ssize_t i;
    if (!ahead_item(args, "n:filled", &i)) {
        return NULL;
    }
    if (getpid() != ahead.pid) {
        return PyLong_FromLong(ECHILD);
    }
    int status;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&ahead.lock);
    while (ahead.done <= i) {
        pthread_cond_wait(&ahead.changed, &ahead.lock);
    }
    status = ahead.status[i];
    pthread_mutex_unlock(&ahead.lock);
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(status);
}

static PyMethodDef amber_fs_methods[] = {
    {"prefix", amber_fs_prefix, METH_NOARGS,
     "prefix() -> str: '<binary>/', under which C code's open/stat/opendir/dlopen/execve read the archive "
     "('' if none)."},
    {"set_loaders", (PyCFunction)(void (*)(void))amber_fs_set_loaders, METH_FASTCALL,
     "set_loaders(native, programs): dlopen() of a member calls native(name, mode) -> handle; posix_spawn() "
     "calls programs(name) -> path where memory files cannot run."},
    {"set_disk", amber_fs_set_disk, METH_VARARGS,
     "set_disk(on, directory=None): AMBER_NATIVE=disk, members as files of `directory` instead of memory files."},
    {"disk", amber_fs_disk, METH_NOARGS, "disk() -> bool: whether members reach C code as files on disk."},
    {"read_member", (PyCFunction)(void (*)(void))amber_fs_read_member, METH_FASTCALL,
     "read_member(header, name, csize, size, method, crc) -> bytes: a member of this binary's archive, by its "
     "index record, decompressed and checked (ValueError names the damage)."},
    {"unpack", (PyCFunction)(void (*)(void))amber_fs_unpack, METH_FASTCALL,
     "unpack(data, method, size, crc) -> bytes: a member's packed bytes decompressed and checked like "
     "read_member's (ValueError names the damage)."},
    {"fill_ahead", amber_fs_fill_ahead, METH_VARARGS,
     "fill_ahead(names, fds): write each member into its descriptor on a thread of the runtime's own, in order."},
    {"claim", amber_fs_claim, METH_VARARGS,
     "claim(i) -> bool: True if fill_ahead's thread has not started the i-th member, which it then skips."},
    {"filled", amber_fs_filled, METH_VARARGS,
     "filled(i) -> int: 0 once fill_ahead's i-th member is written, else its errno; waits without the GIL."},
    {"fill", amber_fs_fill, METH_VARARGS,
     "fill(name, fd): member `name` written into descriptor `fd`, decompressed and checked, without the GIL "
     "(OSError: ENOENT, or EIO for a damaged member)."},
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
