/*
 * Public entry points and runtime dispatch.
 *
 * Each function has a list of implementations ordered by tier (index 0 is
 * the portable path); one of them is active per function.  Any
 * implementation whose tier is at most the CPU tier (ofs_cpu_tier(), cpu.c)
 * may be selected, so no instruction the CPU lacks is ever executed.
 * ofs_set_tier(t) selects, for every function, the last implementation whose
 * tier is at most min(t, CPU tier); ofs_select_impl() selects one function's
 * implementation by index (the Python side does so after timing them).
 * Switching is meant for start-up and tests: it is not synchronised with
 * calls running in other threads.
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

#define COUNT(list) ((int)(sizeof(list) / sizeof((list)[0])))
#define INFO(list) (*tier = (list)[idx].tier, (list)[idx].name)

static int cpu_tier;
static ofs_crc16_kernel active_crc16;
static ofs_crc32_kernel active_crc32c;
static ofs_crc32_kernel active_crc32;
static ofs_vote_kernel active_vote;
static int active_index[OFS_FN_COUNT];

int ofs_impl_count(int func)
{
    switch (func) {
    case OFS_FN_CRC16: return COUNT(crc16_impls);
    case OFS_FN_CRC32C: return COUNT(crc32c_impls);
    case OFS_FN_CRC32: return COUNT(crc32_impls);
    case OFS_FN_VOTE: return COUNT(vote_impls);
    default: return 0;
    }
}

const char *ofs_impl_info(int func, int idx, int *tier)
{
    if (idx < 0 || idx >= ofs_impl_count(func))
        return NULL;
    switch (func) {
    case OFS_FN_CRC16: return INFO(crc16_impls);
    case OFS_FN_CRC32C: return INFO(crc32c_impls);
    case OFS_FN_CRC32: return INFO(crc32_impls);
    default: return INFO(vote_impls);
    }
}

int ofs_select_impl(int func, int idx)
{
    int tier;
    if (!ofs_impl_info(func, idx, &tier) || tier > cpu_tier)
        return -1;
    switch (func) {
    case OFS_FN_CRC16: active_crc16 = crc16_impls[idx].fn; break;
    case OFS_FN_CRC32C: active_crc32c = crc32c_impls[idx].fn; break;
    case OFS_FN_CRC32: active_crc32 = crc32_impls[idx].fn; break;
    default: active_vote = vote_impls[idx].fn; break;
    }
    active_index[func] = idx;
    return 0;
}

void ofs_set_tier(int tier)
{
    int limit = tier < cpu_tier ? tier : cpu_tier;
    for (int f = 0; f < OFS_FN_COUNT; f++) {
        int best = 0, t;
        for (int i = 0; ofs_impl_info(f, i, &t); i++)
            if (t <= limit)
                best = i;
        ofs_select_impl(f, best);
    }
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
    int tier;
    return (func >= 0 && func < OFS_FN_COUNT) ? ofs_impl_info(func, active_index[func], &tier) : "";
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
