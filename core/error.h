/*
 * QMF errors as values: one struct carries the QMF error_code/error_text pair
 * from the driver that failed up to the _exception reply that reports it.
 */
#ifndef QMF_ERROR_H
#define QMF_ERROR_H

#include <stdint.h>

/*
 * The codes are part of the wire contract (docs/PROTOCOL.md).  1..3 are the
 * QMFv2 ones; the rest are ours.  libvirt failures are QMF_ERR_LIBVIRT |
 * virErrorNumber, so a consumer can tell them apart with one mask.
 */
enum qmf_error_code {
    QMF_OK = 0,
    QMF_ERR_UNKNOWN_OBJECT = 1,   /* no such object (or class) on this agent */
    QMF_ERR_UNKNOWN_METHOD = 2,   /* the class has no such method */
    QMF_ERR_NOT_IMPLEMENTED = 3,  /* the schema has it, this driver cannot */
    QMF_ERR_INVALID_ARGS = 4,     /* missing, unknown or wrongly typed */
    QMF_ERR_MALFORMED = 5,        /* undecodable body, missing field, bad opcode */
    QMF_ERR_UNAUTHORIZED = 6,     /* the caller's role may not do this */
    QMF_ERR_EXPIRED = 7,          /* the request's TTL ran out before it ran */
    QMF_ERR_TOO_LARGE = 8,        /* body over the configured limit */
    QMF_ERR_BAD_SIGNATURE = 9,    /* signature, timestamp or nonce rejected */
    QMF_ERR_DRIVER_DOWN = 10,     /* the hypervisor connection is lost */
    QMF_ERR_INTERNAL = 11,        /* a bug or resource failure on the agent */
    QMF_ERR_TRANSPORT = 12,       /* broker connection problems (client side) */
    QMF_ERR_TIMEOUT = 13,         /* no reply in time (client side) */
    QMF_ERR_AMBIGUOUS = 14,       /* a name matched objects on several nodes */
    QMF_ERR_INTERRUPTED = 15,     /* began, then the agent stopped: effect unknown */
    QMF_ERR_LOCKED = 16,          /* another connection holds the node's lock (local) */
    QMF_ERR_CREDENTIAL_UNKNOWN = 17, /* a credential named by id the agent does not hold */
    QMF_ERR_LIBVIRT = 0x10000,    /* | virErrorNumber */
};

#define QMF_ERROR_TEXT_MAX 512

typedef struct qmf_error {
    uint32_t code;
    char text[QMF_ERROR_TEXT_MAX];
} qmf_error;

/* Sets code and a printf-formatted text; a NULL err is allowed and ignored. */
void qmf_error_set(qmf_error *err, uint32_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void qmf_error_clear(qmf_error *err);

/* A short, stable name for a code ("unknown-object", "libvirt", ...). */
const char *qmf_error_name(uint32_t code);

#endif
