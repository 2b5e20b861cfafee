/* _amber_zstd: Zstandard for the amber importer (CPython 3.13 has no zstd module).
 *
 * Built into the runtime ELF (Modules/Setup.local, *static*) against the recipe's
 * libzstd. The patched zipimport calls decompress() for archive members written
 * with zip method 93 (Zstandard), which amber writes by default for code, sources
 * and data. Only one call is offered, with the member's recorded size: the output
 * buffer is allocated once at that size and a frame that would produce more or less
 * is an error, so a damaged member can neither overrun nor balloon memory.
 *
 * Speed matters: an app imports hundreds of members at start. One decompression
 * context is kept and reused (creating one per call costs more than inflating a
 * small .pyc), under a lock instead of the GIL; members over LARGE_MEMBER bytes
 * get their own context with the GIL released. Every frame must carry zstd's
 * content checksum (XXH64, checked while decompressing): it replaces the zip CRC
 * check, which would cost more than the decompression saves.
 */
#define PY_SSIZE_T_CLEAN
#include "Python.h"
#define ZSTD_STATIC_LINKING_ONLY  /* ZSTD_getFrameHeader: the runtime links libzstd statically */
#include <zstd.h>

#define LARGE_MEMBER (1 << 20)

static ZSTD_DCtx *shared_context;
static PyMutex shared_lock;

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
    /* The checksum flag is in the frame header, which damage could clear: a frame without it is refused. */
    ZSTD_FrameHeader header;
    const char *problem = NULL;
    if (ZSTD_getFrameHeader(&header, data.buf, (size_t)data.len) != 0 || header.frameType != ZSTD_frame) {
        problem = "not a whole zstd frame";
    }
    else if (!header.checksumFlag) {
        problem = "frame without a content checksum";
    }
    size_t made = 0;
    if (problem == NULL && size <= LARGE_MEMBER) {
        PyMutex_Lock(&shared_lock);
        if (shared_context == NULL) {
            shared_context = ZSTD_createDCtx();
        }
        made = shared_context == NULL ? (size_t)-1
             : ZSTD_decompressDCtx(shared_context, PyBytes_AS_STRING(out), (size_t)size, data.buf, (size_t)data.len);
        PyMutex_Unlock(&shared_lock);
    }
    else if (problem == NULL) {
        Py_BEGIN_ALLOW_THREADS
        made = ZSTD_decompress(PyBytes_AS_STRING(out), (size_t)size, data.buf, (size_t)data.len);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&data);
    if (problem == NULL && (ZSTD_isError(made) || made != (size_t)size)) {
        problem = ZSTD_isError(made) ? ZSTD_getErrorName(made) : "size mismatch";
    }
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
