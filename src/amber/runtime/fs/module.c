/* _amber_fs: what Python (the boot code, tests, `amber inspect`) may ask of the C file layer, and what
 * the boot code registers with it. */
#include "amber_fs.h"

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
