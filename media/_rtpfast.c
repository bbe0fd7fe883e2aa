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
#include <structmember.h>

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

/* Write header + payload into out (size bytes), with byte 1, seq, ts, level and abs-send-time. */
static void write_packet(unsigned char *out, const char *header, Py_ssize_t head_len, const char *payload,
                         Py_ssize_t body_len, long byte1, unsigned long seq, unsigned long ts, long level_at,
                         long level_byte, long abs_at, unsigned long abs_time) {
    memcpy(out, header, head_len);
    memcpy(out + head_len, payload, body_len);
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
}

/* Protect a copy of plain (size bytes) and send it. 0: sent; 1: no room (dropped);
 * -1 with an exception set: SRTP refused it or the socket failed. */
static int protect_and_send(unsigned long protect, unsigned long ctx, const unsigned char *plain,
                            Py_ssize_t size, long fd, PyObject *addr) {
    unsigned char wire[MAX_PACKET + MAX_TRAILER];
    memcpy(wire, plain, size);
    int length = (int)size;
    int status = ((protect_fn)protect)((void *)ctx, wire, &length);
    if (status != 0) {
        PyErr_Format(PyExc_ValueError, "SRTP protect failed (%d)", status);
        return -1;
    }
    /* The socket is non-blocking: no need to let go of the GIL for the call. */
    ssize_t sent = sendto((int)fd, wire, (size_t)length, 0, (const struct sockaddr *)PyBytes_AS_STRING(addr),
                          (socklen_t)PyBytes_GET_SIZE(addr));
    if (sent >= 0) return 0;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) return 1;
    PyErr_SetFromErrno(PyExc_OSError);
    return -1;
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
    write_packet(out, PyBytes_AS_STRING(header), head_len, PyBytes_AS_STRING(payload), body_len, byte1, seq, ts,
                 level_at, level_byte, abs_at, abs_time);
    int result = protect_and_send(protect, (unsigned long)ctx, out, size, fd, addr);
    if (result == 0) return plain;
    Py_DECREF(plain);
    if (result == 1) Py_RETURN_NONE;
    return NULL;
}

/* Target: one subscriber's forwarded stream, armed by media.forward.DownTrack once it is
 * connected and its sequence/timestamp offsets are set; fanout() sends to armed targets. */
typedef struct {
    PyObject_HEAD
    int ready;               /* armed: fanout() sends to it */
    long fd;                 /* the selected ICE pair's UDP socket */
    PyObject *addr;          /* its remote address, from sockaddr() */
    unsigned long ctx;       /* the sender's SRTP context (srtp_t) */
    unsigned long protect;   /* srtp_protect */
    PyObject *header;        /* the header template (SSRC, mid and extension ids filled) */
    long payload_type;       /* byte 1 without the marker bit */
    long level_at, abs_at;   /* offsets of the audio level and abs-send-time bytes (0: none) */
    long seq_offset;         /* added to the publisher's sequence number (mod 2^16) */
    unsigned long ts_offset; /* added to the publisher's timestamp (mod 2^32) */
    long last_seq;           /* the last sequence number sent (-1: none yet) */
    unsigned long last_ts;   /* the last timestamp sent */
    unsigned long long last_ntp; /* the NTP time the last packet was sent at */
    long long packets;       /* packets sent */
    long long octets;        /* payload octets sent */
    long long failures;      /* packets dropped because the socket had no room */
    PyObject *history;       /* a list: plain packets by sequence number modulo its length */
} Target;

static void target_dealloc(Target *t) {
    Py_XDECREF(t->addr);
    Py_XDECREF(t->header);
    Py_XDECREF(t->history);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static PyObject *target_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    Target *t = (Target *)type->tp_alloc(type, 0);
    if (t == NULL) return NULL;
    t->last_seq = -1;
    t->fd = -1;
    return (PyObject *)t;
}

static PyMemberDef target_members[] = {
    {"ready", T_INT, offsetof(Target, ready), 0, "armed: fanout() sends to it"},
    {"fd", T_LONG, offsetof(Target, fd), 0, "UDP socket"},
    {"addr", T_OBJECT, offsetof(Target, addr), 0, "remote address from sockaddr()"},
    {"ctx", T_ULONG, offsetof(Target, ctx), 0, "srtp_t of the sender"},
    {"protect", T_ULONG, offsetof(Target, protect), 0, "address of srtp_protect"},
    {"header", T_OBJECT, offsetof(Target, header), 0, "RTP header template"},
    {"payload_type", T_LONG, offsetof(Target, payload_type), 0, "payload type"},
    {"level_at", T_LONG, offsetof(Target, level_at), 0, "audio level offset (0: none)"},
    {"abs_at", T_LONG, offsetof(Target, abs_at), 0, "abs-send-time offset (0: none)"},
    {"seq_offset", T_LONG, offsetof(Target, seq_offset), 0, "sequence number offset"},
    {"ts_offset", T_ULONG, offsetof(Target, ts_offset), 0, "timestamp offset"},
    {"last_seq", T_LONG, offsetof(Target, last_seq), 0, "last sequence number sent (-1: none)"},
    {"last_ts", T_ULONG, offsetof(Target, last_ts), 0, "last timestamp sent"},
    {"last_ntp", T_ULONGLONG, offsetof(Target, last_ntp), 0, "NTP send time of the last packet"},
    {"packets", T_LONGLONG, offsetof(Target, packets), 0, "packets sent"},
    {"octets", T_LONGLONG, offsetof(Target, octets), 0, "payload octets sent"},
    {"failures", T_LONGLONG, offsetof(Target, failures), 0, "packets dropped (no room)"},
    {"history", T_OBJECT, offsetof(Target, history), 0, "list of plain packets by seq modulo its length"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject TargetType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "media._rtpfast.Target",
    .tp_basicsize = sizeof(Target),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One subscriber's forwarded stream, for fanout().",
    .tp_new = target_new,
    .tp_dealloc = (destructor)target_dealloc,
    .tp_members = target_members,
};

/* Send one packet to a target; 1: sent, 0: not (disarmed or dropped); -1: error set. */
static int send_to_target(Target *t, const char *payload, Py_ssize_t body_len, int marker, unsigned long seq,
                          unsigned long ts, long level_byte, unsigned long abs_time, unsigned long long ntp) {
    if (!t->ready || t->header == NULL || !PyBytes_Check(t->header) || t->addr == NULL || !PyBytes_Check(t->addr)
        || t->ctx == 0 || t->protect == 0)
        return 0;
    Py_ssize_t head_len = PyBytes_GET_SIZE(t->header), size = head_len + body_len;
    if (head_len < 12 || size > MAX_PACKET || t->level_at < 0 || t->level_at >= head_len || t->abs_at < 0
        || t->abs_at + 3 > head_len) {
        t->ready = 0; /* the Python path will refuse or re-arm it */
        return 0;
    }
    unsigned long out_seq = (seq + (unsigned long)t->seq_offset) & 0xFFFF;
    unsigned long out_ts = (ts + t->ts_offset) & 0xFFFFFFFFUL;
    PyObject *plain = PyBytes_FromStringAndSize(NULL, size);
    if (plain == NULL) return -1;
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(plain);
    write_packet(out, PyBytes_AS_STRING(t->header), head_len, payload, body_len,
                 t->payload_type | (marker ? 0x80 : 0), out_seq, out_ts, t->level_at, level_byte, t->abs_at, abs_time);
    int result = protect_and_send(t->protect, t->ctx, out, size, t->fd, t->addr);
    if (result != 0) {
        Py_DECREF(plain);
        if (result == 1) {
            t->failures++;
            return 0;
        }
        /* The socket or the SRTP session went away: leave it to the Python path. */
        PyErr_Clear();
        t->ready = 0;
        return 0;
    }
    t->last_seq = (long)out_seq;
    t->last_ts = out_ts;
    t->last_ntp = ntp;
    t->packets++;
    t->octets += body_len;
    if (t->history != NULL && PyList_Check(t->history) && PyList_GET_SIZE(t->history) > 0) {
        Py_ssize_t slot = (Py_ssize_t)(out_seq % (unsigned long)PyList_GET_SIZE(t->history));
        PyObject *old = PyList_GET_ITEM(t->history, slot);
        PyList_SET_ITEM(t->history, slot, plain); /* steals the reference */
        Py_XDECREF(old);
    } else {
        Py_DECREF(plain);
    }
    return 1;
}

/* fanout(targets, payload, marker, seq, ts, level_byte, abs_send_time, ntp) -> int:
 * send one publisher packet to every armed target of the list; returns how many got it. */
static PyObject *fast_fanout(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 8 || !PyList_Check(args[0]) || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "fanout(targets: list, payload: bytes, marker, seq, ts, level_byte, abs, ntp)");
        return NULL;
    }
    long marker, level_byte;
    unsigned long seq, ts, abs_time;
    if (!as_long(args[2], &marker) || !as_ulong(args[3], &seq) || !as_ulong(args[4], &ts)
        || !as_long(args[5], &level_byte) || !as_ulong(args[6], &abs_time))
        return NULL;
    unsigned long long ntp = PyLong_AsUnsignedLongLong(args[7]);
    if (ntp == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
    const char *payload = PyBytes_AS_STRING(args[1]);
    Py_ssize_t body_len = PyBytes_GET_SIZE(args[1]);
    long sent = 0;
    PyObject *targets = args[0];
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(targets); i++) {
        PyObject *item = PyList_GET_ITEM(targets, i);
        if (!PyObject_TypeCheck(item, &TargetType)) continue;
        int result = send_to_target((Target *)item, payload, body_len, (int)marker, seq, ts, level_byte, abs_time, ntp);
        if (result < 0) return NULL;
        sent += result;
    }
    return PyLong_FromLong(sent);
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

/* parse_rtp(data, packet_cls, extensions_cls, ids) -> RtpPacket, as aiortc's
 * RtpPacket.parse(data, extensions_map) (ValueError on a malformed packet). ids: the
 * negotiated extension ids (0: not negotiated) in the order of EXTENSION_NAMES. */
static const char *EXTENSION_NAMES[] = {"mid", "repaired_rtp_stream_id", "rtp_stream_id", "abs_send_time",
                                        "transmission_offset", "audio_level", "transport_sequence_number"};
#define N_EXTENSIONS 7
static PyObject *ext_names[N_EXTENSIONS];
static PyObject *s_version, *s_marker, *s_payload_type, *s_sequence_number, *s_timestamp, *s_ssrc, *s_csrc,
    *s_extensions, *s_payload, *s_padding_size, *empty_tuple;

static int set_extension(PyObject *ext, int which, const unsigned char *v, Py_ssize_t n) {
    PyObject *value = NULL;
    switch (which) {
    case 0: value = PyUnicode_DecodeUTF8((const char *)v, n, NULL); break;      /* mid */
    case 1: case 2: value = PyUnicode_DecodeASCII((const char *)v, n, NULL); break; /* rids */
    case 3: /* abs_send_time: 3 bytes */
        if (n != 3) goto bad;
        value = PyLong_FromUnsignedLong(((unsigned long)v[0] << 16) | (v[1] << 8) | v[2]);
        break;
    case 4: /* transmission_offset: 24-bit signed */
        if (n != 3) goto bad;
        {
            long x = ((long)v[0] << 16) | (v[1] << 8) | v[2];
            if (x & 0x800000) x -= 0x1000000;
            value = PyLong_FromLong(x);
        }
        break;
    case 5: /* audio_level: (voice, level) */
        if (n != 1) goto bad;
        value = Py_BuildValue("(Oi)", (v[0] & 0x80) ? Py_True : Py_False, v[0] & 0x7F);
        break;
    case 6: /* transport_sequence_number */
        if (n != 2) goto bad;
        value = PyLong_FromLong((v[0] << 8) | v[1]);
        break;
    }
    if (value == NULL) return -1;
    int rc = PyObject_SetAttr(ext, ext_names[which], value);
    Py_DECREF(value);
    return rc;
bad:
    PyErr_SetString(PyExc_ValueError, "malformed RTP header extension");
    return -1;
}

static int parse_extensions(PyObject *ext, const long *ids, unsigned profile, const unsigned char *v,
                            Py_ssize_t len) {
    Py_ssize_t pos = 0;
    while (pos < len) {
        if (v[pos] == 0) { pos++; continue; } /* padding */
        long id;
        Py_ssize_t n;
        if (profile == 0xBEDE) {
            id = v[pos] >> 4;
            n = (v[pos] & 0x0F) + 1;
            pos += 1;
            if (pos + n > len) {
                PyErr_SetString(PyExc_ValueError, "RTP one-byte header extension value is truncated");
                return -1;
            }
        } else if (profile == 0x1000) {
            if (pos + 2 > len) {
                PyErr_SetString(PyExc_ValueError, "RTP two-byte header extension is truncated");
                return -1;
            }
            id = v[pos];
            n = v[pos + 1];
            pos += 2;
            if (pos + n > len) {
                PyErr_SetString(PyExc_ValueError, "RTP two-byte header extension value is truncated");
                return -1;
            }
        } else {
            return 0; /* an unknown profile: no extensions, as aiortc */
        }
        for (int which = 0; which < N_EXTENSIONS; which++) {
            if (ids[which] && ids[which] == id) {
                if (set_extension(ext, which, v + pos, n) < 0) return -1;
                break;
            }
        }
        pos += n;
    }
    return 0;
}

static PyObject *fast_parse_rtp(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4 || !PyBytes_Check(args[0]) || !PyType_Check(args[1]) || !PyType_Check(args[2])
        || !PyTuple_Check(args[3]) || PyTuple_GET_SIZE(args[3]) != N_EXTENSIONS) {
        PyErr_SetString(PyExc_TypeError, "parse_rtp(data: bytes, packet_cls, extensions_cls, ids: 7-tuple)");
        return NULL;
    }
    long ids[N_EXTENSIONS];
    for (int i = 0; i < N_EXTENSIONS; i++) {
        PyObject *id = PyTuple_GET_ITEM(args[3], i);
        ids[i] = id == Py_None ? 0 : PyLong_AsLong(id);
        if (ids[i] == -1 && PyErr_Occurred()) return NULL;
    }
    const unsigned char *d = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t len = PyBytes_GET_SIZE(args[0]);
    if (len < 12) {
        PyErr_SetString(PyExc_ValueError, "RTP packet length is less than 12 bytes");
        return NULL;
    }
    if ((d[0] >> 6) != 2) {
        PyErr_SetString(PyExc_ValueError, "RTP packet has invalid version");
        return NULL;
    }
    int padding = (d[0] >> 5) & 1, extension = (d[0] >> 4) & 1, cc = d[0] & 0x0F;
    Py_ssize_t pos = 12 + 4 * cc;
    if (len < pos) {
        PyErr_SetString(PyExc_ValueError, "RTP packet has truncated CSRC");
        return NULL;
    }
    PyTypeObject *ext_type = (PyTypeObject *)args[2], *packet_type = (PyTypeObject *)args[1];
    PyObject *ext = ext_type->tp_new(ext_type, empty_tuple, NULL);
    if (ext == NULL) return NULL;
    if (extension) {
        if (len < pos + 4) {
            PyErr_SetString(PyExc_ValueError, "RTP packet has truncated extension profile / length");
            goto fail_ext;
        }
        unsigned profile = (d[pos] << 8) | d[pos + 1];
        Py_ssize_t ext_len = ((d[pos + 2] << 8) | d[pos + 3]) * 4;
        pos += 4;
        if (len < pos + ext_len) {
            PyErr_SetString(PyExc_ValueError, "RTP packet has truncated extension value");
            goto fail_ext;
        }
        if (parse_extensions(ext, ids, profile, d + pos, ext_len) < 0) goto fail_ext;
        pos += ext_len;
    }
    Py_ssize_t padding_len = 0;
    if (padding) {
        padding_len = d[len - 1];
        if (!padding_len || padding_len > len - pos) {
            PyErr_SetString(PyExc_ValueError, "RTP packet padding length is invalid");
            goto fail_ext;
        }
    }
    PyObject *packet = packet_type->tp_new(packet_type, empty_tuple, NULL);
    if (packet == NULL) goto fail_ext;
    PyObject *csrc = PyList_New(cc);
    if (csrc == NULL) goto fail_packet;
    for (int i = 0; i < cc; i++) {
        const unsigned char *c = d + 12 + 4 * i;
        PyObject *value = PyLong_FromUnsignedLong(((unsigned long)c[0] << 24) | (c[1] << 16) | (c[2] << 8) | c[3]);
        if (value == NULL) { Py_DECREF(csrc); goto fail_packet; }
        PyList_SET_ITEM(csrc, i, value);
    }
    PyObject *values[] = {
        PyLong_FromLong(2),
        PyLong_FromLong(d[1] >> 7),
        PyLong_FromLong(d[1] & 0x7F),
        PyLong_FromLong((d[2] << 8) | d[3]),
        PyLong_FromUnsignedLong(((unsigned long)d[4] << 24) | (d[5] << 16) | (d[6] << 8) | d[7]),
        PyLong_FromUnsignedLong(((unsigned long)d[8] << 24) | (d[9] << 16) | (d[10] << 8) | d[11]),
        csrc,
        ext,
        PyBytes_FromStringAndSize((const char *)d + pos, len - pos - padding_len),
        PyLong_FromSsize_t(padding_len),
    };
    PyObject *names[] = {s_version, s_marker, s_payload_type, s_sequence_number, s_timestamp,
                         s_ssrc, s_csrc, s_extensions, s_payload, s_padding_size};
    int failed = 0;
    for (int i = 0; i < 10; i++) {
        if (values[i] == NULL || (!failed && PyObject_SetAttr(packet, names[i], values[i]) < 0)) failed = 1;
        if (i != 7) Py_XDECREF(values[i]); /* ext is released below */
    }
    Py_DECREF(ext);
    if (failed) {
        Py_DECREF(packet);
        return NULL;
    }
    return packet;
fail_packet:
    Py_DECREF(packet);
fail_ext:
    Py_DECREF(ext);
    return NULL;
}

static PyMethodDef methods[] = {
    {"parse_rtp", (PyCFunction)(void (*)(void))fast_parse_rtp, METH_FASTCALL,
     "aiortc's RtpPacket.parse in C: parse_rtp(data, RtpPacket, HeaderExtensions, ids)."},
    {"fanout", (PyCFunction)(void (*)(void))fast_fanout, METH_FASTCALL,
     "Send one publisher packet to every armed Target of a list; returns how many got it."},
    {"unprotect", (PyCFunction)(void (*)(void))fast_unprotect, METH_FASTCALL,
     "SRTP-unprotect one packet; None when it does not authenticate."},
    {"send_rtp", (PyCFunction)(void (*)(void))fast_send_rtp, METH_FASTCALL,
     "Write, protect and send one forwarded RTP packet; return the plain packet (None: dropped)."},
    {"sockaddr", fast_sockaddr, METH_VARARGS, "sockaddr(host, port) -> bytes for send_rtp."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_rtpfast", NULL, -1, methods};

PyMODINIT_FUNC PyInit__rtpfast(void) {
    if (PyType_Ready(&TargetType) < 0) return NULL;
    for (int i = 0; i < N_EXTENSIONS; i++)
        if ((ext_names[i] = PyUnicode_InternFromString(EXTENSION_NAMES[i])) == NULL) return NULL;
    if (!(s_version = PyUnicode_InternFromString("version")) || !(s_marker = PyUnicode_InternFromString("marker"))
        || !(s_payload_type = PyUnicode_InternFromString("payload_type"))
        || !(s_sequence_number = PyUnicode_InternFromString("sequence_number"))
        || !(s_timestamp = PyUnicode_InternFromString("timestamp")) || !(s_ssrc = PyUnicode_InternFromString("ssrc"))
        || !(s_csrc = PyUnicode_InternFromString("csrc"))
        || !(s_extensions = PyUnicode_InternFromString("extensions"))
        || !(s_payload = PyUnicode_InternFromString("payload"))
        || !(s_padding_size = PyUnicode_InternFromString("padding_size")) || !(empty_tuple = PyTuple_New(0)))
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&TargetType);
    if (PyModule_AddObject(m, "Target", (PyObject *)&TargetType) < 0) {
        Py_DECREF(&TargetType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
