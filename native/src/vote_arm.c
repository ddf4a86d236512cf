/*
 * aarch64 NEON vote kernel (tier 1).  64-byte blocks where the three
 * copies agree (the common case) are checked and copied with NEON; blocks
 * that differ, and the last partial block, go through the portable code,
 * which computes the vote and the statistics.
 */
#include "ofs_kernels.h"

#if defined(__aarch64__) && defined(__GNUC__) && defined(__linux__)
#include <arm_neon.h>

void ofs_vote_neon(const ofs_vote_job *job, ofs_vote_stats *st)
{
    const size_t n = job->n;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        uint8x16_t a[4], d = vdupq_n_u8(0);
        for (int k = 0; k < 4; k++) {
            a[k] = vld1q_u8(job->a + i + 16 * k);
            uint8x16_t b = vld1q_u8(job->b + i + 16 * k);
            uint8x16_t c = vld1q_u8(job->c + i + 16 * k);
            d = vorrq_u8(d, vorrq_u8(veorq_u8(a[k], b), veorq_u8(a[k], c)));
        }
        if (vmaxvq_u8(d)) {
            ofs_vote_portable_range(job, i, i + 64, st);
        } else if (job->out) {
            for (int k = 0; k < 4; k++)
                vst1q_u8(job->out + i + 16 * k, a[k]);
        }
    }
    ofs_vote_portable_range(job, i, n, st);
}
#endif
