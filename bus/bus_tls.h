/*
 * Private to the bus backends: how an OpenSSL context is set up to verify
 * the broker (docs/TRANSPORTS.md, "TLS and SASL EXTERNAL"), and how a
 * failed handshake is told, so that both transports check the same things
 * and say the same words.
 */
#ifndef BUS_TLS_H
#define BUS_TLS_H

#include <stdbool.h>

#include <openssl/ssl.h>

#include "bus/bus.h"
#include "core/error.h"

/* Where Debian keeps the system's trusted CAs, for TLS without tls_ca. */
#define BUS_TLS_SYSTEM_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

/*
 * What the certificate check of one connect attempt found: the first error
 * of the chain, for the message (libraries only say "verify failed").
 * It lives on the connect thread's stack; OpenSSL calls back into it only
 * during the handshake.
 */
struct bus_tls_check {
    int error;                  /* X509_V_OK, or the first X509_V_ERR_* */
};

/* A connection's TLS settings and SASL mechanism, copied from bus_options. */
struct bus_tls_conf {
    char *ca;                   /* NULL: the system's */
    char *cert, *key;           /* NULL: no client certificate; key defaults to cert */
    bool verify_hostname;
    bool sasl_external;
};

/*
 * Copies them from opts, refusing at bus_open() what cannot work: EXTERNAL
 * without a TLS URL (tls_url false; tls_scheme names the one wanted) or a
 * client certificate, a key without its certificate.  Whether the files
 * can be read is each connect attempt's business: it reads them.
 */
int bus_tls_conf_init(struct bus_tls_conf *t, const struct bus_options *opts, bool tls_url,
                      const char *tls_scheme, qmf_error *err);
void bus_tls_conf_clear(struct bus_tls_conf *t);

/*
 * Sets ctx up: the CA files, the check of host (the URL's: a name or an
 * address; OpenSSL's, made as part of the chain: RFC 6125 names, and IP
 * addresses), the client certificate,
 * and a verify callback that records the first error into *check (which
 * must stay valid until the handshake is over).  The mode stays
 * SSL_VERIFY_NONE: the caller checks SSL_get_verify_result() after the
 * handshake, before it sends a byte of AMQP.  Reads the files: for connect
 * threads.
 */
int bus_tls_setup(SSL_CTX *ctx, const char *host, const struct bus_tls_conf *t,
                  struct bus_tls_check *check, qmf_error *err);
/* Forgets *check (before it goes out of scope). */
void bus_tls_forget(SSL_CTX *ctx);

/* The error of a broker whose certificate failed the check, naming
 * `broker` (a URL without its password). */
void bus_tls_verify_error(const struct bus_tls_check *check, const char *host,
                          const char *broker, qmf_error *err);
/* OpenSSL's reason for the last failure of this thread, emptying its
 * queue; "" if it has none. */
const char *bus_tls_reason(void);
/* The error of a failed handshake, with OpenSSL's reason. */
void bus_tls_handshake_error(const char *broker, qmf_error *err);

#endif
