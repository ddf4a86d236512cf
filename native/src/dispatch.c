/*
 * Public entry points and runtime dispatch.
 *
 * Each function has a list of implementations ordered by tier; the active
 * one is the last whose tier is at most min(requested tier, CPU tier).  The
 * CPU tier comes from ofs_cpu_tier() (cpu.c), so no instruction the CPU
 * lacks is ever executed.  Switching tiers is meant for start-up and tests:
 * it is not synchronised with calls running in other threads.
 */
#include "ofs_internal.h"
#include "ofs_kernels.h"

typedef struct { int tier; const char *name; ofs_crc16_kernel fn; } crc16_impl;
typedef struct { int tier; const char *name; ofs_crc32_kernel fn; } crc32_impl;
typedef struct { int tier; const char *name; ofs_vote_kernel fn; } vote_impl;

static const crc16_impl crc16_impls[] = {
    {0, "portable-slice8", ofs_crc16_sb8},
    OFS_CRC16_HW_IMPLS
};
static const crc32_impl crc32c_impls[] = {
    {0, "portable-slice8", ofs_crc32c_sb8},
    OFS_CRC32C_HW_IMPLS
};
static const crc32_impl crc32_impls[] = {
    {0, "portable-slice8", ofs_crc32_sb8},
    OFS_CRC32_HW_IMPLS
};
static const vote_impl vote_impls[] = {
    {0, "portable-swar64", ofs_vote_portable},
    OFS_VOTE_HW_IMPLS
};

#define COUNT(list) (sizeof(list) / sizeof((list)[0]))
#define PICK(list, limit, dst, slot)                                \
    do {                                                            \
        for (size_t i_ = 0; i_ < COUNT(list); i_++)                 \
            if ((list)[i_].tier <= (limit)) {                       \
                (dst) = (list)[i_].fn;                              \
                active_names[(slot)] = (list)[i_].name;             \
            }                                                       \
    } while (0)

static int cpu_tier;
static ofs_crc16_kernel active_crc16;
static ofs_crc32_kernel active_crc32c;
static ofs_crc32_kernel active_crc32;
static ofs_vote_kernel active_vote;
static const char *active_names[OFS_FN_COUNT];

void ofs_set_tier(int tier)
{
    int limit = tier < cpu_tier ? tier : cpu_tier;
    PICK(crc16_impls, limit, active_crc16, OFS_FN_CRC16);
    PICK(crc32c_impls, limit, active_crc32c, OFS_FN_CRC32C);
    PICK(crc32_impls, limit, active_crc32, OFS_FN_CRC32);
    PICK(vote_impls, limit, active_vote, OFS_FN_VOTE);
}

void ofs_init(void)
{
    ofs_crc_portable_init();
    ofs_fold_init();
    ofs_hw_init();
    cpu_tier = ofs_cpu_tier();
    ofs_set_tier(cpu_tier);
}

int ofs_max_tier(void)
{
    return cpu_tier;
}

const char *ofs_impl_name(int func)
{
    return (func >= 0 && func < OFS_FN_COUNT) ? active_names[func] : "";
}

uint16_t ofs_crc16(const uint8_t *p, size_t n, uint16_t crc)
{
    return active_crc16(crc, p, n);
}

uint32_t ofs_crc32c(const uint8_t *p, size_t n, uint32_t crc)
{
    return ~active_crc32c(~crc, p, n);
}

uint32_t ofs_crc32(const uint8_t *p, size_t n, uint32_t crc)
{
    return ~active_crc32(~crc, p, n);
}

void ofs_crc16_chunks(const uint8_t *p, size_t n, size_t chunk, uint16_t *out)
{
    for (size_t i = 0; i < n; i += chunk)
        *out++ = active_crc16(0xFFFF, p + i, n - i < chunk ? n - i : chunk);
}

void ofs_crc32c_chunks(const uint8_t *p, size_t n, size_t chunk, uint32_t *out)
{
    for (size_t i = 0; i < n; i += chunk)
        *out++ = ~active_crc32c(0xFFFFFFFFu, p + i, n - i < chunk ? n - i : chunk);
}

void ofs_crc32_chunks(const uint8_t *p, size_t n, size_t chunk, uint32_t *out)
{
    for (size_t i = 0; i < n; i += chunk)
        *out++ = ~active_crc32(0xFFFFFFFFu, p + i, n - i < chunk ? n - i : chunk);
}

void ofs_vote3(uint8_t *a, uint8_t *b, uint8_t *c, uint8_t *out, size_t n,
               int word_mode, unsigned word_size, ofs_vote_stats *st)
{
    ofs_vote_job job = {a, b, c, out, n, word_mode, word_size};
    memset(st, 0, sizeof *st);
    st->first_offset = -1;
    st->last_offset = -1;
    active_vote(&job, st);
}
