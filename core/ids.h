/*
 * ids: trace/span ids and hashes. Ids are stored as lower-case hex (32 chars
 * for a trace, 16 for a span). Senders are sloppy: upper case, base64 from
 * non-conformant exporters, UUIDs (Langfuse), all-zero ids; these helpers turn
 * what can be turned into canonical hex and reject the rest.
 * Thread-safe (random ids come from getrandom(2)).
 */
#ifndef CORE_IDS_H
#define CORE_IDS_H

#include <stddef.h>
#include <stdint.h>

/* Normalise an id of 'nbytes' bytes (16 trace, 8 span) given as text: hex of
 * any case, base64 of the right length, or (trace ids only) a UUID with
 * dashes. Writes 2*nbytes hex chars + NUL into 'out'. Returns 0, or -1 when
 * the text is not such an id or is all zeros. */
int ids_normalize(const char *text, size_t nbytes, char *out);

/* Hex-encode 'n' raw bytes into 'out' (2n+1 bytes); -1 when all zero. */
int ids_from_bytes(const uint8_t *raw, size_t n, char *out);

/* Random non-zero id of 'nbytes' bytes as hex into 'out' (2n+1 bytes). */
void ids_random(size_t nbytes, char *out);

/* Derive a stable id of 'nbytes' bytes from arbitrary text (for foreign ids
 * such as Langfuse's, so that an update finds its create). */
void ids_derive(const char *text, size_t nbytes, char *out);

/* 64-bit hash of bytes (FNV-1a with a murmur finaliser; not cryptographic). */
uint64_t ids_hash64(const void *p, size_t n, uint64_t seed);

/* 1 if 's' is exactly 'n' lower- or upper-case hex characters. */
int ids_is_hex(const char *s, size_t n);

#endif
