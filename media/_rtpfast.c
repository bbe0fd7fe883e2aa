/* The media worker's per-packet SRTP and egress in C (see media/aiortc_hooks.py).
 *
 * send_rtp() writes a forwarded RTP packet for one subscriber from that subscriber's
 * header template and the publisher's payload, protects a copy with the subscriber's
 * SRTP session (libsrtp, as loaded by pylibsrtp: its context and srtp_protect are passed
 * in as addresses) and sends it on the selected ICE pair's UDP socket. It returns the
 * plain packet, which the caller keeps for answering NACKs, or None when the socket
 * had no room (the packet is dropped, as a congested network would).
 *
 * Built by `make` (media/build_fastpath.py); without it the worker uses the same steps
 * in Python.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define MAX_PACKET 1500
#define MAX_TRAILER 160 /* libsrtp's SRTP_MAX_TRAILER_LEN with MKI, rounded up */

typedef int (*protect_fn)(void *ctx, void *rtp, int *len);

static int as_ulong(PyObject *o, unsigned long *out) {
    *out = PyLong_AsUnsignedLong(o);
    return !(*out == (unsigned long)-1 && PyErr_Occurred());
}

static int as_long(PyObject *o, long *out) {
    *out = PyLong_AsLong(o);
    return !(*out == -1 && PyErr_Occurred());
}

/* sockaddr(host, port) -> bytes: the address in the form sendto() takes. */
static PyObject *fast_sockaddr(PyObject *self, PyObject *args) {
    const char *host;
    int port;
    if (!PyArg_ParseTuple(args, "si", &host, &port)) return NULL;
    if (port < 0 || port > 65535) {
        PyErr_SetString(PyExc_ValueError, "port out of range");
        return NULL;
    }
    struct sockaddr_in v4;
    memset(&v4, 0, sizeof v4);
    if (inet_pton(AF_INET, host, &v4.sin_addr) == 1) {
        v4.sin_family = AF_INET;
        v4.sin_port = htons((uint16_t)port);
        return PyBytes_FromStringAndSize((const char *)&v4, sizeof v4);
    }
    struct sockaddr_in6 v6;
    memset(&v6, 0, sizeof v6);
    if (inet_pton(AF_INET6, host, &v6.sin6_addr) == 1) {
        v6.sin6_family = AF_INET6;
        v6.sin6_port = htons((uint16_t)port);
        return PyBytes_FromStringAndSize((const char *)&v6, sizeof v6);
    }
    PyErr_Format(PyExc_ValueError, "not an IP address: %s", host);
    return NULL;
}

/* send_rtp(fd, sockaddr, srtp_ctx, srtp_protect, header, payload, byte1, seq, ts,
 *          level_at, level_byte, abs_at, abs_send_time) -> bytes | None */
static PyObject *fast_send_rtp(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 13) {
        PyErr_SetString(PyExc_TypeError, "send_rtp() takes 13 arguments");
        return NULL;
    }
    long fd, byte1, level_at, level_byte, abs_at;
    unsigned long ctx, protect, seq, ts, abs_time;
    if (!as_long(args[0], &fd) || !as_ulong(args[2], &ctx) || !as_ulong(args[3], &protect)
        || !as_long(args[6], &byte1) || !as_ulong(args[7], &seq) || !as_ulong(args[8], &ts)
        || !as_long(args[9], &level_at) || !as_long(args[10], &level_byte)
        || !as_long(args[11], &abs_at) || !as_ulong(args[12], &abs_time))
        return NULL;
    PyObject *addr = args[1], *header = args[4], *payload = args[5];
    if (!PyBytes_Check(addr) || !PyBytes_Check(header) || !PyBytes_Check(payload)) {
        PyErr_SetString(PyExc_TypeError, "sockaddr, header and payload must be bytes");
        return NULL;
    }
    Py_ssize_t head_len = PyBytes_GET_SIZE(header), body_len = PyBytes_GET_SIZE(payload);
    Py_ssize_t size = head_len + body_len;
    if (head_len < 12 || size > MAX_PACKET || ctx == 0 || protect == 0
        || level_at < 0 || level_at >= head_len || abs_at < 0 || abs_at + 3 > head_len) {
        PyErr_SetString(PyExc_ValueError, "bad RTP header template or packet too long");
        return NULL;
    }
    PyObject *plain = PyBytes_FromStringAndSize(NULL, size);
    if (plain == NULL) return NULL;
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(plain);
    memcpy(out, PyBytes_AS_STRING(header), head_len);
    memcpy(out + head_len, PyBytes_AS_STRING(payload), body_len);
    out[1] = (unsigned char)byte1;
    out[2] = (unsigned char)(seq >> 8);
    out[3] = (unsigned char)seq;
    out[4] = (unsigned char)(ts >> 24);
    out[5] = (unsigned char)(ts >> 16);
    out[6] = (unsigned char)(ts >> 8);
    out[7] = (unsigned char)ts;
    if (level_at) out[level_at] = (unsigned char)level_byte;
    if (abs_at) {
        out[abs_at] = (unsigned char)(abs_time >> 16);
        out[abs_at + 1] = (unsigned char)(abs_time >> 8);
        out[abs_at + 2] = (unsigned char)abs_time;
    }
    unsigned char wire[MAX_PACKET + MAX_TRAILER];
    memcpy(wire, out, size);
    int length = (int)size;
    int status = ((protect_fn)protect)((void *)ctx, wire, &length);
    if (status != 0) {
        Py_DECREF(plain);
        PyErr_Format(PyExc_ValueError, "SRTP protect failed (%d)", status);
        return NULL;
    }
    /* The socket is non-blocking: no need to let go of the GIL for the call. */
    ssize_t sent = sendto((int)fd, wire, (size_t)length, 0, (const struct sockaddr *)PyBytes_AS_STRING(addr),
                  (socklen_t)PyBytes_GET_SIZE(addr));
    if (sent < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
            Py_DECREF(plain);
            Py_RETURN_NONE;
        }
        Py_DECREF(plain);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return plain;
}

/* unprotect(srtp_ctx, srtp_unprotect, data) -> bytes | None: the plain RTP packet, or
 * None when it does not authenticate, is a replay or is longer than any RTP packet. */
static PyObject *fast_unprotect(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    unsigned long ctx, unprotect;
    if (nargs != 3 || !PyBytes_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "unprotect(srtp_ctx, srtp_unprotect, data: bytes)");
        return NULL;
    }
    if (!as_ulong(args[0], &ctx) || !as_ulong(args[1], &unprotect)) return NULL;
    Py_ssize_t size = PyBytes_GET_SIZE(args[2]);
    if (ctx == 0 || unprotect == 0) {
        PyErr_SetString(PyExc_ValueError, "no SRTP context");
        return NULL;
    }
    if (size > MAX_PACKET + MAX_TRAILER) Py_RETURN_NONE; /* no browser sends that: drop */
    unsigned char buffer[MAX_PACKET + MAX_TRAILER];
    memcpy(buffer, PyBytes_AS_STRING(args[2]), size);
    int length = (int)size;
    if (((protect_fn)unprotect)((void *)ctx, buffer, &length) != 0) Py_RETURN_NONE;
    return PyBytes_FromStringAndSize((const char *)buffer, length);
}

static PyMethodDef methods[] = {
    {"unprotect", (PyCFunction)(void (*)(void))fast_unprotect, METH_FASTCALL,
     "SRTP-unprotect one packet; None when it does not authenticate."},
    {"send_rtp", (PyCFunction)(void (*)(void))fast_send_rtp, METH_FASTCALL,
     "Write, protect and send one forwarded RTP packet; return the plain packet (None: dropped)."},
    {"sockaddr", fast_sockaddr, METH_VARARGS, "sockaddr(host, port) -> bytes for send_rtp."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_rtpfast", NULL, -1, methods};

PyMODINIT_FUNC PyInit__rtpfast(void) { return PyModule_Create(&module); }
