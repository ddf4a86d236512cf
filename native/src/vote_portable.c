/*
 * Portable triple-modular-redundancy vote, 8 bytes per step (SWAR).
 *
 * Word-level comparisons use the "lane is non-zero" trick: with H the high
 * bit of every lane and L = ~H, (((x & L) + L) | x) & H has the high bit of
 * a lane set exactly when that lane of x is non-zero.  Lanes are 1, 2, 4 or
 * 8 bytes and always start at a multiple of their size from the start of
 * the buffer, because blocks start at multiples of 8.
 */
#include "ofs_internal.h"

#define HIGH_BYTES 0x8080808080808080ull

static uint64_t lane_high_bits(unsigned word_size)
{
    switch (word_size) {
    case 1: return HIGH_BYTES;
    case 2: return 0x8000800080008000ull;
    case 4: return 0x8000000080000000ull;
    default: return 0x8000000000000000ull;
    }
}

static inline uint64_t lane_nonzero(uint64_t x, uint64_t high)
{
    uint64_t low = ~high;
    return (((x & low) + low) | x) & high;
}

/* Expands lane high bits to whole-lane masks. */
static inline uint64_t lane_fill(uint64_t high_bits, unsigned word_size)
{
    return (high_bits - (high_bits >> (8 * word_size - 1))) | high_bits;
}

static inline unsigned first_byte(uint64_t mask)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return (unsigned)__builtin_clzll(mask) / 8;
#else
    return (unsigned)__builtin_ctzll(mask) / 8;
#endif
}

static inline unsigned last_byte(uint64_t mask)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return (unsigned)__builtin_ctzll(mask) / 8;
#else
    return (unsigned)(63 - __builtin_clzll(mask)) / 8;
#endif
}

static inline void store_bytes(uint8_t *p, uint64_t v, size_t len)
{
    if (len == 8)
        memcpy(p, &v, 8);
    else
        memcpy(p, &v, len);
}

void ofs_vote_portable_range(const ofs_vote_job *job, size_t begin, size_t end,
                             ofs_vote_stats *st)
{
    const unsigned w = job->word_size;
    const uint64_t high = lane_high_bits(w);
    for (size_t i = begin; i < end; i += 8) {
        size_t len = end - i < 8 ? end - i : 8;
        uint64_t x = 0, y = 0, z = 0;
        if (len == 8) {
            x = ofs_load64(job->a + i);
            y = ofs_load64(job->b + i);
            z = ofs_load64(job->c + i);
        } else {
            memcpy(&x, job->a + i, len);
            memcpy(&y, job->b + i, len);
            memcpy(&z, job->c + i, len);
        }
        if (!((x ^ y) | (x ^ z))) { /* the copies agree: the common case */
            if (job->out)
                store_bytes(job->out + i, x, len);
            continue;
        }
        uint64_t m = (x & y) | (z & (x | y));
        uint64_t ab = lane_nonzero(x ^ y, high);
        uint64_t ac = lane_nonzero(x ^ z, high);
        uint64_t bc = lane_nonzero(y ^ z, high);
        st->uncorrectable += (uint64_t)__builtin_popcountll(ab & ac & bc);
        if (job->word_mode) {
            uint64_t a_lost = lane_fill(ab & ac, w);
            uint64_t b_wins = a_lost & ~lane_fill(bc, w);
            uint64_t none = lane_fill(ab & ac & bc, w);
            m = (x & ~a_lost) | (y & b_wins) | (m & none);
        }
        uint64_t dx = x ^ m, dy = y ^ m, dz = z ^ m;
        st->disagreements[0] += (uint64_t)__builtin_popcountll(lane_nonzero(dx, HIGH_BYTES));
        st->disagreements[1] += (uint64_t)__builtin_popcountll(lane_nonzero(dy, HIGH_BYTES));
        st->disagreements[2] += (uint64_t)__builtin_popcountll(lane_nonzero(dz, HIGH_BYTES));
        uint64_t bytes = lane_nonzero(dx | dy | dz, HIGH_BYTES);
        ofs_vote_note(st, i + first_byte(bytes), i + last_byte(bytes));
        if (job->out) {
            store_bytes(job->out + i, m, len);
        } else {
            store_bytes(job->a + i, m, len);
            store_bytes(job->b + i, m, len);
            store_bytes(job->c + i, m, len);
        }
    }
}

void ofs_vote_portable(const ofs_vote_job *job, ofs_vote_stats *st)
{
    ofs_vote_portable_range(job, 0, job->n, st);
}
