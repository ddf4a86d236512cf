/*
 * Constants for the hardware CRC paths, computed once at start-up with
 * plain GF(2) polynomial arithmetic (so no magic numbers to get wrong).
 *
 * Folding (carry-less multiply) keeps a 128-bit block X whose CRC from a
 * zero register equals that of all the data folded so far.  Moving X forward
 * by d bits means multiplying it by x^d modulo P; X is split into two
 * 64-bit halves, each multiplied by a 32-bit (or 16-bit) constant:
 *  - reflected CRCs (CRC-32, CRC-32C): a clmul of two bit-reflected values
 *    yields a product scaled by x^33 in the block's convention, so the low
 *    qword (the earlier, higher-degree half) takes x^(d+31) and the high
 *    qword x^(d-33), both bit-reflected;
 *  - CRC-16/CCITT-FALSE is handled in natural bit order on byte-swapped
 *    blocks: the low qword (later half) takes x^d, the high qword x^(d+64).
 * The same x^(8L-33) scaling lets a CRC instruction reduce clmul(crc, K)
 * to "crc followed by L zero bytes", which combines interleaved streams.
 */
#include "ofs_kernels.h"

ofs_fold_consts ofs_fold_crc16;
ofs_fold_consts ofs_fold_crc32;
ofs_fold_consts ofs_fold_crc32c;

/* a * b mod (x^w + poly), natural bit order, a and b of degree < w. */
static uint64_t mulmod(uint64_t a, uint64_t b, uint64_t poly, unsigned w)
{
    uint64_t r = 0;
    for (int i = (int)w - 1; i >= 0; i--) {
        r <<= 1;
        if ((r >> w) & 1)
            r ^= ((uint64_t)1 << w) | poly;
        if ((a >> i) & 1)
            r ^= b;
    }
    return r;
}

/* x^e mod (x^w + poly), natural bit order. */
static uint64_t xpow(uint64_t poly, unsigned w, unsigned e)
{
    uint64_t result = 1, base = 2;
    for (; e; e >>= 1) {
        if (e & 1)
            result = mulmod(result, base, poly, w);
        base = mulmod(base, base, poly, w);
    }
    return result;
}

static uint32_t reflect32(uint64_t v)
{
    uint32_t r = 0;
    for (int i = 0; i < 32; i++)
        if ((v >> i) & 1)
            r |= (uint32_t)1 << (31 - i);
    return r;
}

uint32_t ofs_shift_constant(uint32_t poly, size_t bytes)
{
    return reflect32(xpow(poly, 32, (unsigned)(8 * bytes - 33)));
}

static ofs_kpair reflected_pair(uint32_t poly, unsigned d)
{
    ofs_kpair k = {{reflect32(xpow(poly, 32, d + 31)), reflect32(xpow(poly, 32, d - 33))}};
    return k;
}

static ofs_kpair natural16_pair(unsigned d)
{
    ofs_kpair k = {{xpow(0x1021, 16, d), xpow(0x1021, 16, d + 64)}};
    return k;
}

static const unsigned DISTANCES[OFS_FOLD_COUNT] = {128, 256, 384, 512, 1024, 1536, 2048};

void ofs_fold_init(void)
{
    for (int i = 0; i < OFS_FOLD_COUNT; i++) {
        ofs_fold_crc16.k[i] = natural16_pair(DISTANCES[i]);
        ofs_fold_crc32.k[i] = reflected_pair(0x04C11DB7u, DISTANCES[i]);
        ofs_fold_crc32c.k[i] = reflected_pair(0x1EDC6F41u, DISTANCES[i]);
    }
}
