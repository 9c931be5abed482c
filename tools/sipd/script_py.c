/* SPDX-License-Identifier: MIT */
/* The Python host of sipd: CPython 3 embedded, the script's route(req) routing every request
 * through the libsip package (libsip/_sipd.py does the Python side).
 *
 * The C loop (libuv) is the only loop that sleeps. asyncio lives inside it through three libuv
 * handles: an idle handle runs asyncio's ready callbacks when Python asked for it (wake()), a
 * timer its next scheduled callback (set_timer()), and a poll handle its selector (sockets a
 * script opened, call_soon_threadsafe()). A wake-up of the loop that routes nothing and that
 * asyncio has no work for costs no Python at all. */
#ifdef SIPD_HAVE_PYTHON

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "script_int.h"

typedef struct py_script {
    sipd_script_t base;
    PyObject *host; /* libsip._sipd.Host */
    uv_idle_t idle;
    uv_timer_t timer;
    uv_poll_t poll;
    int poll_on;
    int closing; /* handles left to close */
} py_script_t;

/* One interpreter per process, one host in it. */
static py_script_t *py_current;

#if defined(__SANITIZE_ADDRESS__)
/* The interpreter lives until the process ends (its extension modules cannot be loaded twice,
 * so it is never finalized): what it holds then is CPython's, not a leak of ours. libsip's
 * objects are still reported. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libpython3\n";
}
#endif

/* ---- the host's C side, as the module _sipd_host ------------------------------------------ */

static void py_drain(py_script_t *s);

static void on_idle(uv_idle_t *h)
{
    py_script_t *s = (py_script_t *)h->data;
    uv_idle_stop(h);
    py_drain(s);
}

static void on_timer(uv_timer_t *h)
{
    py_drain((py_script_t *)h->data);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    py_drain((py_script_t *)h->data);
}

static PyObject *host_wake(PyObject *self, PyObject *args)
{
    (void)self;
    (void)args;
    if (py_current != NULL && !py_current->closing) uv_idle_start(&py_current->idle, on_idle);
    Py_RETURN_NONE;
}

static PyObject *host_set_timer(PyObject *self, PyObject *arg)
{
    long ms = PyLong_AsLong(arg);
    (void)self;
    if (ms == -1 && PyErr_Occurred()) return NULL;
    if (py_current == NULL || py_current->closing) Py_RETURN_NONE;
    if (ms < 0)
        uv_timer_stop(&py_current->timer);
    else
        uv_timer_start(&py_current->timer, on_timer, (uint64_t)ms, 0);
    Py_RETURN_NONE;
}

static PyMethodDef host_methods[] = {
    {"wake", host_wake, METH_NOARGS, "Runs asyncio's ready callbacks in the next loop turn."},
    {"set_timer", host_set_timer, METH_O, "Runs asyncio in ms milliseconds (-1: never)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef host_module = {
    PyModuleDef_HEAD_INIT,
    "_sipd_host",
    "sipd's side of the routing-script host.",
    -1,
    host_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

static PyObject *init_host_module(void)
{
    return PyModule_Create(&host_module);
}

/* ---- errors -------------------------------------------------------------------------------- */

/* Logs the pending exception with its traceback (sipd's log, module "script") and puts its
 * last line in err. Clears it. GIL held. */
static void py_error(py_script_t *s, const char *what, char *err, size_t errlen)
{
    PyObject *type, *value, *tb, *mod = NULL, *lines = NULL, *text = NULL, *last = NULL;
    const char *t = NULL, *l = NULL;
    sip_loop_t *loop = sip_server_get_loop(s->base.srv);

    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL) PyException_SetTraceback(value, tb);
    mod = PyImport_ImportModule("traceback");
    if (mod != NULL && type != NULL)
        lines = PyObject_CallMethod(mod, "format_exception", "OOO", type, value ? value : Py_None,
                                    tb ? tb : Py_None);
    if (lines != NULL) {
        PyObject *empty = PyUnicode_FromString("");
        if (empty != NULL) text = PyUnicode_Join(empty, lines);
        Py_XDECREF(empty);
        if (PyList_Check(lines) && PyList_GET_SIZE(lines) > 0)
            last = PyList_GET_ITEM(lines, PyList_GET_SIZE(lines) - 1);
    }
    if (text != NULL) t = PyUnicode_AsUTF8(text);
    if (last != NULL) l = PyUnicode_AsUTF8(last);
    PyErr_Clear();
    if (t != NULL && loop != NULL)
        sip_log_write(loop, SIP_LOG_ERROR, "script", t);
    else if (t != NULL)
        fprintf(stderr, "sipd: %s", t);
    if (l != NULL) {
        size_t n;
        snprintf(err, errlen, "%s: %s", what, l);
        n = strlen(err);
        while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == '\r'))
            err[--n] = '\0';
    } else {
        snprintf(err, errlen, "%s: a Python error", what);
    }
    Py_XDECREF(text);
    Py_XDECREF(lines);
    Py_XDECREF(mod);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

static void py_drain(py_script_t *s)
{
    PyGILState_STATE g;
    PyObject *r;

    if (s->host == NULL) return;
    g = PyGILState_Ensure();
    r = PyObject_CallMethod(s->host, "drain", NULL);
    if (r == NULL) {
        char err[256];
        py_error(s, "asyncio", err, sizeof(err));
    }
    Py_XDECREF(r);
    PyGILState_Release(g);
}

/* ---- finding the package ------------------------------------------------------------------- */

/* Where libsip/ is: $SIPD_PYTHONPATH, else the build tree's package when this sipd is the build
 * tree's, else the installed one relative to the executable (so a DESTDIR or another prefix
 * works as well as the configured one). */
static void py_package_dir(char *buf, size_t size)
{
    sipd_script_layer_dir("SIPD_PYTHONPATH", SIPD_PY_BUILD_DIR, SIPD_PY_INSTALL_REL, buf, size);
}

static int py_start(char *err, size_t errlen)
{
    PyConfig config;
    PyStatus st;

    if (Py_IsInitialized()) return 0;
    if (PyImport_AppendInittab("_sipd_host", init_host_module) < 0) {
        snprintf(err, errlen, "python: cannot register the host module");
        return SIP_ENOMEM;
    }
    PyConfig_InitPythonConfig(&config);
    /* sipd keeps its own SIGHUP/SIGTERM/SIGINT handling: Python installs no handler. */
    config.install_signal_handlers = 0;
    config.parse_argv = 0;
    /* A script's print() lands in sipd's output at once, between sipd's own lines. */
    config.buffered_stdio = 0;
    st = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(st)) {
        snprintf(err, errlen, "python: cannot start the interpreter: %s",
                 st.err_msg ? st.err_msg : "?");
        return SIP_ENOMEM;
    }
    /* The GIL is free while the loop waits: every entry into Python takes it (the callback
     * trampolines, the drains above), so a thread a script started runs meanwhile. */
    (void)PyEval_SaveThread();
    return 0;
}

/* ---- the host ------------------------------------------------------------------------------- */

static int py_reload(sipd_script_t *base, const char *path, char *err, size_t errlen);
static int py_run(sipd_script_t *base);
static void py_close(sipd_script_t *base);

static const sipd_script_ops_t py_ops = {"python", py_reload, py_run, py_close};

int sipd_script_py_open(sipd_script_t **out, sip_server_t *srv, const char *path, char *err,
                        size_t errlen)
{
    py_script_t *s;
    sip_loop_t *loop = sip_server_get_loop(srv);
    uv_loop_t *uv = loop != NULL ? (uv_loop_t *)sip_loop_get_uv(loop) : NULL;
    PyObject *sys_path = NULL, *dir = NULL, *mod = NULL, *cap = NULL, *hostmod = NULL;
    char pkg[PATH_MAX];
    int rc, fd;

    *out = NULL;
    if (uv == NULL) {
        snprintf(err, errlen, "the server is closed");
        return SIP_ECLOSED;
    }
    if (py_current != NULL) {
        snprintf(err, errlen, "a Python script is loaded already");
        return SIP_EBUSY;
    }
    rc = py_start(err, errlen);
    if (rc < 0) return rc;
    s = (py_script_t *)calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return SIP_ENOMEM;
    }
    s->base.ops = &py_ops;
    s->base.srv = sip_server_ref(srv);
    uv_idle_init(uv, &s->idle);
    uv_timer_init(uv, &s->timer);
    s->idle.data = s->timer.data = s->poll.data = s;
    /* The server, not asyncio, decides when sipd ends. */
    uv_unref((uv_handle_t *)&s->idle);
    uv_unref((uv_handle_t *)&s->timer);
    py_current = s;

    PyGILState_STATE g = PyGILState_Ensure();
    py_package_dir(pkg, sizeof(pkg));
    sys_path = PySys_GetObject("path"); /* borrowed */
    dir = PyUnicode_FromString(pkg);
    if (sys_path == NULL || dir == NULL || PyList_Insert(sys_path, 0, dir) < 0) goto fail;
    mod = PyImport_ImportModule("libsip._sipd");
    hostmod = PyImport_ImportModule("_sipd_host");
    if (mod == NULL || hostmod == NULL) goto fail;
    cap = PyCapsule_New(srv, "libsip.server", NULL);
    if (cap == NULL) goto fail;
    s->host = PyObject_CallMethod(mod, "open_host", "OsO", cap, path, hostmod);
    if (s->host == NULL) goto fail;
    {
        PyObject *f = PyObject_CallMethod(s->host, "fileno", NULL);
        fd = f != NULL ? (int)PyLong_AsLong(f) : -1;
        Py_XDECREF(f);
        if (fd < 0) goto fail;
    }
    if (uv_poll_init(uv, &s->poll, fd) == 0) {
        s->poll_on = 1;
        uv_unref((uv_handle_t *)&s->poll);
        uv_poll_start(&s->poll, UV_READABLE, on_poll);
    }
    Py_DECREF(cap);
    Py_DECREF(dir);
    Py_DECREF(mod);
    Py_DECREF(hostmod);
    /* Whatever module level scheduled (a task, a timer) runs in the first turn. */
    uv_idle_start(&s->idle, on_idle);
    PyGILState_Release(g);
    *out = &s->base;
    return 0;

fail:
    py_error(s, path, err, errlen);
    Py_XDECREF(cap);
    Py_XDECREF(dir);
    Py_XDECREF(mod);
    Py_XDECREF(hostmod);
    PyGILState_Release(g);
    py_close(&s->base);
    return SIP_ECONFIG;
}

static int py_reload(sipd_script_t *base, const char *path, char *err, size_t errlen)
{
    py_script_t *s = (py_script_t *)base;
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *r = PyObject_CallMethod(s->host, "reload", "s", path);
    int rc = 0;

    if (r == NULL) {
        py_error(s, path, err, errlen);
        rc = SIP_ECONFIG;
    }
    Py_XDECREF(r);
    PyGILState_Release(g);
    return rc;
}

static int py_run(sipd_script_t *base)
{
    return sip_loop_run(sip_server_get_loop(base->srv));
}

static void on_closed(uv_handle_t *h)
{
    py_script_t *s = (py_script_t *)h->data;
    if (--s->closing == 0) free(s);
}

static void py_close(sipd_script_t *base)
{
    py_script_t *s = (py_script_t *)base;
    sip_loop_t *loop = sip_server_get_loop(base->srv);
    PyGILState_STATE g;

    if (s->host != NULL) {
        PyObject *r;
        g = PyGILState_Ensure();
        r = PyObject_CallMethod(s->host, "close", NULL);
        if (r == NULL) {
            char err[256];
            py_error(s, "close", err, sizeof(err));
        }
        Py_XDECREF(r);
        Py_CLEAR(s->host);
        PyGILState_Release(g);
    }
    py_current = NULL;
    sip_server_unref(base->srv);
    base->srv = NULL;
    /* The handles close in the loop's next turn, then the host is freed. */
    s->closing = 2 + s->poll_on;
    uv_close((uv_handle_t *)&s->idle, on_closed);
    uv_close((uv_handle_t *)&s->timer, on_closed);
    if (s->poll_on) uv_close((uv_handle_t *)&s->poll, on_closed);
    if (loop != NULL) sip_loop_run_once(loop, 0);
    /* The interpreter stays: its modules (libsip's among them) cannot be loaded twice. */
}

#else /* !SIPD_HAVE_PYTHON */

#include <stdio.h>

#include "script_int.h"

int sipd_script_py_open(sipd_script_t **out, sip_server_t *srv, const char *path, char *err,
                        size_t errlen)
{
    (void)srv;
    *out = NULL;
    snprintf(err, errlen, "%s: this sipd was built without Python (LIBSIP_PYTHON=OFF)", path);
    return SIP_ENOTSUP;
}

#endif
