/*
 * sha256: SHA-256 (FIPS 180-4), for what must be stored hashed and compared
 * without the original (ingest keys), and HMAC-SHA256 (RFC 2104), which
 * signs alert webhooks. Small and unoptimised: keys and bodies are short.
 * Thread-safe (no state beyond the caller's).
 */
#ifndef CORE_SHA256_H
#define CORE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32

/* The digest of 'len' bytes at 'data' into 'out'. */
void sha256(const void *data, size_t len, uint8_t out[SHA256_LEN]);

/* The same as 64 lower-case hex digits and a NUL into 'hex'. */
void sha256_hex(const void *data, size_t len, char hex[2 * SHA256_LEN + 1]);

/* HMAC-SHA256 of 'len' bytes at 'data' under the 'keylen'-byte 'key' (any
 * length; longer than 64 bytes is hashed first) into 'out'. */
void sha256_hmac(const void *key, size_t keylen, const void *data, size_t len,
                 uint8_t out[SHA256_LEN]);

/* The same as 64 lower-case hex digits and a NUL into 'hex'. */
void sha256_hmac_hex(const void *key, size_t keylen, const void *data, size_t len,
                     char hex[2 * SHA256_LEN + 1]);

#endif
