/* _amber_zstd: Zstandard for the amber importer (CPython 3.13 has no zstd module).
 *
 * Built into the runtime ELF (Modules/Setup.local, *static*) against the recipe's
 * libzstd. The patched zipimport, for a zip other than this binary, and amber's build side
 * running in a self-built amber (archive/codecs.py) call decompress() for members written
 * with zip method 93 (Zstandard). This binary's own members are read through
 * _amber_fs (read_member, unpack). Only one call is offered, with the member's recorded size: the output
 * buffer is allocated once at that size and a frame that would produce more or less
 * is an error, so a damaged member can neither overrun nor balloon memory.
 *
 * Decompressing is the C file layer's (amber_zstd_unpack in _amber_fs/archive.c): one kept
 * context, and zstd's content checksum, which every frame must carry, checked instead of the
 * zip CRC. Members over LARGE_MEMBER bytes are decompressed with the GIL released.
 */
#define PY_SSIZE_T_CLEAN
#include "Python.h"
#include "_amber_fs/amber_fs.h"

#define LARGE_MEMBER (1 << 20)

/* decompress(data, size, /) -> bytes of exactly `size` bytes. */
static PyObject *
amber_zstd_decompress(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "decompress(data, size) takes two arguments");
        return NULL;
    }
    Py_buffer data;
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    Py_ssize_t size = PyLong_AsSsize_t(args[1]);
    if (size < 0) {
        PyBuffer_Release(&data);
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "negative size");
        }
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, size);
    if (out == NULL) {
        PyBuffer_Release(&data);
        return NULL;
    }
    const char *problem;
    if (size > LARGE_MEMBER) {
        Py_BEGIN_ALLOW_THREADS
        problem = amber_zstd_unpack(data.buf, (size_t)data.len, PyBytes_AS_STRING(out), (size_t)size);
        Py_END_ALLOW_THREADS
    }
    else {
        problem = amber_zstd_unpack(data.buf, (size_t)data.len, PyBytes_AS_STRING(out), (size_t)size);
    }
    PyBuffer_Release(&data);
    if (problem != NULL) {
        Py_DECREF(out);
        PyErr_Format(PyExc_ValueError, "zstd: %s", problem);
        return NULL;
    }
    return out;
}

static PyMethodDef amber_zstd_methods[] = {
    {"decompress", _PyCFunction_CAST(amber_zstd_decompress), METH_FASTCALL,
     "decompress(data, size) -> bytes: one checksummed Zstandard frame that must hold exactly size bytes."},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot amber_zstd_slots[] = {
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
    {0, NULL},
};

static struct PyModuleDef amber_zstd_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_amber_zstd",
    .m_doc = "Zstandard decompression for amber archive members.",
    .m_size = 0,
    .m_methods = amber_zstd_methods,
    .m_slots = amber_zstd_slots,
};

PyMODINIT_FUNC
PyInit__amber_zstd(void)
{
    return PyModuleDef_Init(&amber_zstd_module);
}
