// SHA-256 (FIPS 180-4), streaming.
#ifndef CHECKSUM_SHA256_H
#define CHECKSUM_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t state[8];
    uint64_t length;  // bytes hashed so far
    uint8_t block[64];
    size_t used;      // bytes in `block`
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t len);
// Writes the digest as 64 lowercase hex digits and a NUL.
void sha256_hex(sha256_ctx *c, char out[65]);

#endif
