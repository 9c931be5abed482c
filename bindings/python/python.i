/* SPDX-License-Identifier: MIT */
/* Python typemaps and the callback invoker (sipbind_invoke) of the flat core libsip._core. */

%module(package="libsip", threads="1") _core

/* The GIL is kept for every call except those that wait: a loop runs other Python threads
 * while it sleeps, and takes the GIL back in each callback (PyGILState_Ensure); a starting
 * worker waits for its hub's answer (sip/worker.h), which no Python code gives. */
%nothread;
%thread sip_loop_run;
%thread sip_loop_run_once;
%thread sip_worker_create;

%{
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip.h"

/* ---- bytes-like inputs ---------------------------------------------------------------------- */

/* Reads str (as UTF-8), bytes or any buffer into (ptr, len). A buffer is released by the caller
 * through *view when *have_view is set. None gives (NULL, 0) when allow_none. */
static int sipbind_get_bytes(PyObject *obj, const char **ptr, size_t *len, Py_buffer *view,
                             int *have_view, int allow_none)
{
    *have_view = 0;
    if (obj == Py_None && allow_none) {
        *ptr = NULL;
        *len = 0;
        return 0;
    }
    if (PyUnicode_Check(obj)) {
        Py_ssize_t n;
        const char *p = PyUnicode_AsUTF8AndSize(obj, &n);
        if (p == NULL)
            return -1;
        *ptr = p;
        *len = (size_t)n;
        return 0;
    }
    if (PyBytes_Check(obj)) {
        *ptr = PyBytes_AS_STRING(obj);
        *len = (size_t)PyBytes_GET_SIZE(obj);
        return 0;
    }
    if (PyObject_CheckBuffer(obj)) {
        if (PyObject_GetBuffer(obj, view, PyBUF_SIMPLE) < 0)
            return -1;
        *have_view = 1;
        *ptr = (const char *)view->buf;
        *len = (size_t)view->len;
        return 0;
    }
    PyErr_Format(PyExc_TypeError, "expected bytes or str, not %.100s", Py_TYPE(obj)->tp_name);
    return -1;
}

static PyObject *sipbind_bytes(const char *ptr, size_t len)
{
    return PyBytes_FromStringAndSize(ptr != NULL ? ptr : "", ptr != NULL ? (Py_ssize_t)len : 0);
}

/* ---- callbacks ------------------------------------------------------------------------------ */

/* Called with the exception of a callback; set by the package (logs to the "libsip" logger, or
 * keeps it for run() to raise in strict mode). Without it: sys.unraisablehook. */
static PyObject *sipbind_error_hook = NULL;

static int sipbind_finalizing(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    return Py_IsFinalizing();
#else
    return _Py_IsFinalizing();
#endif
}

/* Hands the pending exception to the hook. GIL held; the exception is cleared on return. */
static void sipbind_report(PyObject *where)
{
    PyObject *type, *value, *tb, *r;

    if (sipbind_error_hook == NULL) {
        PyErr_WriteUnraisable(where);
        return;
    }
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value == NULL) {
        value = Py_None;
        Py_INCREF(value);
    }
    if (tb != NULL && value != Py_None)
        PyException_SetTraceback(value, tb);
    r = PyObject_CallOneArg(sipbind_error_hook, value);
    if (r == NULL)
        PyErr_WriteUnraisable(sipbind_error_hook);
    Py_XDECREF(r);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

/* Ends a callback: reports an exception, then lets a pending signal (Ctrl-C while the loop
 * runs) surface through the same hook, since no Python code may run again for a long time. */
static void sipbind_finish(PyObject *fn, PyObject *r)
{
    if (r == NULL)
        sipbind_report(fn);
    Py_XDECREF(r);
    if (PyErr_CheckSignals() < 0)
        sipbind_report(fn);
}

static void sipbind_user_free(void *user)
{
    PyGILState_STATE g;

    /* While the interpreter finalizes, objects may already be gone: leak the reference. */
    if (user == NULL || sipbind_finalizing())
        return;
    g = PyGILState_Ensure();
    Py_DECREF((PyObject *)user);
    PyGILState_Release(g);
}

/* Python hands a callback's error to its hook (sipbind_report), never to a loop's logger:
 * the trampolines need not look the loop up. */
#define SIPBIND_ERROR_LOOP(expr) NULL
%}

/* ---- the error hook ------------------------------------------------------------------------- */

%inline %{
/* Sets the function that receives exceptions raised by callbacks (None: sys.unraisablehook). */
static PyObject *set_callback_error_hook(PyObject *hook)
{
    PyObject *old = sipbind_error_hook;
    if (hook != Py_None && !PyCallable_Check(hook)) {
        PyErr_SetString(PyExc_TypeError, "hook must be callable or None");
        return NULL;
    }
    if (hook == Py_None) {
        sipbind_error_hook = NULL;
    } else {
        Py_INCREF(hook);
        sipbind_error_hook = hook;
    }
    Py_XDECREF(old);
    Py_RETURN_NONE;
}
%}

/* ---- generic typemaps the language-neutral libsip.i applies ---------------------------------- */

%typemap(in) (const char *SIP_BYTES, size_t SIP_BYTES_LEN) (Py_buffer view, int have_view = 0) {
    const char *p_;
    if (sipbind_get_bytes($input, &p_, &$2, &view, &have_view, 1) < 0)
        SWIG_fail;
    $1 = ($1_ltype)p_;
}
%typemap(freearg) (const char *SIP_BYTES, size_t SIP_BYTES_LEN) {
    if (have_view$argnum)
        PyBuffer_Release(&view$argnum);
}

%typemap(in) sip_str_t (Py_buffer view, int have_view = 0) {
    if (sipbind_get_bytes($input, &$1.ptr, &$1.len, &view, &have_view, 1) < 0)
        SWIG_fail;
}
%typemap(freearg) sip_str_t {
    if (have_view$argnum)
        PyBuffer_Release(&view$argnum);
}
%typemap(out) sip_str_t {
    $result = sipbind_bytes($1.ptr, $1.len);
}
%typemap(out) sip_str_t * {
    if ($1 == NULL) {
        Py_INCREF(Py_None);
        $result = Py_None;
    } else {
        $result = sipbind_bytes($1->ptr, $1->len);
    }
}

%typemap(in, numinputs=0) sip_str_t *SIP_STR_OUT (sip_str_t tmp) {
    tmp.ptr = NULL;
    tmp.len = 0;
    $1 = &tmp;
}
%typemap(argout) sip_str_t *SIP_STR_OUT {
    PyObject *o_ = sipbind_bytes($1->ptr, $1->len);
    if (o_ == NULL)
        SWIG_fail;
    $result = SWIG_Python_AppendOutput($result, o_);
}

%typemap(in) sip_str_t *SIP_STR_INOUT (sip_str_t tmp, Py_buffer view, int have_view = 0) {
    if (sipbind_get_bytes($input, &tmp.ptr, &tmp.len, &view, &have_view, 1) < 0)
        SWIG_fail;
    $1 = &tmp;
}
%typemap(argout) sip_str_t *SIP_STR_INOUT {
    PyObject *o_ = sipbind_bytes($1->ptr, $1->len);
    if (o_ == NULL)
        SWIG_fail;
    $result = SWIG_Python_AppendOutput($result, o_);
}
%typemap(freearg) sip_str_t *SIP_STR_INOUT {
    if (have_view$argnum)
        PyBuffer_Release(&view$argnum);
}

%typemap(in, numinputs=0) SWIGTYPE **SIP_HANDLE_OUT ($*1_ltype tmp = NULL) {
    $1 = &tmp;
}
%typemap(argout) SWIGTYPE **SIP_HANDLE_OUT {
    $result = SWIG_Python_AppendOutput($result,
                                       SWIG_NewPointerObj(SWIG_as_voidptr(*$1), $*1_descriptor, 0));
}

%typemap(in, numinputs=0) SWIGTYPE **SIP_OWNED_OUT ($*1_ltype tmp = NULL) {
    $1 = &tmp;
}
%typemap(argout) SWIGTYPE **SIP_OWNED_OUT {
    $result = SWIG_Python_AppendOutput($result, SWIG_NewPointerObj(SWIG_as_voidptr(*$1),
                                       $*1_descriptor, SWIG_POINTER_OWN));
}

%typemap(in, numinputs=0) SWIGTYPE *SIP_STRUCT_OUT ($*1_ltype tmp) {
    memset(&tmp, 0, sizeof(tmp));
    $1 = &tmp;
}
%typemap(argout) SWIGTYPE *SIP_STRUCT_OUT {
    PyObject *o_;
    if (result >= 0) {
        $*1_ltype *copy_ = ($*1_ltype *)malloc(sizeof(*copy_));
        if (copy_ == NULL) {
            PyErr_NoMemory();
            SWIG_fail;
        }
        *copy_ = *$1;
        o_ = SWIG_NewPointerObj(SWIG_as_voidptr(copy_), $1_descriptor, SWIG_POINTER_OWN);
    } else {
        Py_INCREF(Py_None);
        o_ = Py_None;
    }
    $result = SWIG_Python_AppendOutput($result, o_);
}

%typemap(in, numinputs=0) SWIGTYPE *SIP_ERR_OUT ($*1_ltype tmp) {
    memset(&tmp, 0, sizeof(tmp));
    $1 = &tmp;
}
%typemap(argout) SWIGTYPE *SIP_ERR_OUT {
    PyObject *o_;
    if (result < 0) {
        $*1_ltype *copy_ = ($*1_ltype *)malloc(sizeof(*copy_));
        if (copy_ == NULL) {
            PyErr_NoMemory();
            SWIG_fail;
        }
        *copy_ = *$1;
        o_ = SWIG_NewPointerObj(SWIG_as_voidptr(copy_), $1_descriptor, SWIG_POINTER_OWN);
    } else {
        Py_INCREF(Py_None);
        o_ = Py_None;
    }
    $result = SWIG_Python_AppendOutput($result, o_);
}

%typemap(in, numinputs=0) size_t *SIP_SIZE_OUT (size_t tmp = 0) {
    $1 = &tmp;
}
%typemap(argout) size_t *SIP_SIZE_OUT {
    $result = SWIG_Python_AppendOutput($result, PyLong_FromSize_t(*$1));
}
%typemap(in, numinputs=0) unsigned long *SIP_ULONG_OUT (unsigned long tmp = 0) {
    $1 = &tmp;
}
%typemap(argout) unsigned long *SIP_ULONG_OUT {
    $result = SWIG_Python_AppendOutput($result, PyLong_FromUnsignedLong(*$1));
}

%typemap(in, numinputs=0) (char **SIP_TEXT, size_t *SIP_TEXT_LEN) (char *text = NULL,
                                                                   size_t tlen = 0) {
    $1 = &text;
    $2 = &tlen;
}
%typemap(argout) (char **SIP_TEXT, size_t *SIP_TEXT_LEN) {
    PyObject *o_;
    if (*$1 != NULL) {
        o_ = PyBytes_FromStringAndSize(*$1, (Py_ssize_t)*$2);
        free(*$1);
        *$1 = NULL;
        if (o_ == NULL)
            SWIG_fail;
    } else {
        Py_INCREF(Py_None);
        o_ = Py_None;
    }
    $result = SWIG_Python_AppendOutput($result, o_);
}
%typemap(freearg) (char **SIP_TEXT, size_t *SIP_TEXT_LEN) {
    free(text$argnum);
}

/* Option strings (tls_cert_file, from, headers...): libsip copies them when it reads the
 * options, so the struct may point into the str's UTF-8 form as long as that str lives. It is
 * kept in the struct object's __dict__ under the field's name, as in Lua, instead of SWIG's
 * default malloc'd copy that nothing would ever free (a leak per assignment). */
%typemap(memberin) const char * {
    {
        PyObject *d_ = SwigPyObject_get___dict__(self, NULL);
        int rc_ = d_ != NULL ? PyDict_SetItemString(d_, "$name", swig_obj[0]) : -1;
        Py_XDECREF(d_);
        if (rc_ < 0) SWIG_fail;
        if (PyUnicode_Check(swig_obj[0])) {
            $1 = PyUnicode_AsUTF8(swig_obj[0]);
            if ($1 == NULL) SWIG_fail;
        } else {
            $1 = $input;
        }
    }
}

/* A struct pointer field of an options struct (sip_reg_opts_t's dst...): the struct keeps
 * pointing at the script's object, which stays its owner (no SWIG_POINTER_DISOWN, SWIG's default
 * for a pointer member, which left the object to nobody: a leak per assignment). libsip copies
 * what the field points to in the call that takes the options; until then the options object
 * keeps the assigned object alive in its __dict__, under the field's name. */
%typemap(in, noblock=1) SWIGTYPE *SIP_KEPT (void *argp = 0, int res = 0) {
    res = SWIG_ConvertPtr($input, &argp, $descriptor, 0);
    if (!SWIG_IsOK(res)) {
        %argument_fail(res, "$type", $symname, $argnum);
    }
    $1 = %reinterpret_cast(argp, $ltype);
}
%typemap(memberin) SWIGTYPE *SIP_KEPT {
    {
        PyObject *d_ = SwigPyObject_get___dict__(self, NULL);
        int rc_ = d_ != NULL ? PyDict_SetItemString(d_, "$name", swig_obj[0]) : -1;
        Py_XDECREF(d_);
        if (rc_ < 0) SWIG_fail;
    }
    $1 = $input;
}

/* ---- callbacks: the trampolines and the table are ../callbacks.i's ------------------------ */

/* One callable (or None) for (cb, user, user_free). Callbacks are the last C arguments, so no
 * conversion can fail after the reference is taken; libsip runs user_free on every failure. */
%define SIPBIND_TYPEMAP(T, N)
%typemap(in) (T N, void *user, sip_free_fn user_free) {
    if ($input == Py_None) {
        $1 = NULL;
        $2 = NULL;
        $3 = NULL;
    } else {
        if (!PyCallable_Check($input))
            SWIG_exception_fail(SWIG_TypeError, "expected a callable or None");
        Py_INCREF($input);
        $1 = sipbind_tramp_##T;
        $2 = (void *)$input;
        $3 = sipbind_user_free;
    }
}
%enddef

%include "../callbacks.i"

%{
/* One argument as a new reference, or NULL with an exception set. */
static PyObject *sipbind_arg_to_py(const sipbind_arg_t *a)
{
    PyObject *list;
    size_t i;

    switch (a->kind) {
    case SB_HANDLE:
        /* The one cast from a const handle (the const sip_msg_t * of sip_response_cb and
         * sip_txn_event_cb) to SWIG's pointer object, which knows no const. The script gets the
         * view every handle gives; it may sip_msg_ref() it to keep it, as the C docs say, and
         * libsip never edits a message a callback borrowed. NULL becomes None. */
        return SWIG_InternalNewPointerObj((void *)a->p, a->type, 0);
    case SB_INT:
        return PyLong_FromLong(a->i);
    case SB_STR: {
        /* A log line may quote bytes of a message that are not UTF-8: decode with replacement. */
        const char *s = a->p != NULL ? (const char *)a->p : "";
        return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
    }
    case SB_TARGETS:
        list = PyList_New(0);
        for (i = 0; list != NULL && a->p != NULL && i < a->n; i++) {
            sip_netinfo_t *copy = (sip_netinfo_t *)malloc(sizeof(*copy));
            PyObject *o;
            if (copy == NULL) {
                Py_CLEAR(list);
                PyErr_NoMemory();
                break;
            }
            *copy = ((const sip_netinfo_t *)a->p)[i];
            o = SWIG_InternalNewPointerObj(copy, SWIGTYPE_p_sip_netinfo, SWIG_POINTER_OWN);
            if (o == NULL || PyList_Append(list, o) < 0)
                Py_CLEAR(list);
            Py_XDECREF(o);
        }
        return list;
    }
    PyErr_SetString(PyExc_SystemError, "libsip: unknown callback argument kind");
    return NULL;
}

/* Every trampoline ends here: returns at once while the interpreter finalizes, else takes the
 * GIL, converts the arguments (on the stack), calls, and reports an exception through the hook.
 * loop is unused: see SIPBIND_ERROR_LOOP. */
static int sipbind_invoke(void *user, sip_loop_t *loop, const sipbind_arg_t *args, int n)
{
    PyObject *fn = (PyObject *)user;
    PyObject *argv[SIPBIND_MAX_ARGS];
    PyObject *r = NULL;
    PyGILState_STATE gil;
    int i, k = 0, ret = 0;

    (void)loop;
    if (sipbind_finalizing())
        return 0;
    gil = PyGILState_Ensure();
    for (i = 0; i < n && i < SIPBIND_MAX_ARGS; i++) {
        if ((argv[k] = sipbind_arg_to_py(&args[i])) == NULL)
            break;
        k++;
    }
    if (k == n)
        r = PyObject_Vectorcall(fn, argv, (size_t)n, NULL);
    while (k > 0)
        Py_DECREF(argv[--k]);
    if (r != NULL) {
        /* The decision of a callback that returns one: truth, as `if r:` reads it. */
        ret = PyObject_IsTrue(r);
        if (ret < 0) {
            Py_DECREF(r);
            r = NULL;
            ret = 0;
        }
    }
    sipbind_finish(fn, r);
    PyGILState_Release(gil);
    return ret;
}
%}

%include "../libsip.i"

/* ---- package fast paths ------------------------------------------------------------------- */

/* The Python package's reply(): one crossing instead of six (create, each header, body, send),
 * since a callback-per-request responder spends its time in the package, not in libsip. */
%apply (const char *SIP_BYTES, size_t SIP_BYTES_LEN) { (const char *body, size_t body_len) };
%{
/* Adds one header whose value is a str, or an int for a numeric header (Max-Forwards, ...).
 * Anything else gives SIP_EINVAL without an exception: the package checks the values again
 * (an Address or Uri is converted there, anything else raises TypeError naming the header). */
static int sipbind_add_value(sip_msg_t *msg, const char *name, PyObject *value)
{
    char num[32];
    const char *v;

    if (PyUnicode_Check(value)) {
        v = PyUnicode_AsUTF8(value);
    } else if (PyLong_CheckExact(value) &&
               sip_hdr_kind(sip_hdr_id_from_name(name, strlen(name))) == SIP_HK_NUM) {
        long long n = PyLong_AsLongLong(value);
        if (n == -1 && PyErr_Occurred())
            return SIP_EINVAL;
        snprintf(num, sizeof(num), "%lld", n);
        v = num;
    } else {
        return SIP_EINVAL;
    }
    return v != NULL ? sip_msg_add_header(msg, name, v) : SIP_EINVAL;
}

/* name: a str; value: one value, or a list or tuple of values. */
static int sipbind_add_header_item(sip_msg_t *msg, PyObject *name, PyObject *value)
{
    const char *n = PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
    Py_ssize_t i;
    int rc = 0;

    if (n == NULL)
        return SIP_EINVAL;
    if (!PyList_Check(value) && !PyTuple_Check(value))
        return sipbind_add_value(msg, n, value);
    for (i = 0; rc == 0 && i < PySequence_Fast_GET_SIZE(value); i++)
        rc = sipbind_add_value(msg, n, PySequence_Fast_GET_ITEM(value, i));
    return rc;
}

static int sipbind_add_headers(sip_msg_t *msg, PyObject *headers)
{
    PyObject *seq, *key, *value;
    Py_ssize_t pos = 0, i;
    int rc = 0;

    if (headers == NULL || headers == Py_None)
        return 0;
    if (PyDict_Check(headers)) {
        while (rc == 0 && PyDict_Next(headers, &pos, &key, &value))
            rc = sipbind_add_header_item(msg, key, value);
        return rc;
    }
    seq = PySequence_Fast(headers, "headers");
    if (seq == NULL)
        return SIP_EINVAL;
    for (i = 0; rc == 0 && i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2)
            rc = SIP_EINVAL;
        else
            rc = sipbind_add_header_item(msg, PyTuple_GET_ITEM(item, 0), PyTuple_GET_ITEM(item, 1));
    }
    Py_DECREF(seq);
    return rc;
}
%}

%inline %{
/* Builds the response to req, adds headers (None, a dict, or a sequence of (name, value) pairs;
 * a list or tuple value adds each item; a value is a str, or an int for a numeric header), sets
 * the body when body or content_type is not None, and sends it. With txn: built by
 * sip_txn_create_response(), which gives every response of the transaction the same To tag
 * (RFC 3261 §8.2.6.2), and sent with sip_txn_reply(); else sip_msg_create_response() and
 * sip_transport_send_response() on tp.
 * Returns (rc, rsp): rsp (New reference) when rc is 0, else None. SIP_EINVAL from a header
 * leaves no Python exception: the package builds the response again the slow way to say which. */
static int sipbind_reply(sip_msg_t **out, sip_transport_t *tp, sip_txn_t *txn,
                         const sip_msg_t *req, int status, const char *reason, PyObject *headers,
                         const char *body, size_t body_len, const char *content_type)
{
    sip_msg_t *rsp = NULL;
    int rc;

    *out = NULL;
    rc = txn != NULL ? sip_txn_create_response(&rsp, txn, status, reason)
                     : sip_msg_create_response(&rsp, req, status, reason, NULL);
    if (rc == 0)
        rc = sipbind_add_headers(rsp, headers);
    if (rc == 0 && (body != NULL || content_type != NULL))
        rc = sip_msg_set_body(rsp, content_type, body, body_len);
    if (rc < 0) {
        PyErr_Clear();
        sip_msg_unref(rsp);
        return rc;
    }
    rc = txn != NULL ? sip_txn_reply(txn, rsp) : sip_transport_send_response(tp, rsp);
    if (rc < 0) {
        sip_msg_unref(rsp);
        return rc;
    }
    *out = rsp;
    return 0;
}
%}

/* ---- the script host of sipd (tools/sipd/script_py.c) ------------------------------------- */

%inline %{
/* The server a host program hands over in a capsule named "libsip.server": a SWIG pointer of
 * sip_server_t * holding a New reference (the package's Server adopts it), or an exception
 * for anything else. Private to libsip/_sipd.py. */
static PyObject *sipbind_server_from_capsule(PyObject *capsule)
{
    sip_server_t *srv = (sip_server_t *)PyCapsule_GetPointer(capsule, "libsip.server");
    if (srv == NULL)
        return NULL;
    return SWIG_InternalNewPointerObj(SWIG_as_voidptr(sip_server_ref(srv)), SWIGTYPE_p_sip_server,
                                      0);
}
%}

/* ---- the proxy's route path ----------------------------------------------------------------- */

%inline %{
/* The method of a proxy request as a str (as Message.method reads it: UTF-8, bad octets kept
 * as surrogates), "" when req is NULL: ProxyRequest.method without a Message per request. */
static PyObject *sipbind_proxy_req_method(sip_proxy_req_t *req)
{
    const sip_msg_t *m = req != NULL ? sip_proxy_req_get_msg(req) : NULL;
    sip_str_t s = {NULL, 0};
    if (m != NULL && sip_msg_is_request(m))
        s = sip_msg_get_method_str(m);
    return PyUnicode_DecodeUTF8(s.ptr != NULL ? s.ptr : "", s.ptr != NULL ? (Py_ssize_t)s.len : 0,
                                "surrogateescape");
}
%}

%inline %{
/* Steps a coroutine once, as coro.send(None) does, except that its return gives `returned`
 * (its value dropped) instead of raising StopIteration: no exception object and no traceback
 * per request for the server's eagerly stepped route. What it yields is returned; what it
 * raises propagates. */
static PyObject *sipbind_coro_step(PyObject *coro, PyObject *returned)
{
    PyObject *r = NULL;
    PySendResult s = PyIter_Send(coro, Py_None, &r);

    if (s == PYGEN_ERROR)
        return NULL;
    if (s == PYGEN_RETURN) {
        Py_XDECREF(r);
        Py_INCREF(returned);
        return returned;
    }
    return r;
}
%}

/* ---- the server's route path: fewer objects per request ------------------------------------ */

%{
#include <limits.h>
#include <stdint.h>
#include <structmember.h>

/* round() of Python for a float (half to even), without libm. d is within range. */
static long long sipbind_round_even(double d)
{
    long long i = (long long)d; /* toward zero */
    double frac = d - (double)i;
    if (frac > 0.5 || (frac == 0.5 && (i & 1)))
        i++;
    else if (frac < -0.5 || (frac == -0.5 && (i & 1)))
        i--;
    return i;
}

/* The route of sipd's server in Python takes the request alone: fn(req), req a SWIG pointer
 * holding a New reference that the package's ProxyRequest adopts (it unrefs it when it goes).
 * One object per request where the table's trampoline makes three (the proxy handle, the
 * borrowed request, and the package's reference to it). */
static void sipbind_route_req_tramp(sip_proxy_t *p, sip_proxy_req_t *req, void *u)
{
    PyObject *fn = (PyObject *)u, *arg, *r = NULL;
    PyGILState_STATE gil;

    (void)p;
    if (sipbind_finalizing())
        return;
    gil = PyGILState_Ensure();
    arg = SWIG_InternalNewPointerObj(SWIG_as_voidptr(sip_proxy_req_ref(req)),
                                     SWIGTYPE_p_sip_proxy_req, 0);
    if (arg == NULL) {
        sip_proxy_req_unref(req);
    } else {
        r = PyObject_CallOneArg(fn, arg);
        Py_DECREF(arg);
    }
    sipbind_finish(fn, r);
    PyGILState_Release(gil);
}

/* The names of Binding's attributes, in the order of sipbind_binding_new(). */
static PyObject *sipbind_binding_names[15];

static int sipbind_binding_names_init(void)
{
    static const char *const names[15] = {"aor",      "contact", "params",   "expires",
                                          "q",        "call_id", "cseq",     "path",
                                          "received", "socket",  "conn_id",  "instance",
                                          "reg_id",   "user_agent", "updated"};
    int i;
    if (sipbind_binding_names[14] != NULL)
        return 0;
    for (i = 0; i < 15; i++)
        if (sipbind_binding_names[i] == NULL &&
            (sipbind_binding_names[i] = PyUnicode_InternFromString(names[i])) == NULL)
            return -1;
    return 0;
}

/* Where Binding's __slots__ live in its objects (cls's member descriptors, read once): the
 * fields are stored there without a setattr per field. */
static PyObject *sipbind_binding_cls;
static Py_ssize_t sipbind_binding_offsets[15];

/* 0 when sipbind_binding_offsets are cls's; -1 when cls is not a class of plain slots. */
static int sipbind_binding_slots(PyObject *cls)
{
    Py_ssize_t offs[15];
    int i;

    if (cls == sipbind_binding_cls)
        return 0;
    for (i = 0; i < 15; i++) {
        PyObject *d = PyObject_GetAttr(cls, sipbind_binding_names[i]);
        int ok = d != NULL && Py_IS_TYPE(d, &PyMemberDescr_Type) &&
                 ((PyMemberDescrObject *)d)->d_member->type == T_OBJECT_EX &&
                 !(((PyMemberDescrObject *)d)->d_member->flags & READONLY);
        if (ok)
            offs[i] = ((PyMemberDescrObject *)d)->d_member->offset;
        Py_XDECREF(d);
        if (!ok)
            return -1;
    }
    memcpy(sipbind_binding_offsets, offs, sizeof(offs));
    Py_INCREF(cls);
    Py_XSETREF(sipbind_binding_cls, cls);
    return 0;
}

/* A string field as SWIG's getter gives it: None for NULL. */
static PyObject *sipbind_field_str(const char *s)
{
    if (s == NULL)
        Py_RETURN_NONE;
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "surrogateescape");
}

/* A libsip.Binding (cls) with the fields of b, as Binding(b) makes it, without a SWIG object
 * and a getter call per field. */
static PyObject *sipbind_binding_new(const sip_binding_t *b, PyObject *cls)
{
    PyTypeObject *t = (PyTypeObject *)cls;
    PyObject *o, *empty, *v[15];
    int i, ok = 1;

    empty = PyTuple_New(0);
    o = empty != NULL ? t->tp_new(t, empty, NULL) : NULL;
    Py_XDECREF(empty);
    if (o == NULL)
        return NULL;
    v[0] = sipbind_field_str(b->aor);
    v[1] = sipbind_field_str(b->contact);
    v[2] = sipbind_field_str(b->params);
    v[3] = PyLong_FromLongLong((long long)b->expires);
    v[4] = b->q < 0 ? (Py_INCREF(Py_None), Py_None) : PyFloat_FromDouble(b->q / 1000.0);
    v[5] = sipbind_field_str(b->call_id);
    v[6] = PyLong_FromUnsignedLong(b->cseq);
    v[7] = sipbind_field_str(b->path);
    v[8] = sipbind_field_str(b->received);
    v[9] = sipbind_field_str(b->socket);
    v[10] = PyLong_FromUnsignedLongLong((unsigned long long)b->conn_id);
    v[11] = sipbind_field_str(b->instance);
    v[12] = PyLong_FromUnsignedLong(b->reg_id);
    v[13] = sipbind_field_str(b->user_agent);
    v[14] = PyLong_FromLongLong((long long)b->updated);
    if (sipbind_binding_slots(cls) == 0) {
        /* Straight into the slots, as their member descriptors store: v[i] is taken. */
        for (i = 0; i < 15; i++) {
            PyObject **slot = (PyObject **)((char *)o + sipbind_binding_offsets[i]);
            if (v[i] == NULL)
                ok = 0;
            Py_XSETREF(*slot, v[i]);
        }
    } else {
        PyErr_Clear();
        for (i = 0; i < 15; i++) {
            if (ok && (v[i] == NULL || PyObject_SetAttr(o, sipbind_binding_names[i], v[i]) < 0))
                ok = 0;
            Py_XDECREF(v[i]);
        }
    }
    if (!ok)
        Py_CLEAR(o);
    return o;
}

/* The bindings of a set as a list of cls (Binding), best first; [] for NULL. */
static PyObject *sipbind_bindings_list(const sip_bindings_t *set, PyObject *cls)
{
    size_t i, n = set != NULL ? sip_bindings_count(set) : 0;
    PyObject *list;

    if (!PyType_Check(cls)) {
        PyErr_SetString(PyExc_TypeError, "expected the Binding class");
        return NULL;
    }
    if (sipbind_binding_names_init() < 0)
        return NULL;
    list = PyList_New((Py_ssize_t)n);
    for (i = 0; list != NULL && i < n; i++) {
        PyObject *o = sipbind_binding_new(sip_bindings_at(set, i), cls);
        if (o == NULL)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, (Py_ssize_t)i, o);
    }
    return list;
}

/* A lookup of sipbind_proxy_req_lookup(): the memory and SQLite stores answer inside the call
 * (then the call returns the answer), another store later (then `later` gets it). */
typedef struct sipbind_lookup {
    int refs;     /* the call's, the registration's */
    int in_call;  /* the call has not returned yet */
    int answered; /* cb ran inside the call */
    int status;
    sip_bindings_t *set;
    PyObject *later, *cls;
} sipbind_lookup_t;

static void sipbind_lookup_unref(void *u)
{
    sipbind_lookup_t *st = (sipbind_lookup_t *)u;
    PyGILState_STATE g;

    if (--st->refs > 0)
        return;
    sip_bindings_unref(st->set);
    /* While the interpreter finalizes, objects may already be gone: leak the references. */
    if (!sipbind_finalizing()) {
        g = PyGILState_Ensure();
        Py_DECREF(st->later);
        Py_DECREF(st->cls);
        PyGILState_Release(g);
    }
    free(st);
}

static void sipbind_lookup_cb(sip_location_t *loc, int status, sip_bindings_t *set, void *u)
{
    sipbind_lookup_t *st = (sipbind_lookup_t *)u;
    PyGILState_STATE g;
    PyObject *list, *r = NULL;

    (void)loc;
    if (st->in_call) {
        st->answered = 1;
        st->status = status;
        st->set = set != NULL ? sip_bindings_ref(set) : NULL;
        return;
    }
    if (sipbind_finalizing())
        return;
    g = PyGILState_Ensure();
    list = sipbind_bindings_list(set, st->cls);
    if (list != NULL) {
        r = PyObject_CallFunction(st->later, "iO", status, list);
        Py_DECREF(list);
    }
    sipbind_finish(st->later, r);
    PyGILState_Release(g);
}
%}

%inline %{
/* Sets the server's route to fn(req) (sipbind_route_req_tramp: req holds a New reference),
 * or none for None. As sip_server_set_route(). */
static int sipbind_server_set_route_req(sip_server_t *srv, PyObject *fn)
{
    if (fn == Py_None)
        return sip_server_set_route(srv, NULL, NULL, NULL);
    if (!PyCallable_Check(fn))
        return SIP_EINVAL;
    Py_INCREF(fn);
    return sip_server_set_route(srv, sipbind_route_req_tramp, fn, sipbind_user_free);
}

/* sip_proxy_req_lookup() for ProxyRequest.lookup(): returns (status, bindings) when the
 * location service answered inside the call (bindings: a list of cls, libsip.Binding), None
 * when it answers later (then later(status, bindings) runs once), or the negative result of
 * sip_proxy_req_lookup() (later never runs). No future and no SWIG object per lookup. */
static PyObject *sipbind_proxy_req_lookup(sip_proxy_req_t *req, PyObject *later, PyObject *cls)
{
    sipbind_lookup_t *st = (sipbind_lookup_t *)calloc(1, sizeof(*st));
    PyObject *out = NULL, *list;
    int rc;

    if (st == NULL)
        return PyErr_NoMemory();
    st->refs = 2;
    st->in_call = 1;
    Py_INCREF(later);
    Py_INCREF(cls);
    st->later = later;
    st->cls = cls;
    rc = sip_proxy_req_lookup(req, sipbind_lookup_cb, st, sipbind_lookup_unref);
    st->in_call = 0;
    if (rc < 0) {
        out = PyLong_FromLong(rc);
    } else if (st->answered) {
        list = sipbind_bindings_list(st->set, cls);
        out = list != NULL ? Py_BuildValue("(iN)", st->status, list) : NULL;
    } else {
        Py_INCREF(Py_None);
        out = Py_None;
    }
    sip_bindings_unref(st->set);
    st->set = NULL;
    sipbind_lookup_unref(st);
    return out;
}

/* Clears the targets, then adds those of a list as ProxyRequest.proxy() does one by one
 * (_add_target: a str URI, or a Binding of class cls with its contact, q, Path, flow, and its
 * received address by the rule of sip_proxy_binding_uses_received()), in one call. Returns 0
 * when every one was added, 1 when one is anything else or could not be added: the package
 * then clears the targets and adds them its own way, which says what is wrong. */
static int sipbind_proxy_req_add_targets(sip_proxy_req_t *req, PyObject *list, PyObject *cls)
{
    Py_ssize_t i, n;

    if (!PyList_Check(list) || sipbind_binding_names_init() < 0) {
        PyErr_Clear();
        return 1;
    }
    sip_proxy_req_clear_targets(req);
    n = PyList_GET_SIZE(list);
    for (i = 0; i < n; i++) {
        PyObject *t = PyList_GET_ITEM(list, i), *f[7] = {NULL};
        const char *contact, *path = NULL, *dst = NULL, *instance = NULL;
        long long q = -1;
        unsigned long long conn_id = 0, reg_id = 0;
        int rc = 1, k;

        if (PyUnicode_CheckExact(t)) {
            contact = PyUnicode_AsUTF8(t);
            rc = contact != NULL ? sipbind_proxy_req_add_target(req, contact, -1, NULL, NULL, 0)
                                 : 1;
            if (rc != 0) {
                PyErr_Clear();
                return 1;
            }
            continue;
        }
        if ((PyObject *)Py_TYPE(t) != cls)
            return 1;
        /* contact, q, path, received, conn_id, instance, reg_id */
        f[0] = PyObject_GetAttr(t, sipbind_binding_names[1]);
        f[1] = PyObject_GetAttr(t, sipbind_binding_names[4]);
        f[2] = PyObject_GetAttr(t, sipbind_binding_names[7]);
        f[3] = PyObject_GetAttr(t, sipbind_binding_names[8]);
        f[4] = PyObject_GetAttr(t, sipbind_binding_names[10]);
        f[5] = PyObject_GetAttr(t, sipbind_binding_names[11]);
        f[6] = PyObject_GetAttr(t, sipbind_binding_names[12]);
        for (k = 0; k < 7; k++)
            if (f[k] == NULL)
                goto next;
        if (!PyUnicode_CheckExact(f[0]) || (contact = PyUnicode_AsUTF8(f[0])) == NULL)
            goto next;
        /* _q_milli(): None is none, a float in thousandths (round half to even, as round()),
         * an int as it is. */
        if (PyFloat_CheckExact(f[1])) {
            double d = PyFloat_AS_DOUBLE(f[1]) * 1000.0;
            if (!(d > -2147483648.0 && d < 2147483647.0))
                goto next;
            q = sipbind_round_even(d);
        } else if (PyLong_CheckExact(f[1])) {
            q = PyLong_AsLongLong(f[1]);
            if (q < INT_MIN || q > INT_MAX)
                goto next;
        } else if (f[1] != Py_None) {
            goto next;
        }
        /* `x or None` for the strings, `x or 0` for the numbers. */
        if (PyUnicode_CheckExact(f[2])) {
            if (PyUnicode_GET_LENGTH(f[2]) > 0 && (path = PyUnicode_AsUTF8(f[2])) == NULL)
                goto next;
        } else if (f[2] != Py_None) {
            goto next;
        }
        if (PyUnicode_CheckExact(f[3])) {
            if (PyUnicode_GET_LENGTH(f[3]) > 0 && (dst = PyUnicode_AsUTF8(f[3])) == NULL)
                goto next;
        } else if (f[3] != Py_None) {
            goto next;
        }
        if (PyUnicode_CheckExact(f[5])) {
            if (PyUnicode_GET_LENGTH(f[5]) > 0 && (instance = PyUnicode_AsUTF8(f[5])) == NULL)
                goto next;
        } else if (f[5] != Py_None) {
            goto next;
        }
        if (PyLong_CheckExact(f[4])) {
            conn_id = PyLong_AsUnsignedLongLong(f[4]);
            if (conn_id == (unsigned long long)-1 && PyErr_Occurred())
                goto next;
        } else if (f[4] != Py_None) {
            goto next;
        }
        if (PyLong_CheckExact(f[6])) {
            reg_id = PyLong_AsUnsignedLongLong(f[6]);
            if ((reg_id == (unsigned long long)-1 && PyErr_Occurred()) || reg_id > UINT32_MAX)
                goto next;
        } else if (f[6] != Py_None) {
            goto next;
        }
        if (dst != NULL && !sip_proxy_binding_uses_received(contact, instance, (uint32_t)reg_id))
            dst = NULL;
        rc = sipbind_proxy_req_add_target(req, contact, (int)q, path, dst, conn_id);
    next:
        for (k = 0; k < 7; k++)
            Py_XDECREF(f[k]);
        if (rc != 0) {
            PyErr_Clear();
            return 1;
        }
    }
    return 0;
}
%}
