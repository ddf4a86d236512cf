/*
 * x86-64 CRC kernels, selected at run time (dispatch.c), compiled with
 * per-function target attributes so the rest of the extension keeps the
 * default flags.
 *  - CRC-32C: three interleaved streams of the SSE4.2 crc32 instruction,
 *    merged with one PCLMULQDQ shift each (tier 1), or the folding below.
 *    Which of the two is faster depends on the CPU (the crc32 instruction's
 *    throughput differs between vendors), so both are offered and the
 *    Python side times them (native/_calibrate.py).
 *  - All three CRCs: carry-less multiply folding, four 128-bit accumulators
 *    (PCLMULQDQ, tier 1) or four 512-bit ones (VPCLMULQDQ + AVX-512, tier 3);
 *    the code is generic over the polynomial (constants from crc_fold.c).
 * Folding ends with one 16-byte block whose CRC from a zero register, then
 * the remaining tail, go through the portable slice-by-8 code.
 */
#include "ofs_kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define T1 __attribute__((target("sse4.2,pclmul,ssse3")))
#define T3 __attribute__((target("sse4.2,pclmul,ssse3,avx2,avx512f,avx512bw,avx512vl,vpclmulqdq")))

typedef uint32_t (*tail_fn)(uint32_t reg, const uint8_t *p, size_t n);

static uint32_t crc16_tail(uint32_t reg, const uint8_t *p, size_t n)
{
    return ofs_crc16_sb8((uint16_t)reg, p, n);
}

/* ---- 128-bit folding (tier 1) ---- */

T1 static inline __m128i bswap_mask(void)
{
    return _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}

T1 static inline __m128i load128(const uint8_t *p, int natural)
{
    __m128i v = _mm_loadu_si128((const __m128i *)p);
    return natural ? _mm_shuffle_epi8(v, bswap_mask()) : v;
}

T1 static inline __m128i kpair(const ofs_fold_consts *fc, int which)
{
    return _mm_set_epi64x((long long)fc->k[which].k[1], (long long)fc->k[which].k[0]);
}

T1 static inline __m128i fold128(__m128i x, __m128i k)
{
    return _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11));
}

/* The register as a 128-bit block to XOR into the first data block. */
T1 static inline __m128i init_block(uint32_t reg, int natural)
{
    __m128i r = _mm_cvtsi32_si128((int)reg);
    return natural ? _mm_slli_si128(r, 14) : r;
}

T1 static uint32_t fold_finish(const ofs_fold_consts *fc, int natural, __m128i x0,
                               __m128i x1, __m128i x2, __m128i x3,
                               const uint8_t *p, size_t n, tail_fn tail)
{
    __m128i k128 = kpair(fc, OFS_FOLD_128);
    __m128i x = _mm_xor_si128(_mm_xor_si128(fold128(x0, kpair(fc, OFS_FOLD_384)),
                                            fold128(x1, kpair(fc, OFS_FOLD_256))),
                              _mm_xor_si128(fold128(x2, k128), x3));
    for (; n >= 16; p += 16, n -= 16)
        x = _mm_xor_si128(fold128(x, k128), load128(p, natural));
    uint8_t block[16];
    _mm_storeu_si128((__m128i *)block, natural ? _mm_shuffle_epi8(x, bswap_mask()) : x);
    return tail(tail(0, block, 16), p, n);
}

T1 static uint32_t fold_sse(const ofs_fold_consts *fc, int natural, uint32_t reg,
                            const uint8_t *p, size_t n, tail_fn tail)
{
    if (n < 64)
        return tail(reg, p, n);
    __m128i x0 = _mm_xor_si128(load128(p, natural), init_block(reg, natural));
    __m128i x1 = load128(p + 16, natural);
    __m128i x2 = load128(p + 32, natural);
    __m128i x3 = load128(p + 48, natural);
    __m128i k512 = kpair(fc, OFS_FOLD_512);
    for (p += 64, n -= 64; n >= 64; p += 64, n -= 64) {
        x0 = _mm_xor_si128(fold128(x0, k512), load128(p, natural));
        x1 = _mm_xor_si128(fold128(x1, k512), load128(p + 16, natural));
        x2 = _mm_xor_si128(fold128(x2, k512), load128(p + 32, natural));
        x3 = _mm_xor_si128(fold128(x3, k512), load128(p + 48, natural));
    }
    return fold_finish(fc, natural, x0, x1, x2, x3, p, n, tail);
}

T1 uint32_t ofs_crc32_pclmul(uint32_t reg, const uint8_t *p, size_t n)
{
    return fold_sse(&ofs_fold_crc32, 0, reg, p, n, ofs_crc32_sb8);
}

T1 uint16_t ofs_crc16_pclmul(uint16_t reg, const uint8_t *p, size_t n)
{
    return (uint16_t)fold_sse(&ofs_fold_crc16, 1, reg, p, n, crc16_tail);
}

/* ---- CRC-32C with the crc32 instruction, three streams (tier 1) ---- */

#define LONG_BLOCK 4096
#define SHORT_BLOCK 256
static uint64_t shift_long[2], shift_short[2]; /* by 1 and 2 blocks */

void ofs_hw_init(void)
{
    shift_long[0] = ofs_shift_constant(0x1EDC6F41u, LONG_BLOCK);
    shift_long[1] = ofs_shift_constant(0x1EDC6F41u, 2 * LONG_BLOCK);
    shift_short[0] = ofs_shift_constant(0x1EDC6F41u, SHORT_BLOCK);
    shift_short[1] = ofs_shift_constant(0x1EDC6F41u, 2 * SHORT_BLOCK);
}

T1 static inline uint64_t shift32c(uint64_t crc, uint64_t k)
{
    __m128i prod = _mm_clmulepi64_si128(_mm_cvtsi64_si128((long long)crc),
                                        _mm_cvtsi64_si128((long long)k), 0x00);
    return _mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(prod));
}

T1 static inline uint64_t three_way(uint64_t c0, const uint8_t *p, size_t len,
                                    const uint64_t k[2])
{
    uint64_t c1 = 0, c2 = 0;
    for (size_t i = 0; i < len; i += 8) {
        c0 = _mm_crc32_u64(c0, ofs_load64(p + i));
        c1 = _mm_crc32_u64(c1, ofs_load64(p + len + i));
        c2 = _mm_crc32_u64(c2, ofs_load64(p + 2 * len + i));
    }
    return shift32c(c0, k[1]) ^ shift32c(c1, k[0]) ^ c2;
}

T1 uint32_t ofs_crc32c_sse42(uint32_t reg, const uint8_t *p, size_t n)
{
    uint64_t c = reg;
    for (; n >= 3 * LONG_BLOCK; p += 3 * LONG_BLOCK, n -= 3 * LONG_BLOCK)
        c = three_way(c, p, LONG_BLOCK, shift_long);
    for (; n >= 3 * SHORT_BLOCK; p += 3 * SHORT_BLOCK, n -= 3 * SHORT_BLOCK)
        c = three_way(c, p, SHORT_BLOCK, shift_short);
    for (; n >= 8; p += 8, n -= 8)
        c = _mm_crc32_u64(c, ofs_load64(p));
    uint32_t c32 = (uint32_t)c;
    for (; n; p++, n--)
        c32 = _mm_crc32_u8(c32, *p);
    return c32;
}

T1 uint32_t ofs_crc32c_pclmul(uint32_t reg, const uint8_t *p, size_t n)
{
    return fold_sse(&ofs_fold_crc32c, 0, reg, p, n, ofs_crc32c_sse42);
}

/* ---- 512-bit folding (tier 3) ---- */

T3 static inline __m512i load512(const uint8_t *p, int natural)
{
    __m512i v = _mm512_loadu_si512((const void *)p);
    return natural ? _mm512_shuffle_epi8(v, _mm512_broadcast_i32x4(bswap_mask())) : v;
}

T3 static inline __m512i kpair512(const ofs_fold_consts *fc, int which)
{
    return _mm512_broadcast_i32x4(kpair(fc, which));
}

/* fold(x, k) ^ y in two multiplies and one three-way XOR. */
T3 static inline __m512i fold512_xor(__m512i x, __m512i k, __m512i y)
{
    return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, k, 0x00),
                                     _mm512_clmulepi64_epi128(x, k, 0x11), y, 0x96);
}

T3 static uint32_t fold_avx512(const ofs_fold_consts *fc, int natural, uint32_t reg,
                               const uint8_t *p, size_t n, tail_fn tail)
{
    if (n < 256)
        return fold_sse(fc, natural, reg, p, n, tail);
    __m512i init = _mm512_inserti32x4(_mm512_setzero_si512(), init_block(reg, natural), 0);
    __m512i z0 = _mm512_xor_si512(load512(p, natural), init);
    __m512i z1 = load512(p + 64, natural);
    __m512i z2 = load512(p + 128, natural);
    __m512i z3 = load512(p + 192, natural);
    __m512i k2048 = kpair512(fc, OFS_FOLD_2048);
    for (p += 256, n -= 256; n >= 256; p += 256, n -= 256) {
        z0 = fold512_xor(z0, k2048, load512(p, natural));
        z1 = fold512_xor(z1, k2048, load512(p + 64, natural));
        z2 = fold512_xor(z2, k2048, load512(p + 128, natural));
        z3 = fold512_xor(z3, k2048, load512(p + 192, natural));
    }
    __m512i k512 = kpair512(fc, OFS_FOLD_512);
    __m512i z = fold512_xor(z0, kpair512(fc, OFS_FOLD_1536),
                            fold512_xor(z1, kpair512(fc, OFS_FOLD_1024),
                                        fold512_xor(z2, k512, z3)));
    for (; n >= 64; p += 64, n -= 64)
        z = fold512_xor(z, k512, load512(p, natural));
    return fold_finish(fc, natural, _mm512_extracti32x4_epi32(z, 0),
                       _mm512_extracti32x4_epi32(z, 1), _mm512_extracti32x4_epi32(z, 2),
                       _mm512_extracti32x4_epi32(z, 3), p, n, tail);
}

T3 uint32_t ofs_crc32c_vpclmul(uint32_t reg, const uint8_t *p, size_t n)
{
    return fold_avx512(&ofs_fold_crc32c, 0, reg, p, n, ofs_crc32c_sse42);
}

T3 uint32_t ofs_crc32_vpclmul(uint32_t reg, const uint8_t *p, size_t n)
{
    return fold_avx512(&ofs_fold_crc32, 0, reg, p, n, ofs_crc32_sb8);
}

T3 uint16_t ofs_crc16_vpclmul(uint16_t reg, const uint8_t *p, size_t n)
{
    return (uint16_t)fold_avx512(&ofs_fold_crc16, 1, reg, p, n, crc16_tail);
}
#endif
