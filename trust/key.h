/*
 * Ed25519 keys for signing requests, answers and credentials: made,
 * written and read as PEM files (PKCS#8 for private keys, SPKI for public
 * ones, the forms `openssl pkey` reads), and known on the wire by their 32
 * raw public bytes.  A key's id is the first 16 bytes of SHA-256 over those
 * bytes, in hex: short enough for logs and audit lines, long enough that
 * two keys never share one by chance.
 */
#ifndef TRUST_KEY_H
#define TRUST_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/error.h"

#define TRUST_KEY_LEN     32    /* raw Ed25519 public key */
#define TRUST_SIG_LEN     64    /* Ed25519 signature */
#define TRUST_KEY_ID_LEN  32    /* hex characters */

struct trust_key;

/* A new private key (OS randomness). */
struct trust_key *trust_key_generate(qmf_error *err);
/* A private or a public key from a PEM file; anything but Ed25519 is refused. */
struct trust_key *trust_key_load(const char *path, qmf_error *err);
/* The same from PEM text in memory (name is used in errors). */
struct trust_key *trust_key_parse_pem(const char *pem, size_t len, const char *name,
                                      qmf_error *err);
/* A public key from its raw bytes. */
struct trust_key *trust_key_from_raw(const uint8_t raw[TRUST_KEY_LEN], qmf_error *err);
/* A public key (the private part dropped) of any key. */
struct trust_key *trust_key_public(const struct trust_key *k, qmf_error *err);
void trust_key_free(struct trust_key *k);

/*
 * Writes the private key as PEM to a new file of mode 0600: refused if path
 * exists, so that no key is ever overwritten by mistake.  Written aside and
 * renamed, so a crash leaves no half key.
 */
int trust_key_save_private(const struct trust_key *k, const char *path, qmf_error *err);
/* Writes the public key as PEM (mode 0644; an existing file is replaced). */
int trust_key_save_public(const struct trust_key *k, const char *path, qmf_error *err);

/*
 * Writes data to a new file of that mode, written aside and moved into
 * place so that a crash leaves no half file; an existing path is replaced,
 * or (replace false) refused with "exists already; not overwritten".
 */
int trust_file_write(const char *path, const char *data, size_t len, mode_t mode,
                     bool replace, qmf_error *err);

bool trust_key_is_private(const struct trust_key *k);
const uint8_t *trust_key_raw(const struct trust_key *k);       /* TRUST_KEY_LEN bytes */
const char *trust_key_id(const struct trust_key *k);           /* hex, NUL-terminated */
/* The id of raw public bytes; out needs TRUST_KEY_ID_LEN + 1 bytes. */
void trust_key_id_of(const uint8_t raw[TRUST_KEY_LEN], char out[TRUST_KEY_ID_LEN + 1]);

/* Signs msg with a private key.  About 30 µs. */
int trust_sign(const struct trust_key *k, const void *msg, size_t len,
               uint8_t sig[TRUST_SIG_LEN], qmf_error *err);
/* True if sig is k's signature of msg.  About 60-80 µs. */
bool trust_verify(const struct trust_key *k, const void *msg, size_t len,
                  const uint8_t sig[TRUST_SIG_LEN]);

/*
 * The X25519 secret of private key k: its Ed25519 secret scalar (RFC 8032
 * §5.1.5), whose public key trust_x25519_of_ed25519 finds from k's.  A
 * second key bound to this one, without a second key file (trust/seal.h).
 */
int trust_key_x25519_secret(const struct trust_key *k, uint8_t out[32], qmf_error *err);
/* Sets err from OpenSSL's error queue (draining it), prefixed by what
 * failed. */
void trust_ssl_error(qmf_error *err, uint32_t code, const char *what);
/* HKDF-SHA256 (RFC 5869) without salt: out_len bytes from ikm and info. */
int trust_hkdf_sha256(const void *ikm, size_t ikm_len, const void *info, size_t info_len,
                      uint8_t *out, size_t out_len, qmf_error *err);

/*
 * base64url without padding (RFC 4648 §5), the form every signature, key
 * and credential part takes on the wire and in files.  Decoding refuses
 * anything else (padding, whitespace, the other alphabet) and anything
 * over max bytes decoded.
 */
char *trust_b64_encode(const void *data, size_t len);
int trust_b64_decode(const char *text, size_t text_len, uint8_t **out, size_t *out_len,
                     size_t max);

#endif
