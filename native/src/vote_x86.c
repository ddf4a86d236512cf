/*
 * x86-64 vote kernels (AVX2 = tier 2, AVX-512 BW = tier 3).
 *
 * Blocks where the three copies agree (the common case) cost two loads
 * checks and one store.  Blocks where they differ take the full path: on
 * AVX-512 in vector registers (bitwise majority by one vpternlog, word
 * compares at the word size, mask popcounts for the statistics); on AVX2
 * they are handed to the portable SWAR code.  Large outputs are written
 * with non-temporal stores, which saves the read-for-ownership traffic.
 * The last partial vector goes through the portable code.
 */
#include "ofs_kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define T2 __attribute__((target("avx2")))
#define T3 __attribute__((target("avx2,avx512f,avx512bw,avx512vl,popcnt,lzcnt,bmi")))
#define STREAM_MIN ((size_t)8 << 20)

/* First offset from which `vec`-byte stores into out are aligned, if that
 * keeps word boundaries (a multiple of 8); 0 otherwise. */
static size_t aligned_start(const ofs_vote_job *job, size_t vec)
{
    if (!job->out)
        return 0;
    size_t peel = (size_t)(-(uintptr_t)job->out) & (vec - 1);
    return (peel % 8 == 0 && peel <= job->n) ? peel : 0;
}

T2 void ofs_vote_avx2(const ofs_vote_job *job, ofs_vote_stats *st)
{
    const size_t n = job->n;
    size_t i = aligned_start(job, 32);
    ofs_vote_portable_range(job, 0, i, st);
    for (; i + 32 <= n; i += 32) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(job->a + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(job->b + i));
        __m256i c = _mm256_loadu_si256((const __m256i *)(job->c + i));
        __m256i d = _mm256_or_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(a, c));
        if (!_mm256_testz_si256(d, d))
            ofs_vote_portable_range(job, i, i + 32, st);
        else if (job->out)
            _mm256_storeu_si256((__m256i *)(job->out + i), a);
    }
    ofs_vote_portable_range(job, i, n, st);
}

T3 static inline uint64_t words_differ(__m512i x, __m512i y, unsigned w)
{
    switch (w) {
    case 1: return _mm512_cmpneq_epi8_mask(x, y);
    case 2: return _mm512_cmpneq_epi16_mask(x, y);
    case 4: return _mm512_cmpneq_epi32_mask(x, y);
    default: return _mm512_cmpneq_epi64_mask(x, y);
    }
}

/* Per word: y where the mask bit is set, else x. */
T3 static inline __m512i select_words(uint64_t mask, __m512i x, __m512i y, unsigned w)
{
    switch (w) {
    case 1: return _mm512_mask_blend_epi8(mask, x, y);
    case 2: return _mm512_mask_blend_epi16((__mmask32)mask, x, y);
    case 4: return _mm512_mask_blend_epi32((__mmask16)mask, x, y);
    default: return _mm512_mask_blend_epi64((__mmask8)mask, x, y);
    }
}

T3 static inline void store512(uint8_t *p, __m512i v, int stream)
{
    if (stream)
        _mm512_stream_si512((void *)p, v);
    else
        _mm512_storeu_si512((void *)p, v);
}

T3 static inline __attribute__((always_inline)) void
vote512(const ofs_vote_job *job, ofs_vote_stats *st, const unsigned w)
{
    const size_t n = job->n;
    size_t i = aligned_start(job, 64);
    const int stream = job->out && n >= STREAM_MIN && (((uintptr_t)job->out + i) & 63) == 0;
    ofs_vote_portable_range(job, 0, i, st);
    for (; i + 64 <= n; i += 64) {
        __m512i a = _mm512_loadu_si512((const void *)(job->a + i));
        __m512i b = _mm512_loadu_si512((const void *)(job->b + i));
        __m512i c = _mm512_loadu_si512((const void *)(job->c + i));
        __m512i d = _mm512_ternarylogic_epi64(a, b, c, 0x7E); /* (a^b)|(a^c) */
        if (!_mm512_test_epi64_mask(d, d)) {
            if (job->out)
                store512(job->out + i, a, stream);
            continue;
        }
        __m512i m = _mm512_ternarylogic_epi64(a, b, c, 0xE8); /* majority */
        uint64_t ab = words_differ(a, b, w), ac = words_differ(a, c, w);
        uint64_t bc = words_differ(b, c, w);
        st->uncorrectable += (uint64_t)__builtin_popcountll(ab & ac & bc);
        if (job->word_mode)
            m = select_words(ab & ac, a, select_words(ab & ac & ~bc, m, b, w), w);
        uint64_t da = _mm512_cmpneq_epi8_mask(a, m);
        uint64_t db = _mm512_cmpneq_epi8_mask(b, m);
        uint64_t dc = _mm512_cmpneq_epi8_mask(c, m);
        uint64_t any = da | db | dc;
        st->disagreements[0] += (uint64_t)__builtin_popcountll(da);
        st->disagreements[1] += (uint64_t)__builtin_popcountll(db);
        st->disagreements[2] += (uint64_t)__builtin_popcountll(dc);
        ofs_vote_note(st, i + (size_t)__builtin_ctzll(any), i + 63 - (size_t)__builtin_clzll(any));
        if (job->out) {
            store512(job->out + i, m, stream);
        } else {
            _mm512_storeu_si512((void *)(job->a + i), m);
            _mm512_storeu_si512((void *)(job->b + i), m);
            _mm512_storeu_si512((void *)(job->c + i), m);
        }
    }
    if (stream)
        _mm_sfence();
    ofs_vote_portable_range(job, i, n, st);
}

T3 void ofs_vote_avx512(const ofs_vote_job *job, ofs_vote_stats *st)
{
    switch (job->word_size) {
    case 1: vote512(job, st, 1); break;
    case 2: vote512(job, st, 2); break;
    case 4: vote512(job, st, 4); break;
    default: vote512(job, st, 8); break;
    }
}
#endif
