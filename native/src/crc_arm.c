/*
 * aarch64 CRC kernels (tier 1: ARMv8 CRC32 + PMULL), selected at run time
 * from getauxval(AT_HWCAP) (cpu.c) and compiled with function-level target
 * attributes, so the extension needs no special compiler flags.
 *  - CRC-32C and CRC-32 (zlib): the CRC32C and CRC32 instructions on three
 *    interleaved streams, merged with one PMULL shift each; or PMULL folding
 *    (which is faster depends on the core, so the Python side times both,
 *    native/_calibrate.py).
 *  - All three CRCs: PMULL folding, four 128-bit accumulators, generic over
 *    the polynomial (constants from crc_fold.c); CRC-16 on byte-reversed
 *    blocks (natural bit order).
 */
#include "ofs_kernels.h"

#if defined(__aarch64__) && defined(__GNUC__) && defined(__linux__)
#include <arm_acle.h>
#include <arm_neon.h>

#define TA __attribute__((target("+crc+crypto")))
#define LONG_BLOCK 4096
#define SHORT_BLOCK 256

/* Shift constants by 1 and 2 blocks: [castagnoli][long/short][blocks-1]. */
static uint64_t shifts[2][2][2];

void ofs_hw_init(void)
{
    static const uint32_t polys[2] = {0x04C11DB7u, 0x1EDC6F41u};
    for (int c = 0; c < 2; c++)
        for (int k = 0; k < 2; k++) {
            shifts[c][0][k] = ofs_shift_constant(polys[c], (size_t)(k + 1) * LONG_BLOCK);
            shifts[c][1][k] = ofs_shift_constant(polys[c], (size_t)(k + 1) * SHORT_BLOCK);
        }
}

TA static inline uint32_t step64(int castagnoli, uint32_t c, uint64_t v)
{
    return castagnoli ? __crc32cd(c, v) : __crc32d(c, v);
}

TA static inline uint32_t shift(int castagnoli, uint32_t c, uint64_t k)
{
    poly128_t prod = vmull_p64((poly64_t)c, (poly64_t)k);
    return step64(castagnoli, 0, vgetq_lane_u64(vreinterpretq_u64_p128(prod), 0));
}

TA static inline uint32_t three_way(int castagnoli, uint32_t c0, const uint8_t *p,
                                    size_t len, const uint64_t k[2])
{
    uint32_t c1 = 0, c2 = 0;
    for (size_t i = 0; i < len; i += 8) {
        c0 = step64(castagnoli, c0, ofs_load64(p + i));
        c1 = step64(castagnoli, c1, ofs_load64(p + len + i));
        c2 = step64(castagnoli, c2, ofs_load64(p + 2 * len + i));
    }
    return shift(castagnoli, c0, k[1]) ^ shift(castagnoli, c1, k[0]) ^ c2;
}

TA static inline uint32_t crc_armv8(int castagnoli, uint32_t c, const uint8_t *p, size_t n)
{
    for (; n >= 3 * LONG_BLOCK; p += 3 * LONG_BLOCK, n -= 3 * LONG_BLOCK)
        c = three_way(castagnoli, c, p, LONG_BLOCK, shifts[castagnoli][0]);
    for (; n >= 3 * SHORT_BLOCK; p += 3 * SHORT_BLOCK, n -= 3 * SHORT_BLOCK)
        c = three_way(castagnoli, c, p, SHORT_BLOCK, shifts[castagnoli][1]);
    for (; n >= 8; p += 8, n -= 8)
        c = step64(castagnoli, c, ofs_load64(p));
    for (; n; p++, n--)
        c = castagnoli ? __crc32cb(c, *p) : __crc32b(c, *p);
    return c;
}

TA uint32_t ofs_crc32c_armv8(uint32_t reg, const uint8_t *p, size_t n)
{
    return crc_armv8(1, reg, p, n);
}

TA uint32_t ofs_crc32_armv8(uint32_t reg, const uint8_t *p, size_t n)
{
    return crc_armv8(0, reg, p, n);
}

/* ---- PMULL folding (all three CRCs; see crc_fold.c) ---- */

typedef uint32_t (*tail_fn)(uint32_t reg, const uint8_t *p, size_t n);

static uint32_t crc16_tail(uint32_t reg, const uint8_t *p, size_t n)
{
    return ofs_crc16_sb8((uint16_t)reg, p, n);
}

/* A 16-byte block as two qwords: as stored for the reflected CRCs,
 * byte-reversed (natural bit order) for CRC-16. */
TA static inline uint64x2_t load128(const uint8_t *p, int natural)
{
    uint8x16_t v = vld1q_u8(p);
    if (natural) {
        v = vrev64q_u8(v);
        v = vextq_u8(v, v, 8);
    }
    return vreinterpretq_u64_u8(v);
}

TA static inline uint64x2_t kpair(const ofs_fold_consts *fc, int which)
{
    return vld1q_u64(fc->k[which].k);
}

TA static inline uint64x2_t fold128(uint64x2_t x, uint64x2_t k)
{
    poly128_t lo = vmull_p64((poly64_t)vgetq_lane_u64(x, 0), (poly64_t)vgetq_lane_u64(k, 0));
    poly128_t hi = vmull_high_p64(vreinterpretq_p64_u64(x), vreinterpretq_p64_u64(k));
    return veorq_u64(vreinterpretq_u64_p128(lo), vreinterpretq_u64_p128(hi));
}

TA static uint32_t fold_neon(const ofs_fold_consts *fc, int natural, uint32_t reg,
                             const uint8_t *p, size_t n, tail_fn tail)
{
    if (n < 64)
        return tail(reg, p, n);
    uint64x2_t init = natural ? vcombine_u64(vcreate_u64(0), vcreate_u64((uint64_t)reg << 48))
                              : vcombine_u64(vcreate_u64(reg), vcreate_u64(0));
    uint64x2_t x0 = veorq_u64(load128(p, natural), init);
    uint64x2_t x1 = load128(p + 16, natural);
    uint64x2_t x2 = load128(p + 32, natural);
    uint64x2_t x3 = load128(p + 48, natural);
    uint64x2_t k512 = kpair(fc, OFS_FOLD_512), k128 = kpair(fc, OFS_FOLD_128);
    for (p += 64, n -= 64; n >= 64; p += 64, n -= 64) {
        x0 = veorq_u64(fold128(x0, k512), load128(p, natural));
        x1 = veorq_u64(fold128(x1, k512), load128(p + 16, natural));
        x2 = veorq_u64(fold128(x2, k512), load128(p + 32, natural));
        x3 = veorq_u64(fold128(x3, k512), load128(p + 48, natural));
    }
    uint64x2_t x = veorq_u64(veorq_u64(fold128(x0, kpair(fc, OFS_FOLD_384)),
                                       fold128(x1, kpair(fc, OFS_FOLD_256))),
                             veorq_u64(fold128(x2, k128), x3));
    for (; n >= 16; p += 16, n -= 16)
        x = veorq_u64(fold128(x, k128), load128(p, natural));
    uint8_t block[16];
    uint8x16_t bytes = vreinterpretq_u8_u64(x);
    if (natural) {
        bytes = vrev64q_u8(bytes);
        bytes = vextq_u8(bytes, bytes, 8);
    }
    vst1q_u8(block, bytes);
    return tail(tail(0, block, 16), p, n);
}

TA uint16_t ofs_crc16_pmull(uint16_t reg, const uint8_t *p, size_t n)
{
    return (uint16_t)fold_neon(&ofs_fold_crc16, 1, reg, p, n, crc16_tail);
}

TA uint32_t ofs_crc32c_pmull(uint32_t reg, const uint8_t *p, size_t n)
{
    return fold_neon(&ofs_fold_crc32c, 0, reg, p, n, ofs_crc32c_armv8);
}

TA uint32_t ofs_crc32_pmull(uint32_t reg, const uint8_t *p, size_t n)
{
    return fold_neon(&ofs_fold_crc32, 0, reg, p, n, ofs_crc32_armv8);
}
#endif
