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
#include <math.h>
#include <time.h>

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

/* Twcc: one subscriber connection's transport-wide sequence numbers (transport-cc). Every
 * packet sent on the connection, whatever its stream, takes the next number, and its send
 * time and size are kept in a ring so the subscriber's feedback can be matched to them
 * (media.twcc.SendSideEstimator). */
#define TWCC_RING 4096 /* 4 s at 1000 packets/s; feedback comes every 100 ms or so */
typedef struct {
    PyObject_HEAD
    unsigned long long next;               /* the next number (unwrapped; 16 bits go out) */
    long long send_us[TWCC_RING];          /* CLOCK_MONOTONIC µs, as time.monotonic() */
    unsigned short size[TWCC_RING];
    unsigned long long seq_of[TWCC_RING];  /* which number a slot holds (+1; 0: none) */
} Twcc;

static long long monotonic_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* Take the next number for a packet of `size` bytes sent now; returns its 16 bits. */
static unsigned long twcc_take(Twcc *w, Py_ssize_t size) {
    unsigned long long seq = w->next++;
    size_t slot = (size_t)(seq % TWCC_RING);
    w->send_us[slot] = monotonic_us();
    w->size[slot] = (unsigned short)(size > 0xFFFF ? 0xFFFF : size);
    w->seq_of[slot] = seq + 1;
    return (unsigned long)(seq & 0xFFFF);
}

static PyObject *twcc_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    return type->tp_alloc(type, 0); /* zeroed */
}

/* take(size) -> the 16-bit number for a packet sent now (the Python send path). */
static PyObject *twcc_take_py(Twcc *w, PyObject *arg) {
    Py_ssize_t size = PyLong_AsSsize_t(arg);
    if (size == -1 && PyErr_Occurred()) return NULL;
    return PyLong_FromUnsignedLong(twcc_take(w, size));
}

/* sent(seq) -> (send_us, size) | None: an unwrapped number's send time and size, if kept. */
static PyObject *twcc_sent(Twcc *w, PyObject *arg) {
    unsigned long long seq = PyLong_AsUnsignedLongLong(arg);
    if (seq == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    size_t slot = (size_t)(seq % TWCC_RING);
    if (w->seq_of[slot] != seq + 1) Py_RETURN_NONE;
    return Py_BuildValue("(Li)", w->send_us[slot], (int)w->size[slot]);
}

static PyMethodDef twcc_methods[] = {
    {"take", (PyCFunction)twcc_take_py, METH_O, "take(size) -> the next 16-bit transport-wide number"},
    {"sent", (PyCFunction)twcc_sent, METH_O, "sent(seq) -> (send_us, size) | None for an unwrapped number"},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef twcc_members[] = {
    {"next", T_ULONGLONG, offsetof(Twcc, next), READONLY, "the next number (unwrapped)"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject TwccType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "media._rtpfast.Twcc",
    .tp_basicsize = sizeof(Twcc),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A connection's transport-wide sequence numbers and the send times kept for them.",
    .tp_new = twcc_new,
    .tp_methods = twcc_methods,
    .tp_members = twcc_members,
};

/* Stamp the transport-wide number at out[at] (0: none) for a packet of size bytes. */
static void stamp_twcc(unsigned char *out, long at, PyObject *twcc, Py_ssize_t size) {
    if (at <= 0 || twcc == NULL || !PyObject_TypeCheck(twcc, &TwccType)) return;
    unsigned long seq = twcc_take((Twcc *)twcc, size);
    out[at] = (unsigned char)(seq >> 8);
    out[at + 1] = (unsigned char)seq;
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
 *          level_at, level_byte, abs_at, abs_send_time, twcc_at, twcc) -> bytes | None */
static PyObject *fast_send_rtp(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 15) {
        PyErr_SetString(PyExc_TypeError, "send_rtp() takes 15 arguments");
        return NULL;
    }
    long fd, byte1, level_at, level_byte, abs_at, twcc_at;
    unsigned long ctx, protect, seq, ts, abs_time;
    if (!as_long(args[0], &fd) || !as_ulong(args[2], &ctx) || !as_ulong(args[3], &protect)
        || !as_long(args[6], &byte1) || !as_ulong(args[7], &seq) || !as_ulong(args[8], &ts)
        || !as_long(args[9], &level_at) || !as_long(args[10], &level_byte)
        || !as_long(args[11], &abs_at) || !as_ulong(args[12], &abs_time) || !as_long(args[13], &twcc_at))
        return NULL;
    PyObject *addr = args[1], *header = args[4], *payload = args[5];
    if (!PyBytes_Check(addr) || !PyBytes_Check(header) || !PyBytes_Check(payload)) {
        PyErr_SetString(PyExc_TypeError, "sockaddr, header and payload must be bytes");
        return NULL;
    }
    Py_ssize_t head_len = PyBytes_GET_SIZE(header), body_len = PyBytes_GET_SIZE(payload);
    Py_ssize_t size = head_len + body_len;
    if (head_len < 12 || size > MAX_PACKET || ctx == 0 || protect == 0
        || level_at < 0 || level_at >= head_len || abs_at < 0 || abs_at + 3 > head_len || twcc_at < 0
        || twcc_at + 2 > head_len) {
        PyErr_SetString(PyExc_ValueError, "bad RTP header template or packet too long");
        return NULL;
    }
    PyObject *plain = PyBytes_FromStringAndSize(NULL, size);
    if (plain == NULL) return NULL;
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(plain);
    write_packet(out, PyBytes_AS_STRING(header), head_len, PyBytes_AS_STRING(payload), body_len, byte1, seq, ts,
                 level_at, level_byte, abs_at, abs_time);
    stamp_twcc(out, twcc_at, args[14], size);
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
    long twcc_at;            /* offset of the transport-wide sequence number (0: none) */
    PyObject *twcc;          /* the connection's Twcc (numbers shared by all its streams) */
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
    Py_XDECREF(t->twcc);
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
    {"twcc_at", T_LONG, offsetof(Target, twcc_at), 0, "transport-wide sequence number offset (0: none)"},
    {"twcc", T_OBJECT, offsetof(Target, twcc), 0, "the connection's Twcc"},
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
        || t->abs_at + 3 > head_len || t->twcc_at < 0 || t->twcc_at + 2 > head_len) {
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
    stamp_twcc(out, t->twcc_at, t->twcc, size);
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

/* send_rtcp(target, srtp_protect_rtcp, payload) -> bool: protect an RTCP packet with the
 * target's SRTP session and send it on its ICE pair (False: not armed, or no room). */
static PyObject *fast_send_rtcp(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    unsigned long protect;
    if (nargs != 3 || !PyObject_TypeCheck(args[0], &TargetType) || !PyBytes_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "send_rtcp(target: Target, srtp_protect_rtcp, payload: bytes)");
        return NULL;
    }
    if (!as_ulong(args[1], &protect)) return NULL;
    Target *t = (Target *)args[0];
    Py_ssize_t size = PyBytes_GET_SIZE(args[2]);
    if (size < 8 || size > MAX_PACKET || protect == 0) {
        PyErr_SetString(PyExc_ValueError, "bad RTCP packet");
        return NULL;
    }
    if (!t->ready || t->addr == NULL || !PyBytes_Check(t->addr) || t->ctx == 0) Py_RETURN_FALSE;
    int result = protect_and_send(protect, t->ctx, (const unsigned char *)PyBytes_AS_STRING(args[2]), size, t->fd,
                                  t->addr);
    if (result < 0) {
        PyErr_Clear(); /* the connection went away: the next report finds the target disarmed */
        Py_RETURN_FALSE;
    }
    return PyBool_FromLong(result == 0);
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

/* ---- Estimator: aiortc 1.16's RemoteBitrateEstimator (aiortc/rate.py) in C ----
 *
 * The same steps, constants and floating-point operations in the same order (Python's
 * round() is nearbyint(): ties to even; int() truncates), so it gives the same REMB values
 * as aiortc's Python class (tests/media/test_rtpfast_estimator.py replays traces through
 * both). It runs once per video send-time group of every publisher. */

#define RATE_WINDOW 1000
#define RATE_SCALE 8000
#define GROUP_LENGTH ((5 << 26) / 1000)
#define TIMESTAMP_TO_MS (1000.0 / (double)(1 << 26))
#define MAX_SSRCS 16
enum { NORMAL = 0, UNDERUSING = 1, OVERUSING = 2 };
enum { HOLD = 0, INCREASE = 1, DECREASE = 2 };

typedef struct {
    long long first_ts, last_ts, arrival, size;
    int has_arrival;
} TsGroup;

typedef struct {
    PyObject_HEAD
    /* RateCounter(1000, 8000) */
    long long count[RATE_WINDOW], value[RATE_WINDOW], total_count, total_value, origin_ms;
    long origin_index;
    int has_origin, rate_initialized;
    /* InterArrival */
    TsGroup current, previous;
    int has_current, has_previous;
    /* OveruseEstimator */
    double E[2][2], offset, prev_offset_est, slope, avg_noise, var_noise, hist[60];
    int hist_len, num_of_deltas;
    /* OveruseDetector */
    int hypothesis, overuse_counter, has_overuse_time, has_detector_update;
    double overuse_time, prev_offset_det, threshold;
    long long detector_update_ms;
    /* AimdRateControl */
    int has_avg_max, bitrate_initialized, has_first_throughput, has_last_change, near_max, rc_state;
    double avg_max_kbps, var_max_kbps;
    long long current_bitrate, first_throughput_ms, last_change_ms, latest_throughput;
    /* RemoteBitrateEstimator */
    int has_last_update;
    long long last_update_ms;
    unsigned long ssrcs[MAX_SSRCS];
    int n_ssrcs;
    /* media.bwe.GroupedEstimator: the send-time group being collected (shared by every
     * stream of one sender, as simulcast layers are, like the estimator itself) */
    unsigned long g_first, g_last, g_ssrc;
    long long g_arrival, g_size;
} Estimator;

static PyObject *estimator_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    Estimator *e = (Estimator *)type->tp_alloc(type, 0); /* zeroed */
    if (e == NULL) return NULL;
    e->rate_initialized = 1;
    e->E[0][0] = 100.0;
    e->E[1][1] = 0.1;
    e->slope = 1.0 / 64;
    e->var_noise = 50.0;
    e->threshold = 12.5;
    e->var_max_kbps = 0.4;
    e->current_bitrate = e->latest_throughput = 30000000;
    return (PyObject *)e;
}

static long mod_window(long long x) {
    long long r = x % RATE_WINDOW;
    return (long)(r < 0 ? r + RATE_WINDOW : r);
}

static void rate_erase_old(Estimator *e, long long now) {
    long long steps = now - RATE_WINDOW + 1 - e->origin_ms;
    if (steps <= 0) return;
    long long n = steps < RATE_WINDOW ? steps : RATE_WINDOW;
    for (long long i = 0; i < n; i++) {
        long at = (e->origin_index + i) % RATE_WINDOW;
        e->total_count -= e->count[at];
        e->total_value -= e->value[at];
        e->count[at] = e->value[at] = 0;
    }
    e->origin_index = mod_window(e->origin_index + steps);
    e->origin_ms += steps;
}

static void rate_add(Estimator *e, long long value, long long now) {
    if (!e->has_origin) {
        e->origin_ms = now;
        e->has_origin = 1;
    } else {
        rate_erase_old(e, now);
    }
    long at = mod_window(e->origin_index + now - e->origin_ms);
    e->count[at] += 1;
    e->value[at] += value;
    e->total_count += 1;
    e->total_value += value;
}

/* 1 and *out: the rate; 0: None. */
static int rate_rate(Estimator *e, long long now, long long *out) {
    if (!e->has_origin) return 0;
    rate_erase_old(e, now);
    long long active = now - e->origin_ms + 1;
    if (e->total_count > 0 && active > 1) {
        *out = (long long)nearbyint((double)(RATE_SCALE * e->total_value) / (double)active);
        return 1;
    }
    return 0;
}

static void rate_reset(Estimator *e) {
    memset(e->count, 0, sizeof e->count);
    memset(e->value, 0, sizeof e->value);
    e->origin_index = 0;
    e->has_origin = 0;
    e->total_count = e->total_value = 0;
}

static long long u32_add(long long a, long long b) { return (a + b) & 0xFFFFFFFFLL; }

static int u32_gt(long long a, long long b) {
    return (a < b && (b - a) > 0x80000000LL) || (a > b && (a - b) < 0x80000000LL);
}

/* InterArrival.compute_deltas: 1 and the deltas when a group was closed. */
static int inter_arrival(Estimator *e, long long ts, long long arrival, long long size, long long *d_ts,
                         long long *d_arrival, long long *d_size) {
    int deltas = 0;
    TsGroup *cur = &e->current;
    if (!e->has_current) {
        memset(cur, 0, sizeof *cur);
        cur->first_ts = cur->last_ts = ts;
        e->has_current = 1;
    } else if (u32_add(ts, -cur->first_ts) >= 0x80000000LL) { /* out of order */
        return 0;
    } else {
        long long td = u32_add(ts, -cur->last_ts);
        long long td_ms = (long long)nearbyint(TIMESTAMP_TO_MS * (double)td);
        long long atd = arrival - cur->arrival;
        int burst = td_ms == 0 || ((atd - td_ms) < 0 && atd <= 5);
        if (!burst && u32_add(ts, -cur->first_ts) > GROUP_LENGTH) {
            if (e->has_previous) {
                *d_ts = u32_add(cur->last_ts, -e->previous.last_ts);
                *d_arrival = cur->arrival - e->previous.arrival;
                *d_size = cur->size - e->previous.size;
                deltas = 1;
            }
            e->previous = *cur;
            e->has_previous = 1;
            memset(cur, 0, sizeof *cur);
            cur->first_ts = cur->last_ts = ts;
        } else if (u32_gt(ts, cur->last_ts)) {
            cur->last_ts = ts;
        }
    }
    cur->size += size;
    cur->arrival = arrival;
    cur->has_arrival = 1;
    return deltas;
}

static void update_noise(Estimator *e, double residual, double ts_delta) {
    double alpha = 0.01;
    if (e->num_of_deltas > 10 * 30) alpha = 0.002;
    double beta = pow(1 - alpha, ts_delta * 30.0 / 1000.0);
    e->avg_noise = beta * e->avg_noise + (1 - beta) * residual;
    double d = e->avg_noise - residual;
    e->var_noise = beta * e->var_noise + (1 - beta) * (d * d);
    if (e->var_noise < 1) e->var_noise = 1;
}

static void overuse_update(Estimator *e, long long time_delta_ms, double ts_delta_ms, long long size_delta,
                           int hypothesis) {
    double min_frame_period = ts_delta_ms;
    if (e->hist_len >= 60) {
        memmove(e->hist, e->hist + 1, sizeof(double) * 59);
        e->hist_len = 59;
    }
    for (int i = 0; i < e->hist_len; i++)
        if (e->hist[i] < min_frame_period) min_frame_period = e->hist[i];
    e->hist[e->hist_len++] = ts_delta_ms;
    double t_ts_delta = (double)time_delta_ms - ts_delta_ms;
    double h0 = (double)size_delta, h1 = 1.0;
    e->num_of_deltas = e->num_of_deltas + 1 < 1000 ? e->num_of_deltas + 1 : 1000;
    e->E[0][0] += 1e-13;
    e->E[1][1] += 1e-3;
    if ((hypothesis == OVERUSING && e->offset < e->prev_offset_est)
        || (hypothesis == UNDERUSING && e->offset > e->prev_offset_est))
        e->E[1][1] += 10 * 1e-3;
    double Eh0 = e->E[0][0] * h0 + e->E[0][1] * h1;
    double Eh1 = e->E[1][0] * h0 + e->E[1][1] * h1;
    double residual = t_ts_delta - e->slope * h0 - e->offset;
    if (hypothesis == NORMAL) {
        double max_residual = 3.0 * sqrt(e->var_noise);
        if (fabs(residual) < max_residual)
            update_noise(e, residual, min_frame_period);
        else
            update_noise(e, residual < 0 ? -max_residual : max_residual, min_frame_period);
    }
    double denom = e->var_noise + h0 * Eh0 + h1 * Eh1;
    double K0 = Eh0 / denom, K1 = Eh1 / denom;
    double I00 = 1.0 - K0 * h0, I01 = -K0 * h1, I10 = -K1 * h0, I11 = 1.0 - K1 * h1;
    double e00 = e->E[0][0], e01 = e->E[0][1];
    e->E[0][0] = e00 * I00 + e->E[1][0] * I01;
    e->E[0][1] = e01 * I00 + e->E[1][1] * I01;
    e->E[1][0] = e00 * I10 + e->E[1][0] * I11;
    e->E[1][1] = e01 * I10 + e->E[1][1] * I11;
    e->prev_offset_est = e->offset;
    e->slope += K0 * residual;
    e->offset += K1 * residual;
}

static void detector_threshold(Estimator *e, double modified, long long now) {
    if (!e->has_detector_update) {
        e->detector_update_ms = now;
        e->has_detector_update = 1;
    }
    if (fabs(modified) > e->threshold + 15) {
        e->detector_update_ms = now;
        return;
    }
    double k = fabs(modified) < e->threshold ? 0.039 : 0.0087;
    long long td = now - e->detector_update_ms;
    if (td > 100) td = 100;
    e->threshold += k * (fabs(modified) - e->threshold) * (double)td;
    if (e->threshold > 600) e->threshold = 600;
    if (e->threshold < 6) e->threshold = 6;
    e->detector_update_ms = now;
}

static void detector_detect(Estimator *e, double offset, double ts_delta_ms, int num, long long now) {
    if (num < 2) return;
    double T = (num < 60 ? num : 60) * offset;
    if (T > e->threshold) {
        if (!e->has_overuse_time) {
            e->overuse_time = ts_delta_ms / 2;
            e->has_overuse_time = 1;
        } else {
            e->overuse_time += ts_delta_ms;
        }
        e->overuse_counter += 1;
        if (e->overuse_time > 10 && e->overuse_counter > 1 && offset >= e->prev_offset_det) {
            e->overuse_counter = 0;
            e->overuse_time = 0;
            e->hypothesis = OVERUSING;
        }
    } else if (T < -e->threshold) {
        e->overuse_counter = 0;
        e->has_overuse_time = 0;
        e->hypothesis = UNDERUSING;
    } else {
        e->overuse_counter = 0;
        e->has_overuse_time = 0;
        e->hypothesis = NORMAL;
    }
    e->prev_offset_det = offset;
    detector_threshold(e, T, now);
}

static long long clamp_bitrate(Estimator *e, long long new_bitrate, long long throughput) {
    long long max_bitrate = (long long)(1.5 * (double)throughput) + 10000;
    if (e->current_bitrate > max_bitrate) max_bitrate = e->current_bitrate;
    return new_bitrate < max_bitrate ? new_bitrate : max_bitrate;
}

static void update_max_throughput(Estimator *e, double kbps) {
    double alpha = 0.05;
    if (!e->has_avg_max) {
        e->avg_max_kbps = kbps;
        e->has_avg_max = 1;
    } else {
        e->avg_max_kbps = (1 - alpha) * e->avg_max_kbps + alpha * kbps;
    }
    double norm = e->avg_max_kbps > 1 ? e->avg_max_kbps : 1;
    double d = e->avg_max_kbps - kbps;
    e->var_max_kbps = (1 - alpha) * e->var_max_kbps + alpha * (d * d) / norm;
    if (e->var_max_kbps > 2.5) e->var_max_kbps = 2.5;
    if (e->var_max_kbps < 0.4) e->var_max_kbps = 0.4;
}

/* AimdRateControl.update: 1 and *out, or 0 (None). */
static int rate_control(Estimator *e, int usage, int has_throughput, long long throughput, long long now,
                        long long *out) {
    if (!e->bitrate_initialized && has_throughput) {
        if (!e->has_first_throughput) {
            e->first_throughput_ms = now;
            e->has_first_throughput = 1;
        } else if (now - e->first_throughput_ms > 3000) {
            e->current_bitrate = throughput;
            e->bitrate_initialized = 1;
        }
    }
    if (!e->bitrate_initialized && usage != OVERUSING) return 0;
    if (usage == NORMAL && e->rc_state == HOLD) {
        e->last_change_ms = now;
        e->has_last_change = 1;
        e->rc_state = INCREASE;
    } else if (usage == OVERUSING) {
        e->rc_state = DECREASE;
    } else if (usage == UNDERUSING) {
        e->rc_state = HOLD;
    }
    long long new_bitrate = e->current_bitrate;
    if (has_throughput)
        e->latest_throughput = throughput;
    else
        throughput = e->latest_throughput;
    double kbps = (double)throughput / 1000;
    if (e->rc_state == INCREASE) {
        if (e->has_avg_max) {
            double sigma = sqrt(e->var_max_kbps * e->avg_max_kbps);
            if (kbps >= e->avg_max_kbps + 3 * sigma) {
                e->near_max = 0;
                e->has_avg_max = 0;
            }
        }
        if (e->near_max) {
            double bits_per_frame = (double)e->current_bitrate / 30;
            double packets_per_frame = ceil(bits_per_frame / (8 * 1200));
            long long increase = 4000;
            if (packets_per_frame > 0) {
                long long per_rtt = (long long)((bits_per_frame / packets_per_frame * 1000) / (200 + 100));
                if (per_rtt > increase) increase = per_rtt;
            }
            new_bitrate += (long long)((double)((now - e->last_change_ms) * increase) / 1000);
        } else {
            double alpha = 1.08;
            if (e->has_last_change) {
                long long elapsed = now - e->last_change_ms;
                if (elapsed > 1000) elapsed = 1000;
                alpha = pow(alpha, (double)elapsed / 1000);
            }
            double step = (alpha - 1) * (double)new_bitrate;
            new_bitrate += (long long)(step >= 1000 ? step : 1000);
        }
        e->last_change_ms = now;
        e->has_last_change = 1;
    } else if (e->rc_state == DECREASE) {
        if (e->has_avg_max) {
            double sigma = sqrt(e->var_max_kbps * e->avg_max_kbps);
            if (kbps < e->avg_max_kbps - 3 * sigma) e->has_avg_max = 0;
        }
        update_max_throughput(e, kbps);
        e->near_max = 1;
        new_bitrate = (long long)nearbyint(0.85 * (double)throughput);
        e->last_change_ms = now;
        e->has_last_change = 1;
        e->rc_state = HOLD;
    }
    e->current_bitrate = clamp_bitrate(e, new_bitrate, throughput);
    *out = e->current_bitrate;
    return 1;
}

/* RemoteBitrateEstimator.add: 1 and *bitrate when there is a new estimate, else 0. */
static int estimator_add(Estimator *e, long long arrival, unsigned long abs_time, long long size,
                         unsigned long ssrc, long long *bitrate) {
    long long timestamp = (long long)abs_time << 8;
    int known = 0;
    for (int i = 0; i < e->n_ssrcs; i++)
        if (e->ssrcs[i] == ssrc) known = 1;
    if (!known && e->n_ssrcs < MAX_SSRCS) e->ssrcs[e->n_ssrcs++] = ssrc;
    long long r;
    if (rate_rate(e, arrival, &r)) {
        e->rate_initialized = 1;
    } else if (e->rate_initialized) {
        rate_reset(e);
        e->rate_initialized = 0;
    }
    rate_add(e, size, arrival);
    long long d_ts, d_arrival, d_size;
    if (inter_arrival(e, timestamp, arrival, size, &d_ts, &d_arrival, &d_size)) {
        double ts_delta_ms = (double)d_ts * TIMESTAMP_TO_MS;
        overuse_update(e, d_arrival, ts_delta_ms, d_size, e->hypothesis);
        detector_detect(e, e->offset, ts_delta_ms, e->num_of_deltas, arrival);
    }
    if (!e->has_last_update || (arrival - e->last_update_ms) > 500 || e->hypothesis == OVERUSING) {
        int has = rate_rate(e, arrival, &r);
        if (rate_control(e, e->hypothesis, has, r, arrival, bitrate)) {
            e->last_update_ms = arrival;
            e->has_last_update = 1;
            return 1;
        }
    }
    return 0;
}

static PyObject *estimate_tuple(Estimator *e, long long bitrate) {
    PyObject *ssrcs = PyList_New(e->n_ssrcs);
    if (ssrcs == NULL) return NULL;
    for (int i = 0; i < e->n_ssrcs; i++) {
        PyObject *v = PyLong_FromUnsignedLong(e->ssrcs[i]);
        if (v == NULL) {
            Py_DECREF(ssrcs);
            return NULL;
        }
        PyList_SET_ITEM(ssrcs, i, v);
    }
    return Py_BuildValue("(LN)", bitrate, ssrcs);
}

/* add(arrival_time_ms, abs_send_time, payload_size, ssrc) -> (bitrate, [ssrc, ...]) | None */
static PyObject *estimator_add_py(Estimator *e, PyObject *args, PyObject *kwds) {
    static char *names[] = {"arrival_time_ms", "abs_send_time", "payload_size", "ssrc", NULL};
    long long arrival, size;
    unsigned long abs_time, ssrc;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "LkLk", names, &arrival, &abs_time, &size, &ssrc)) return NULL;
    long long bitrate;
    if (!estimator_add(e, arrival, abs_time & 0xFFFFFF, size, ssrc, &bitrate)) Py_RETURN_NONE;
    return estimate_tuple(e, bitrate);
}

static PyMethodDef estimator_methods[] = {
    {"add", (PyCFunction)(void (*)(void))estimator_add_py, METH_VARARGS | METH_KEYWORDS,
     "aiortc's RemoteBitrateEstimator.add: (bitrate, ssrcs) or None"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject EstimatorType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "media._rtpfast.Estimator",
    .tp_basicsize = sizeof(Estimator),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "aiortc's receive-side bandwidth estimator (REMB), in C.",
    .tp_new = estimator_new,
    .tp_methods = estimator_methods,
};

/* ---- the receive side: Core (one publisher's stream) and Ingress (one connection) ----
 *
 * drain() reads every datagram queued on a connection's UDP socket. An SRTP packet whose
 * SSRC belongs to a Core, with that Core's payload type and codec, the next sequence number
 * and nothing waiting for Python (no missing packets, all targets armed, no once-a-second
 * check due) is handled here: unprotect, the receive statistics and NACK bookkeeping of
 * aiortc, the estimator's send-time groups, the speaker's audio-level average and the fan-out.
 * Everything else goes to Python: Ingress.raw(data, addr) before SRTP (STUN, DTLS, RTCP),
 * Ingress.plain(rtp, arrival_ms) after it. The state both paths share lives in the Core
 * and is read and changed from Python through its members and methods. */

#define NTP_UNIX_OFFSET 2208988800ULL
#define RECENT 512 /* duplicate detection window (media.forward.RECENT_SEQUENCES) */
#define GROUP_SPAN 1311 /* 5 ms in abs-send-time units (media.bwe.ABS_SEND_TIME_GROUP) */

static long long count_in = 0, count_out = 0;

typedef struct {
    PyObject_HEAD
    long long ssrc;          /* the media SSRC (-1: none) */
    long pt;                 /* the payload type handled here (-1: none) */
    PyObject *codecs;        /* the receiver's payload type -> codec dict */
    PyObject *codec;         /* the codec that payload type must still map to */
    PyObject *targets;       /* list of armed Targets (the down tracks) */
    PyObject *missing;       /* the NACK generator's missing set: must be empty here */
    PyObject *pid;
    int levels;              /* keep the audio level's loudness (media.speaker's average) */
    double loudness, level_seen; /* SpeakerDetector.feed's average and time.monotonic() */
    PyObject *estimator;     /* an Estimator for the send-time groups (None: none) */
    PyObject *on_remb;       /* on_remb(bitrate, ssrcs, arrival_ms) when it has a new estimate */
    PyObject *on_unready;    /* on_unready(rtp): a target disarmed while sending */
    int video, blocked, enabled;
    long long sync_tick;     /* the NTP second the down tracks were last checked in */
    long long packets, octets;
    /* aiortc's StreamStatistics for the media SSRC */
    long long base_seq, stats_max, cycles, received, jitter_q4, last_arrival, last_timestamp;
    long clockrate;
    /* aiortc's NackGenerator.max_seq */
    long long nack_max;
    /* media.forward's duplicate window */
    unsigned short recent[RECENT];
    int recent_len, recent_pos;
    unsigned char seen[65536 / 8];
} Core;

static int core_clear(Core *c) {
    Py_CLEAR(c->codecs);
    Py_CLEAR(c->codec);
    Py_CLEAR(c->targets);
    Py_CLEAR(c->missing);
    Py_CLEAR(c->pid);
    Py_CLEAR(c->estimator);
    Py_CLEAR(c->on_remb);
    Py_CLEAR(c->on_unready);
    return 0;
}

static int core_traverse(Core *c, visitproc visit, void *arg) {
    Py_VISIT(c->codecs);
    Py_VISIT(c->codec);
    Py_VISIT(c->targets);
    Py_VISIT(c->missing);
    Py_VISIT(c->pid);
    Py_VISIT(c->estimator);
    Py_VISIT(c->on_remb);
    Py_VISIT(c->on_unready);
    return 0;
}

static void core_dealloc(Core *c) {
    PyObject_GC_UnTrack(c);
    core_clear(c);
    Py_TYPE(c)->tp_free((PyObject *)c);
}

static PyObject *core_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    Core *c = (Core *)type->tp_alloc(type, 0);
    if (c == NULL) return NULL;
    c->ssrc = c->pt = c->base_seq = c->stats_max = c->nack_max = c->last_arrival = c->last_timestamp = -1;
    c->clockrate = 90000;
    return (PyObject *)c;
}

static double unix_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* aiortc's StreamStatistics.add (unix_time: time.time(), for the arrival in clock ticks). */
static void stats_add(Core *c, long seq, unsigned long ts, double unix_time) {
    int in_order = c->stats_max < 0 || (seq != c->stats_max && ((seq - c->stats_max) & 0xFFFF) < 0x8000);
    c->received++;
    if (c->base_seq < 0) c->base_seq = seq;
    if (!in_order) return;
    long long arrival = (long long)(unix_time * c->clockrate);
    if (c->stats_max >= 0 && seq < c->stats_max) c->cycles += 1 << 16;
    c->stats_max = seq;
    if ((long long)ts != c->last_timestamp && c->received > 1) {
        long long diff = (arrival - c->last_arrival) - ((long long)ts - c->last_timestamp);
        if (diff < 0) diff = -diff;
        c->jitter_q4 += diff - ((c->jitter_q4 + 8) >> 4);
    }
    c->last_arrival = arrival;
    c->last_timestamp = (long long)ts;
}

/* GroupedEstimator.add: 1 and the finished group in out[4] when a new group begins. */
static int group_add(Estimator *e, unsigned long abs_time, long long arrival, long long size, unsigned long ssrc,
                     long long out[4]) {
    int done = 0;
    if (e->g_size) {
        long ahead = (long)((abs_time - e->g_first + 0x800000) & 0xFFFFFF) - 0x800000;
        if (ahead <= GROUP_SPAN) {
            e->g_size += size;
            if (ahead >= (long)((e->g_last - e->g_first + 0x800000) & 0xFFFFFF) - 0x800000) {
                e->g_last = abs_time;
                e->g_arrival = arrival;
                e->g_ssrc = ssrc;
            }
            return 0;
        }
        out[0] = (long long)e->g_last;
        out[1] = e->g_arrival;
        out[2] = e->g_size;
        out[3] = (long long)e->g_ssrc;
        done = 1;
    }
    e->g_first = e->g_last = abs_time;
    e->g_arrival = arrival;
    e->g_size = size;
    e->g_ssrc = ssrc;
    return done;
}

/* media.speaker.SpeakerDetector.feed for one packet's audio level. */
static void level_add(Core *c, long level) {
    double loud = (double)(127 - (level < 0 ? 0 : level > 127 ? 127 : level));
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    double prev = c->level_seen > 0 ? c->loudness : loud;
    c->loudness = 0.8 * prev + 0.2 * loud;
    c->level_seen = (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* 1 if seq was forwarded lately (a duplicate), else remember it and 0. */
static int recent_add(Core *c, unsigned short seq) {
    if (c->seen[seq >> 3] & (1 << (seq & 7))) return 1;
    if (c->recent_len == RECENT) {
        unsigned short old = c->recent[c->recent_pos];
        c->seen[old >> 3] &= (unsigned char)~(1 << (old & 7));
    } else {
        c->recent_len++;
    }
    c->recent[c->recent_pos] = seq;
    c->recent_pos = (c->recent_pos + 1) % RECENT;
    c->seen[seq >> 3] |= (unsigned char)(1 << (seq & 7));
    return 0;
}

static PyObject *core_stats_add(Core *c, PyObject *args) {
    long seq;
    unsigned long ts;
    if (!PyArg_ParseTuple(args, "lk", &seq, &ts)) return NULL;
    stats_add(c, seq & 0xFFFF, ts, unix_now());
    Py_RETURN_NONE;
}

static PyObject *core_group_add(Core *c, PyObject *args) {
    unsigned long abs_time, ssrc;
    long long arrival, size, out[4];
    if (!PyArg_ParseTuple(args, "kLLk", &abs_time, &arrival, &size, &ssrc)) return NULL;
    if (c->estimator == NULL || !PyObject_TypeCheck(c->estimator, &EstimatorType)) {
        PyErr_SetString(PyExc_TypeError, "the core has no Estimator");
        return NULL;
    }
    if (!group_add((Estimator *)c->estimator, abs_time & 0xFFFFFF, arrival, size, ssrc, out)) Py_RETURN_NONE;
    return Py_BuildValue("(LLLL)", out[0], out[1], out[2], out[3]);
}

static PyObject *core_recent_add(Core *c, PyObject *arg) {
    long seq = PyLong_AsLong(arg);
    if (seq == -1 && PyErr_Occurred()) return NULL;
    return PyBool_FromLong(recent_add(c, (unsigned short)(seq & 0xFFFF)));
}

static PyObject *core_level_add(Core *c, PyObject *arg) {
    long level = PyLong_AsLong(arg);
    if (level == -1 && PyErr_Occurred()) return NULL;
    level_add(c, level);
    Py_RETURN_NONE;
}

static PyObject *core_reset_stats(Core *c, PyObject *unused) {
    c->base_seq = c->stats_max = c->last_arrival = c->last_timestamp = -1;
    c->cycles = c->received = c->jitter_q4 = 0;
    Py_RETURN_NONE;
}

static PyMethodDef core_methods[] = {
    {"stats_add", (PyCFunction)core_stats_add, METH_VARARGS, "StreamStatistics.add(seq, ts) on the Core's figures"},
    {"group_add", (PyCFunction)core_group_add, METH_VARARGS,
     "group_add(abs_send_time, arrival_ms, size, ssrc) -> the finished group or None"},
    {"recent_add", (PyCFunction)core_recent_add, METH_O, "True if seq was forwarded lately, else remember it"},
    {"reset_stats", (PyCFunction)core_reset_stats, METH_NOARGS, "Forget the receive statistics (a new SSRC)"},
    {"level_add", (PyCFunction)core_level_add, METH_O, "Average in one packet's audio level (0 loudest, 127 silence)"},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef core_members[] = {
    {"ssrc", T_LONGLONG, offsetof(Core, ssrc), 0, "media SSRC (-1: none)"},
    {"pt", T_LONG, offsetof(Core, pt), 0, "payload type handled in C (-1: none)"},
    {"codecs", T_OBJECT, offsetof(Core, codecs), 0, "payload type -> codec"},
    {"codec", T_OBJECT, offsetof(Core, codec), 0, "codec of pt"},
    {"targets", T_OBJECT, offsetof(Core, targets), 0, "list of Targets"},
    {"missing", T_OBJECT, offsetof(Core, missing), 0, "NACK generator's missing set (None: no NACKs)"},
    {"pid", T_OBJECT, offsetof(Core, pid), 0, "participant id"},
    {"levels", T_INT, offsetof(Core, levels), 0, "keep the audio levels' loudness (see level_add)"},
    {"loudness", T_DOUBLE, offsetof(Core, loudness), 0, "average loudness (127 - level), as SpeakerDetector.feed"},
    {"level_seen", T_DOUBLE, offsetof(Core, level_seen), 0, "time.monotonic() of the last level (0: none)"},
    {"estimator", T_OBJECT, offsetof(Core, estimator), 0, "Estimator fed the send-time groups (None: none)"},
    {"on_remb", T_OBJECT, offsetof(Core, on_remb), 0, "on_remb(bitrate, ssrcs, arrival_ms)"},
    {"on_unready", T_OBJECT, offsetof(Core, on_unready), 0, "on_unready(rtp)"},
    {"video", T_INT, offsetof(Core, video), 0, "a video stream (duplicates are dropped)"},
    {"blocked", T_INT, offsetof(Core, blocked), 0, "held back by policy (Python decides)"},
    {"enabled", T_INT, offsetof(Core, enabled), 0, "C may handle this stream's packets"},
    {"sync_tick", T_LONGLONG, offsetof(Core, sync_tick), 0, "NTP second of the last check"},
    {"packets", T_LONGLONG, offsetof(Core, packets), 0, "packets received on the media SSRC"},
    {"octets", T_LONGLONG, offsetof(Core, octets), 0, "payload octets received"},
    {"base_seq", T_LONGLONG, offsetof(Core, base_seq), 0, "StreamStatistics.base_seq (-1: None)"},
    {"stats_max", T_LONGLONG, offsetof(Core, stats_max), 0, "StreamStatistics.max_seq (-1: None)"},
    {"cycles", T_LONGLONG, offsetof(Core, cycles), 0, "StreamStatistics.cycles"},
    {"received", T_LONGLONG, offsetof(Core, received), 0, "StreamStatistics.packets_received"},
    {"jitter_q4", T_LONGLONG, offsetof(Core, jitter_q4), 0, "StreamStatistics._jitter_q4"},
    {"last_arrival", T_LONGLONG, offsetof(Core, last_arrival), 0, "StreamStatistics._last_arrival (-1: None)"},
    {"last_timestamp", T_LONGLONG, offsetof(Core, last_timestamp), 0, "StreamStatistics._last_timestamp"},
    {"clockrate", T_LONG, offsetof(Core, clockrate), 0, "the codec's clock rate"},
    {"nack_max", T_LONGLONG, offsetof(Core, nack_max), 0, "NackGenerator.max_seq (-1: None)"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "media._rtpfast.Core",
    .tp_basicsize = sizeof(Core),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "One publisher stream's receive state, shared by C and Python.",
    .tp_new = core_new,
    .tp_dealloc = (destructor)core_dealloc,
    .tp_traverse = (traverseproc)core_traverse,
    .tp_clear = (inquiry)core_clear,
    .tp_members = core_members,
    .tp_methods = core_methods,
};

#define MAX_ARRIVALS 2048 /* 1 s at 2000 packets/s; taken every 100 ms */
typedef struct {
    PyObject_HEAD
    PyObject *session;       /* the receiving pylibsrtp.Session (kept alive while ctx points into it) */
    unsigned long ctx, unprotect; /* its srtp_t and srtp_unprotect (0: SRTP not ready) */
    unsigned long unprotect_rtcp; /* srtp_unprotect_rtcp */
    PyObject *cores;         /* SSRC -> Core */
    PyObject *raw, *plain, *rtcp; /* the Python paths */
    long abs_id, level_id;   /* negotiated extension ids (0: none) */
    long twcc_id;            /* the transport-wide sequence number's (0: none) */
    long long rx_packets, rx_bytes; /* SRTP packets and bytes taken here */
    /* Arrivals by transport-wide sequence number since the last arrivals() (transport-cc
     * feedback to the publisher, media.twcc.ArrivalRecorder); full: the rest is dropped. */
    int n_arrivals;
    unsigned short arrival_seq[MAX_ARRIVALS];
    long long arrival_us[MAX_ARRIVALS];
} Ingress;

static int ingress_clear(Ingress *g) {
    Py_CLEAR(g->session);
    Py_CLEAR(g->cores);
    Py_CLEAR(g->raw);
    Py_CLEAR(g->plain);
    Py_CLEAR(g->rtcp);
    return 0;
}

static int ingress_traverse(Ingress *g, visitproc visit, void *arg) {
    Py_VISIT(g->session);
    Py_VISIT(g->cores);
    Py_VISIT(g->raw);
    Py_VISIT(g->plain);
    Py_VISIT(g->rtcp);
    return 0;
}

static void ingress_dealloc(Ingress *g) {
    PyObject_GC_UnTrack(g);
    ingress_clear(g);
    Py_TYPE(g)->tp_free((PyObject *)g);
}

/* arrivals() -> [(seq, arrival_us), ...] noted since the last call (transport-cc). */
static PyObject *ingress_arrivals(Ingress *g, PyObject *unused) {
    PyObject *out = PyList_New(g->n_arrivals);
    if (out == NULL) return NULL;
    for (int i = 0; i < g->n_arrivals; i++) {
        PyObject *item = Py_BuildValue("(iL)", (int)g->arrival_seq[i], g->arrival_us[i]);
        if (item == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, item);
    }
    g->n_arrivals = 0;
    return out;
}

static PyMethodDef ingress_methods[] = {
    {"arrivals", (PyCFunction)ingress_arrivals, METH_NOARGS,
     "arrivals() -> [(transport-wide seq, arrival µs)] since the last call"},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef ingress_members[] = {
    {"session", T_OBJECT, offsetof(Ingress, session), 0, "receiving SRTP session"},
    {"ctx", T_ULONG, offsetof(Ingress, ctx), 0, "its srtp_t (0: not ready)"},
    {"unprotect", T_ULONG, offsetof(Ingress, unprotect), 0, "address of srtp_unprotect"},
    {"cores", T_OBJECT, offsetof(Ingress, cores), 0, "SSRC -> Core"},
    {"raw", T_OBJECT, offsetof(Ingress, raw), 0, "raw(data, addr): datagrams for Python"},
    {"plain", T_OBJECT, offsetof(Ingress, plain), 0, "plain(rtp, arrival_ms): unprotected RTP for Python"},
    {"rtcp", T_OBJECT, offsetof(Ingress, rtcp), 0, "rtcp(rtcp, None): unprotected RTCP for Python"},
    {"unprotect_rtcp", T_ULONG, offsetof(Ingress, unprotect_rtcp), 0, "address of srtp_unprotect_rtcp"},
    {"abs_id", T_LONG, offsetof(Ingress, abs_id), 0, "abs-send-time extension id"},
    {"level_id", T_LONG, offsetof(Ingress, level_id), 0, "audio level extension id"},
    {"twcc_id", T_LONG, offsetof(Ingress, twcc_id), 0, "transport-wide sequence number extension id"},
    {"rx_packets", T_LONGLONG, offsetof(Ingress, rx_packets), 0, "SRTP packets received here"},
    {"rx_bytes", T_LONGLONG, offsetof(Ingress, rx_bytes), 0, "SRTP bytes received here"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject IngressType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "media._rtpfast.Ingress",
    .tp_basicsize = sizeof(Ingress),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "One connection's receive path for drain().",
    .tp_new = PyType_GenericNew,
    .tp_dealloc = (destructor)ingress_dealloc,
    .tp_traverse = (traverseproc)ingress_traverse,
    .tp_clear = (inquiry)ingress_clear,
    .tp_members = ingress_members,
    .tp_methods = ingress_methods,
};

static PyObject *address_tuple(const struct sockaddr_storage *ss) {
    char host[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        return Py_BuildValue("(si)", host, ntohs(a->sin_port));
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        return Py_BuildValue("(siII)", host, ntohs(a->sin6_port), ntohl(a->sin6_flowinfo), a->sin6_scope_id);
    }
    return Py_BuildValue("(si)", "", 0);
}

/* Call fn(bytes(data[:len]), extra); -1 with an exception set if it raised. */
static int hand_over(PyObject *fn, const unsigned char *data, Py_ssize_t len, PyObject *extra) {
    if (fn == NULL || extra == NULL) {
        Py_XDECREF(extra);
        return 0;
    }
    PyObject *bytes = PyBytes_FromStringAndSize((const char *)data, len);
    if (bytes == NULL) {
        Py_DECREF(extra);
        return -1;
    }
    PyObject *result = PyObject_CallFunctionObjArgs(fn, bytes, extra, NULL);
    Py_DECREF(bytes);
    Py_DECREF(extra);
    if (result == NULL) return -1;
    Py_DECREF(result);
    return 0;
}

/* The forwarding steps of media.forward for one in-order packet of a Core's stream.
 * 1: done; 0: leave it to Python (nothing changed); -1: error set. */
static int fast_rtp(Core *c, const unsigned char *d, Py_ssize_t len, Py_ssize_t body_at, Py_ssize_t body_len,
                    long abs_time, long level, double unix_time) {
    long long arrival_ms = (long long)((unix_time + (double)NTP_UNIX_OFFSET) * 1000);
    long pt = d[1] & 0x7F, seq = (d[2] << 8) | d[3];
    unsigned long ts = ((unsigned long)d[4] << 24) | (d[5] << 16) | (d[6] << 8) | d[7];
    unsigned long ssrc = ((unsigned long)d[8] << 24) | (d[9] << 16) | (d[10] << 8) | d[11];
    int nacks = c->missing != NULL && c->missing != Py_None; /* a NACK generator (video) */
    if (!c->enabled || c->blocked || pt != c->pt || (long long)ssrc != c->ssrc || c->stats_max < 0
        || seq != ((c->stats_max + 1) & 0xFFFF) || c->codecs == NULL || !PyDict_Check(c->codecs) || c->codec == NULL
        || c->targets == NULL || !PyList_Check(c->targets))
        return 0;
    if (nacks && (c->nack_max < 0 || seq != ((c->nack_max + 1) & 0xFFFF) || !PyAnySet_Check(c->missing)
                  || PySet_GET_SIZE(c->missing) != 0))
        return 0;
    PyObject *key = PyLong_FromLong(pt);
    if (key == NULL) return -1;
    PyObject *codec = PyDict_GetItemWithError(c->codecs, key);
    Py_DECREF(key);
    if (codec != c->codec) return PyErr_Occurred() ? -1 : 0;
    Py_ssize_t n = PyList_GET_SIZE(c->targets);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *t = PyList_GET_ITEM(c->targets, i);
        if (!PyObject_TypeCheck(t, &TargetType) || !((Target *)t)->ready) return 0;
    }
    double now = unix_time + (double)NTP_UNIX_OFFSET;
    unsigned long long seconds = (unsigned long long)now;
    unsigned long long ntp = (seconds << 32) | (unsigned long long)((now - (double)seconds) * 4294967296.0);
    if ((long long)(ntp >> 32) != c->sync_tick) return 0; /* the once-a-second check is Python's */

    /* UpTrack._install.handle */
    if (abs_time >= 0 && c->estimator != NULL && PyObject_TypeCheck(c->estimator, &EstimatorType)) {
        long long group[4], bitrate;
        if (group_add((Estimator *)c->estimator, (unsigned long)abs_time, arrival_ms, len - body_at, ssrc, group)
            && estimator_add((Estimator *)c->estimator, group[1], (unsigned long)group[0], group[2],
                             (unsigned long)group[3], &bitrate)
            && c->on_remb != NULL && c->on_remb != Py_None) {
            PyObject *estimate = estimate_tuple((Estimator *)c->estimator, bitrate);
            if (estimate == NULL) return -1;
            PyObject *r = PyObject_CallFunction(c->on_remb, "OOL", PyTuple_GET_ITEM(estimate, 0),
                                                PyTuple_GET_ITEM(estimate, 1), arrival_ms);
            Py_DECREF(estimate);
            if (r == NULL) return -1;
            Py_DECREF(r);
        }
    }
    stats_add(c, seq, ts, unix_time);
    if (nacks) c->nack_max = seq;
    /* UpTrack.forward */
    c->packets++;
    c->octets += body_len;
    count_in++;
    if (!c->video && level >= 0 && c->levels) level_add(c, level & 0x7F);
    if (n == 0) return 1;
    if (c->video && recent_add(c, (unsigned short)seq)) return 1; /* forwarded already */
    if (c->targets == NULL || !PyList_Check(c->targets)) return 1; /* changed by a callback above */
    unsigned long abs_out = (unsigned long)((ntp >> 14) & 0x00FFFFFF);
    long level_byte = level >= 0 ? level : 0x7F;
    long sent = 0;
    PyObject *targets = c->targets;
    Py_INCREF(targets);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(targets); i++) {
        PyObject *item = PyList_GET_ITEM(targets, i);
        if (!PyObject_TypeCheck(item, &TargetType)) continue;
        int r = send_to_target((Target *)item, (const char *)d + body_at, body_len,
                               d[1] >> 7, (unsigned long)seq, ts, level_byte, abs_out, ntp);
        if (r < 0) {
            Py_DECREF(targets);
            return -1;
        }
        sent += r;
    }
    count_out += sent;
    int unready = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(targets); i++) {
        PyObject *item = PyList_GET_ITEM(targets, i);
        if (PyObject_TypeCheck(item, &TargetType) && !((Target *)item)->ready) unready = 1;
    }
    Py_DECREF(targets);
    if (unready && c->on_unready != NULL && c->on_unready != Py_None) {
        PyObject *r = PyObject_CallFunction(c->on_unready, "y#", (const char *)d, len);
        if (r == NULL) return -1;
        Py_DECREF(r);
    }
    return 1;
}

/* Parse an unprotected RTP packet's header as far as fast_rtp needs it: 0 if malformed. */
static int rtp_layout(const unsigned char *d, Py_ssize_t len, long abs_id, long level_id, long twcc_id,
                      Py_ssize_t *body_at, Py_ssize_t *body_len, long *abs_time, long *level, long *twcc_seq) {
    *abs_time = *level = *twcc_seq = -1;
    if (len < 12 || (d[0] >> 6) != 2) return 0;
    Py_ssize_t pos = 12 + 4 * (d[0] & 0x0F);
    if (len < pos) return 0;
    if (d[0] & 0x10) {
        if (len < pos + 4) return 0;
        unsigned profile = (d[pos] << 8) | d[pos + 1];
        Py_ssize_t ext_len = ((d[pos + 2] << 8) | d[pos + 3]) * 4;
        pos += 4;
        if (len < pos + ext_len) return 0;
        const unsigned char *v = d + pos;
        Py_ssize_t at = 0;
        while (at < ext_len && (profile == 0xBEDE || profile == 0x1000)) {
            if (v[at] == 0) { at++; continue; }
            long id;
            Py_ssize_t n;
            if (profile == 0xBEDE) {
                id = v[at] >> 4;
                n = (v[at] & 0x0F) + 1;
                at += 1;
            } else {
                if (at + 2 > ext_len) return 0;
                id = v[at];
                n = v[at + 1];
                at += 2;
            }
            if (at + n > ext_len) return 0;
            if (id && id == abs_id) {
                if (n != 3) return 0;
                *abs_time = ((long)v[at] << 16) | (v[at + 1] << 8) | v[at + 2];
            } else if (id && id == level_id) {
                if (n != 1) return 0;
                *level = v[at];
            } else if (id && id == twcc_id) {
                if (n != 2) return 0;
                *twcc_seq = (v[at] << 8) | v[at + 1];
            }
            at += n;
        }
        pos += ext_len;
    }
    Py_ssize_t padding = 0;
    if (d[0] & 0x20) {
        padding = d[len - 1];
        if (!padding || padding > len - pos) return 0;
    }
    *body_at = pos;
    *body_len = len - pos - padding;
    return 1;
}

/* drain(fd, ingress, limit) -> datagrams read: read the socket until it is empty (or
 * limit datagrams), handling what fast_rtp can and handing the rest to Python. OSError
 * for a failed read (the caller reports it as asyncio's transport would). */
static PyObject *fast_drain(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    long fd, limit;
    if (nargs != 3 || !PyObject_TypeCheck(args[1], &IngressType)) {
        PyErr_SetString(PyExc_TypeError, "drain(fd, ingress: Ingress, limit)");
        return NULL;
    }
    if (!as_long(args[0], &fd) || !as_long(args[2], &limit)) return NULL;
    Ingress *g = (Ingress *)args[1];
    Py_INCREF(g);
    unsigned char buf[MAX_PACKET + MAX_TRAILER + 512];
    long count = 0;
    while (count < limit) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        ssize_t got = recvfrom((int)fd, buf, sizeof buf, MSG_TRUNC, (struct sockaddr *)&ss, &sl);
        if (got < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
            PyErr_SetFromErrno(PyExc_OSError);
            break;
        }
        count++;
        if (got == 0 || (size_t)got > sizeof buf) continue; /* empty or longer than any packet: dropped */
        Py_ssize_t len = got;
        int srtp = g->ctx && g->unprotect && len >= 12 && buf[0] >= 128 && buf[0] <= 191;
        if (srtp && buf[1] > 191 && buf[1] < 209) { /* SRTCP (as aiortc's is_rtcp) */
            if (!g->unprotect_rtcp || g->rtcp == NULL) goto raw;
            g->rx_packets++;
            g->rx_bytes += len;
            int rtcp_len = (int)len;
            if (((protect_fn)g->unprotect_rtcp)((void *)g->ctx, buf, &rtcp_len) != 0) continue;
            Py_INCREF(Py_None);
            if (hand_over(g->rtcp, buf, rtcp_len, Py_None) < 0) break;
            continue;
        }
    raw:
        if (!srtp) {
            if (hand_over(g->raw, buf, len, address_tuple(&ss)) < 0) break;
            continue;
        }
        g->rx_packets++;
        g->rx_bytes += len;
        int plain_len = (int)len;
        if (((protect_fn)g->unprotect)((void *)g->ctx, buf, &plain_len) != 0) continue; /* forged or replayed */
        double unix_time = unix_now(); /* one clock read per packet: arrival, statistics, send time */
        Py_ssize_t body_at, body_len;
        long abs_time, level, twcc_seq;
        if (!rtp_layout(buf, plain_len, g->abs_id, g->level_id, g->twcc_id, &body_at, &body_len, &abs_time, &level,
                        &twcc_seq))
            goto python;
        if (twcc_seq >= 0 && g->n_arrivals < MAX_ARRIVALS) {
            g->arrival_seq[g->n_arrivals] = (unsigned short)twcc_seq;
            g->arrival_us[g->n_arrivals++] = (long long)(unix_time * 1e6);
        }
        PyObject *cores = g->cores;
        if (cores == NULL || !PyDict_Check(cores)) goto python;
        PyObject *key = PyLong_FromUnsignedLong(((unsigned long)buf[8] << 24) | (buf[9] << 16) | (buf[10] << 8) | buf[11]);
        if (key == NULL) break;
        PyObject *core = PyDict_GetItemWithError(cores, key);
        Py_DECREF(key);
        if (core == NULL && PyErr_Occurred()) break;
        if (core != NULL && PyObject_TypeCheck(core, &CoreType)) {
            Py_INCREF(core);
            int done = fast_rtp((Core *)core, buf, plain_len, body_at, body_len, abs_time, level, unix_time);
            Py_DECREF(core);
            if (done < 0) break;
            if (done) continue;
        }
    python:
        if (hand_over(g->plain, buf, plain_len,
                      PyLong_FromLongLong((long long)((unix_time + (double)NTP_UNIX_OFFSET) * 1000))) < 0)
            break;
    }
    Py_DECREF(g);
    if (PyErr_Occurred()) return NULL;
    return PyLong_FromLong(count);
}

static PyObject *fast_counters(PyObject *self, PyObject *unused) {
    return Py_BuildValue("(LL)", count_in, count_out);
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
    {"send_rtcp", (PyCFunction)(void (*)(void))fast_send_rtcp, METH_FASTCALL,
     "Protect an RTCP packet with a target's SRTP session and send it on its ICE pair."},
    {"drain", (PyCFunction)(void (*)(void))fast_drain, METH_FASTCALL,
     "drain(fd, ingress, limit): read a connection's socket, forwarding what C can handle."},
    {"counters", fast_counters, METH_NOARGS, "(packets in, packets out) handled by drain()."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_rtpfast", NULL, -1, methods};

PyMODINIT_FUNC PyInit__rtpfast(void) {
    if (PyType_Ready(&TargetType) < 0 || PyType_Ready(&CoreType) < 0 || PyType_Ready(&IngressType) < 0
        || PyType_Ready(&EstimatorType) < 0 || PyType_Ready(&TwccType) < 0)
        return NULL;
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
    PyTypeObject *types[] = {&CoreType, &IngressType, &EstimatorType, &TwccType};
    const char *names[] = {"Core", "Ingress", "Estimator", "Twcc"};
    for (int i = 0; i < 4; i++) {
        Py_INCREF(types[i]);
        if (PyModule_AddObject(m, names[i], (PyObject *)types[i]) < 0) {
            Py_DECREF(types[i]);
            Py_DECREF(m);
            return NULL;
        }
    }
    return m;
}
