/*
 * Verifying the broker over TLS, shared by the AMQP 0-9-1 and 1.0 backends:
 * the CA and client certificate files, OpenSSL's host name check, and
 * errors that say what failed (and never a password).
 */
#include "bus/bus_tls.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

const char *
bus_tls_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *why = e != 0 ? ERR_reason_error_string(e) : NULL;

    ERR_clear_error();
    return why != NULL ? why : "";
}

/* A TLS file that could not be used: unreadable, or not what it should be. */
static int
tls_file_error(qmf_error *err, const char *what, const char *path)
{
    const char *why;

    if (access(path, R_OK) != 0) {
        qmf_error_set(err, QMF_ERR_TRANSPORT, "TLS: cannot read %s %s: %s", what, path,
                      strerror(errno));
        ERR_clear_error();
        return -1;
    }
    why = bus_tls_reason();
    qmf_error_set(err, QMF_ERR_TRANSPORT, "TLS: cannot use %s %s%s%s", what, path,
                  *why ? ": " : "", why);
    return -1;
}

/* Called by OpenSSL for each certificate of the chain; records and passes
 * on its verdict, so that the caller still decides. */
static int
tls_verify_cb(int ok, X509_STORE_CTX *store)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct bus_tls_check *check = ssl ? SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)) : NULL;

    if (!ok && check != NULL && check->error == X509_V_OK)
        check->error = X509_STORE_CTX_get_error(store);
    return ok;
}

static char *
strdup_or_null(const char *s)
{
    return s ? qmf_xstrdup(s) : NULL;
}

int
bus_tls_conf_init(struct bus_tls_conf *t, const struct bus_options *opts, bool tls_url,
                  const char *tls_scheme, qmf_error *err)
{
    const struct bus_tls *tls = &opts->tls;

    memset(t, 0, sizeof(*t));
    if (opts->sasl == BUS_SASL_EXTERNAL && (!tls_url || tls->cert == NULL)) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                      "SASL EXTERNAL needs an %s:// broker URL and a client "
                      "certificate (tls_cert)", tls_scheme);
        return -1;
    }
    if (tls->key != NULL && tls->cert == NULL) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                      "a TLS key (%s) is given without its certificate", tls->key);
        return -1;
    }
    t->ca = strdup_or_null(tls->ca);
    t->cert = strdup_or_null(tls->cert);
    t->key = strdup_or_null(tls->key ? tls->key : tls->cert);
    t->verify_hostname = !tls->no_verify_hostname;
    t->sasl_external = opts->sasl == BUS_SASL_EXTERNAL;
    return 0;
}

void
bus_tls_conf_clear(struct bus_tls_conf *t)
{
    free(t->ca);
    free(t->cert);
    free(t->key);
    memset(t, 0, sizeof(*t));
}

int
bus_tls_setup(SSL_CTX *ctx, const char *host, const struct bus_tls_conf *f,
              struct bus_tls_check *check, qmf_error *err)
{
    const char *ca = f->ca;
    X509_VERIFY_PARAM *param;

    check->error = X509_V_OK;
    SSL_CTX_set_app_data(ctx, check);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, tls_verify_cb);
    if (f->verify_hostname) {
        param = SSL_CTX_get0_param(ctx);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (X509_VERIFY_PARAM_set1_ip_asc(param, host) != 1 &&
            X509_VERIFY_PARAM_set1_host(param, host, 0) != 1) {
            qmf_error_set(err, QMF_ERR_TRANSPORT, "TLS: cannot check host name '%s': %s",
                          host, bus_tls_reason());
            return -1;
        }
        ERR_clear_error();      /* what set1_ip_asc said of a name */
    }
    /* Without a CA of its own, the system's trust: a public broker. */
    if (ca == NULL && access(BUS_TLS_SYSTEM_CA_BUNDLE, R_OK) == 0)
        ca = BUS_TLS_SYSTEM_CA_BUNDLE;
    if (ca != NULL && SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
        return tls_file_error(err, "the CA file", ca);
    if (f->cert != NULL) {
        const char *key = f->key != NULL ? f->key : f->cert;

        if (SSL_CTX_use_certificate_chain_file(ctx, f->cert) != 1)
            return tls_file_error(err, "the client certificate", f->cert);
        if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1)
            return tls_file_error(err, "the client key", key);
    }
    return 0;
}

void
bus_tls_forget(SSL_CTX *ctx)
{
    SSL_CTX_set_app_data(ctx, NULL);
}

/* Errors that mean the broker's certificate chains to no CA we trust. */
static bool
tls_untrusted(int error)
{
    switch (error) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        return true;
    default:
        return false;
    }
}

void
bus_tls_verify_error(const struct bus_tls_check *check, const char *host, const char *broker,
                     qmf_error *err)
{
    if (check->error == X509_V_ERR_HOSTNAME_MISMATCH ||
        check->error == X509_V_ERR_IP_ADDRESS_MISMATCH)
        qmf_error_set(err, QMF_ERR_TRANSPORT, "TLS: the broker's certificate is not "
                      "for '%s' (host name verification failed) connecting to %s",
                      host, broker);
    else
        qmf_error_set(err, QMF_ERR_TRANSPORT, "TLS: certificate verify failed%s "
                      "connecting to %s: %s", tls_untrusted(check->error) ?
                      " (wrong CA?)" : "", broker,
                      check->error != X509_V_OK ?
                      X509_verify_cert_error_string(check->error) : "no certificate");
}

void
bus_tls_handshake_error(const char *broker, qmf_error *err)
{
    const char *why = bus_tls_reason();

    qmf_error_set(err, QMF_ERR_TRANSPORT, "TLS: handshake failed connecting to %s%s%s",
                  broker, *why ? ": " : "", why);
}
