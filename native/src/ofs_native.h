/*
 * orbitfs native hot path: public C interface.
 *
 * The block between the CDEF markers is also fed verbatim to cffi's cdef()
 * by native/build.py, so it must contain only plain declarations (no
 * preprocessor directives, no inline code).  Everything else of the C side
 * (kernels, tables, dispatch) is internal to the sources in this folder.
 */
#ifndef OFS_NATIVE_H
#define OFS_NATIVE_H

#include <stddef.h>
#include <stdint.h>

/* CDEF BEGIN */
typedef struct {
    uint64_t disagreements[3]; /* per copy: bytes differing from the voted value */
    int64_t first_offset;      /* first byte where the copies differ, -1 if none */
    int64_t last_offset;       /* last byte where the copies differ, -1 if none */
    uint64_t uncorrectable;    /* words where all three copies pairwise differ */
} ofs_vote_stats;

void ofs_init(void);
int ofs_max_tier(void);
void ofs_set_tier(int tier);
const char *ofs_impl_name(int func);
int ofs_impl_count(int func);
const char *ofs_impl_info(int func, int idx, int *tier);
int ofs_select_impl(int func, int idx);

uint16_t ofs_crc16(const uint8_t *p, size_t n, uint16_t crc);
uint32_t ofs_crc32c(const uint8_t *p, size_t n, uint32_t crc);
uint32_t ofs_crc32(const uint8_t *p, size_t n, uint32_t crc);
void ofs_crc16_chunks(const uint8_t *p, size_t n, size_t chunk, uint16_t *out);
void ofs_crc32c_chunks(const uint8_t *p, size_t n, size_t chunk, uint32_t *out);
void ofs_crc32_chunks(const uint8_t *p, size_t n, size_t chunk, uint32_t *out);

void ofs_vote3(uint8_t *a, uint8_t *b, uint8_t *c, uint8_t *out, size_t n,
               int word_mode, unsigned word_size, ofs_vote_stats *st);
/* CDEF END */

/*
 * Semantics (see docs/native.md for the full contract):
 *  - ofs_init() builds the lookup tables and probes the CPU; call it once
 *    before anything else (the Python wrapper does so at import).
 *  - Tiers: 0 is the portable C path; higher tiers are hardware paths
 *    (x86-64: 1 = SSE4.2 + PCLMULQDQ, 2 = AVX2, 3 = AVX-512 + VPCLMULQDQ;
 *    aarch64: 1 = CRC32 + PMULL + NEON).  ofs_max_tier() is the best tier
 *    this CPU supports; ofs_set_tier(t) makes every function use the best
 *    implementation not above min(t, ofs_max_tier()) (the last one listed
 *    when a tier has several).
 *  - Per function f (OFS_FN_* below): ofs_impl_name(f) names the
 *    implementation in use; ofs_impl_count(f) is the number compiled in;
 *    ofs_impl_info(f, i, &tier) returns the name of implementation i and
 *    stores its tier (NULL when i or f is out of range); ofs_select_impl(f, i)
 *    makes f use implementation i and returns 0, or returns -1 and changes
 *    nothing when i is out of range or above the CPU tier.  Index 0 is
 *    always the portable path.  The Python side picks, per function, the
 *    fastest implementation by measurement (native/_calibrate.py).
 *  - CRCs take and return the user-visible CRC value, so they are
 *    resumable: f(b, f(a, init)) == f(a ++ b, init).  The *_chunks forms
 *    write the CRC (from the default init) of each chunk-sized piece of p
 *    (the last one may be short) to out[0 .. ceil(n / chunk)).
 *  - ofs_vote3: out == NULL means repair (a, b and c all receive the voted
 *    value where they differ).  out may be identical to a, b or c but must
 *    not partially overlap them.  word_mode 0 is bitwise majority; 1 is
 *    word-level majority over word_size-byte words (1, 2, 4 or 8), where a
 *    word on which all three copies differ gets the bitwise majority.
 */
enum { OFS_FN_CRC16, OFS_FN_CRC32C, OFS_FN_CRC32, OFS_FN_VOTE, OFS_FN_COUNT };

#endif
