/*
 * Internal interface shared by the portable kernels, the hardware kernels
 * and the dispatcher.  Not part of the cffi interface.
 */
#ifndef OFS_INTERNAL_H
#define OFS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ofs_native.h"

/* Raw CRC kernels work on the internal shift register: for the reflected
 * CRC-32 variants that is the complemented user value, for CRC-16 it is the
 * user value itself. */
typedef uint32_t (*ofs_crc32_kernel)(uint32_t reg, const uint8_t *p, size_t n);
typedef uint16_t (*ofs_crc16_kernel)(uint16_t reg, const uint8_t *p, size_t n);

typedef struct {
    uint8_t *a, *b, *c;
    uint8_t *out;        /* NULL: repair a, b and c in place */
    size_t n;
    int word_mode;       /* 0 bitwise majority, 1 word-level majority */
    unsigned word_size;  /* 1, 2, 4 or 8 */
} ofs_vote_job;

typedef void (*ofs_vote_kernel)(const ofs_vote_job *job, ofs_vote_stats *st);

/* Portable kernels (crc_portable.c, vote_portable.c). */
void ofs_crc_portable_init(void);
uint32_t ofs_crc32_sb8(uint32_t reg, const uint8_t *p, size_t n);
uint32_t ofs_crc32c_sb8(uint32_t reg, const uint8_t *p, size_t n);
uint16_t ofs_crc16_sb8(uint16_t reg, const uint8_t *p, size_t n);
void ofs_vote_portable(const ofs_vote_job *job, ofs_vote_stats *st);
/* Votes bytes [begin, end) of job; begin must be a multiple of 8. */
void ofs_vote_portable_range(const ofs_vote_job *job, size_t begin, size_t end,
                             ofs_vote_stats *st);
/* Records that the copies differ at bytes first..last of a block (blocks
 * are noted in increasing order). */
static inline void ofs_vote_note(ofs_vote_stats *st, size_t first, size_t last)
{
    if (st->first_offset < 0)
        st->first_offset = (int64_t)first;
    st->last_offset = (int64_t)last;
}

static inline uint64_t ofs_load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

#endif
