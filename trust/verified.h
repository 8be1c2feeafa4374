/*
 * Signatures verified before, so that agents sharing one process and one
 * loop (the fleet simulator, tests) verify a broadcast request once rather
 * than once each: the same request bytes reach every one of them, and an
 * Ed25519 verification is a pure function of the public key, the message
 * and the signature.  Only successes are kept, by the whole triple, so a
 * hit answers exactly what trust_verify would; everything else about a
 * request (its credential, the validity window, the target it was signed
 * for, which is in the digest) each agent still checks itself.
 *
 * Bounded: a direct-mapped table, where a newer success replaces the one
 * in its slot.  Not locked: it belongs to one loop thread.  The host of the
 * agents owns it (struct agent_env); a process with one agent, virtbusd,
 * has nothing to share and passes none.  About 140 bytes per slot.
 */
#ifndef TRUST_VERIFIED_H
#define TRUST_VERIFIED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trust/key.h"
#include "trust/message.h"

struct trust_verified;

struct trust_verified *trust_verified_new(size_t slots);
void trust_verified_free(struct trust_verified *v);

/*
 * Whether sig is the signature of digest by the Ed25519 public key:
 * from v if that triple verified before, else by trust_verify (and then
 * remembered if it does).  v NULL: trust_verify every time.
 */
bool trust_verify_remembered(struct trust_verified *v, const struct trust_key *key,
                             const uint8_t digest[TRUST_DIGEST_LEN],
                             const uint8_t sig[TRUST_SIG_LEN]);

/* How many answers came from v, and how many took a verification. */
void trust_verified_counts(const struct trust_verified *v, uint64_t *hits, uint64_t *misses);

#endif
