/*
 * Hardware kernels and CPU probing.  Each architecture contributes its
 * implementation-list entries through the OFS_*_HW_IMPLS macros, so the
 * dispatcher compiles unchanged on every target; elsewhere the lists hold
 * only the portable entry.  Within one tier, the entry listed last is the
 * one ofs_set_tier() picks.
 */
#ifndef OFS_KERNELS_H
#define OFS_KERNELS_H

#include "ofs_internal.h"

/* Best tier this CPU (and OS) supports; 0 when only portable code runs. */
int ofs_cpu_tier(void);

/* Folding constants (crc_fold.c): k[0] multiplies the low qword of a
 * 128-bit block, k[1] the high qword; one pair per fold distance. */
typedef struct { uint64_t k[2]; } ofs_kpair;
enum { OFS_FOLD_128, OFS_FOLD_256, OFS_FOLD_384, OFS_FOLD_512, OFS_FOLD_1024,
       OFS_FOLD_1536, OFS_FOLD_2048, OFS_FOLD_COUNT };
typedef struct { ofs_kpair k[OFS_FOLD_COUNT]; } ofs_fold_consts;
extern ofs_fold_consts ofs_fold_crc16, ofs_fold_crc32, ofs_fold_crc32c;
void ofs_fold_init(void);
/* Bit-reflected x^(8 * bytes - 33) mod P for the natural polynomial poly:
 * crc_instruction(0, clmul(reg, K)) == reg advanced over `bytes` zeros. */
uint32_t ofs_shift_constant(uint32_t poly, size_t bytes);
/* Set-up of the architecture kernels (combine constants), after fold init. */
void ofs_hw_init(void);

#if defined(__x86_64__) && defined(__GNUC__)
uint32_t ofs_crc32c_sse42(uint32_t reg, const uint8_t *p, size_t n);
uint32_t ofs_crc32c_pclmul(uint32_t reg, const uint8_t *p, size_t n);
uint32_t ofs_crc32_pclmul(uint32_t reg, const uint8_t *p, size_t n);
uint16_t ofs_crc16_pclmul(uint16_t reg, const uint8_t *p, size_t n);
uint32_t ofs_crc32c_vpclmul(uint32_t reg, const uint8_t *p, size_t n);
uint32_t ofs_crc32_vpclmul(uint32_t reg, const uint8_t *p, size_t n);
uint16_t ofs_crc16_vpclmul(uint16_t reg, const uint8_t *p, size_t n);
void ofs_vote_avx2(const ofs_vote_job *job, ofs_vote_stats *st);
void ofs_vote_avx512(const ofs_vote_job *job, ofs_vote_stats *st);
#define OFS_CRC16_HW_IMPLS {1, "x86-pclmul-fold", ofs_crc16_pclmul}, \
                           {3, "x86-vpclmul-avx512-fold", ofs_crc16_vpclmul},
#define OFS_CRC32C_HW_IMPLS {1, "x86-pclmul-fold", ofs_crc32c_pclmul}, \
                            {1, "x86-sse42-crc32-3way", ofs_crc32c_sse42}, \
                            {3, "x86-vpclmul-avx512-fold", ofs_crc32c_vpclmul},
#define OFS_CRC32_HW_IMPLS {1, "x86-pclmul-fold", ofs_crc32_pclmul}, \
                           {3, "x86-vpclmul-avx512-fold", ofs_crc32_vpclmul},
#define OFS_VOTE_HW_IMPLS {2, "x86-avx2", ofs_vote_avx2}, \
                          {3, "x86-avx512", ofs_vote_avx512},
#elif defined(__aarch64__) && defined(__GNUC__) && defined(__linux__)
uint32_t ofs_crc32c_armv8(uint32_t reg, const uint8_t *p, size_t n);
uint32_t ofs_crc32_armv8(uint32_t reg, const uint8_t *p, size_t n);
uint16_t ofs_crc16_pmull(uint16_t reg, const uint8_t *p, size_t n);
uint32_t ofs_crc32c_pmull(uint32_t reg, const uint8_t *p, size_t n);
uint32_t ofs_crc32_pmull(uint32_t reg, const uint8_t *p, size_t n);
void ofs_vote_neon(const ofs_vote_job *job, ofs_vote_stats *st);
#define OFS_CRC16_HW_IMPLS {1, "arm-pmull-fold", ofs_crc16_pmull},
#define OFS_CRC32C_HW_IMPLS {1, "arm-pmull-fold", ofs_crc32c_pmull}, \
                            {1, "arm-crc32c-3way", ofs_crc32c_armv8},
#define OFS_CRC32_HW_IMPLS {1, "arm-pmull-fold", ofs_crc32_pmull}, \
                           {1, "arm-crc32-3way", ofs_crc32_armv8},
#define OFS_VOTE_HW_IMPLS {1, "arm-neon", ofs_vote_neon},
#else
#define OFS_CRC16_HW_IMPLS
#define OFS_CRC32C_HW_IMPLS
#define OFS_CRC32_HW_IMPLS
#define OFS_VOTE_HW_IMPLS
#endif

#endif
