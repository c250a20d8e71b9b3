/*
 * ids: id normalisation, generation and hashing (see ids.h).
 */
#include "core/ids.h"

#include <string.h>
#include <sys/random.h>

static const char hexdig[] = "0123456789abcdef";

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int ids_is_hex(const char *s, size_t n)
{
    if (!s || strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (hexval((unsigned char)s[i]) < 0)
            return 0;
    return 1;
}

int ids_from_bytes(const uint8_t *raw, size_t n, char *out)
{
    int nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexdig[raw[i] >> 4];
        out[2 * i + 1] = hexdig[raw[i] & 15];
        nonzero |= raw[i];
    }
    out[2 * n] = '\0';
    return nonzero ? 0 : -1;
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Decode base64 'text' into exactly 'nbytes' bytes; -1 on any mismatch. */
static int b64_exact(const char *text, uint8_t *raw, size_t nbytes)
{
    size_t len = strlen(text);
    while (len && text[len - 1] == '=')
        len--;
    if ((len * 6) / 8 != nbytes)
        return -1;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64val((unsigned char)text[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o < nbytes)
                raw[o++] = (uint8_t)(acc >> bits);
        }
    }
    return o == nbytes ? 0 : -1;
}

int ids_normalize(const char *text, size_t nbytes, char *out)
{
    uint8_t raw[32];
    if (!text || nbytes > sizeof(raw))
        return -1;
    size_t len = strlen(text);
    if (len == 2 * nbytes && ids_is_hex(text, len)) {
        for (size_t i = 0; i < nbytes; i++)
            raw[i] = (uint8_t)(hexval((unsigned char)text[2 * i]) << 4 |
                               hexval((unsigned char)text[2 * i + 1]));
        return ids_from_bytes(raw, nbytes, out);
    }
    if (nbytes == 16 && len == 36 && text[8] == '-' && text[13] == '-' && text[18] == '-' &&
        text[23] == '-') {
        char hex[33];
        size_t o = 0;
        for (size_t i = 0; i < len; i++)
            if (text[i] != '-')
                hex[o++] = text[i];
        hex[o] = '\0';
        return o == 32 ? ids_normalize(hex, nbytes, out) : -1;
    }
    if (b64_exact(text, raw, nbytes) == 0)
        return ids_from_bytes(raw, nbytes, out);
    return -1;
}

void ids_random(size_t nbytes, char *out)
{
    uint8_t raw[32];
    if (nbytes > sizeof(raw))
        nbytes = sizeof(raw);
    do {
        size_t got = 0;
        while (got < nbytes) {
            ssize_t n = getrandom(raw + got, nbytes - got, 0);
            if (n > 0)
                got += (size_t)n;
        }
    } while (ids_from_bytes(raw, nbytes, out) != 0);
}

uint64_t ids_hash64(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

void ids_derive(const char *text, size_t nbytes, char *out)
{
    uint8_t raw[32];
    size_t len = strlen(text);
    for (size_t i = 0; i < nbytes && i < sizeof(raw); i += 8) {
        uint64_t h = ids_hash64(text, len, 0x9e3779b97f4a7c15ULL * (i / 8 + 1));
        for (size_t k = 0; k < 8 && i + k < nbytes; k++)
            raw[i + k] = (uint8_t)(h >> (8 * k));
    }
    if (ids_from_bytes(raw, nbytes, out) != 0)
        out[2 * nbytes - 1] = '1';
}
