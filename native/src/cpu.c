/*
 * CPU feature probing for runtime dispatch.
 *
 * x86-64 tiers: 1 = SSE4.2 + PCLMULQDQ, 2 = tier 1 + AVX2,
 * 3 = tier 2 + AVX-512 F/BW/VL + VPCLMULQDQ (GCC's __builtin_cpu_supports
 * also checks that the OS saves the vector state).
 * aarch64 tier: 1 = CRC32 + PMULL (NEON is architectural), via getauxval.
 */
#include "ofs_kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
int ofs_cpu_tier(void)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("sse4.2") || !__builtin_cpu_supports("pclmul"))
        return 0;
    if (!__builtin_cpu_supports("avx2"))
        return 1;
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
        !__builtin_cpu_supports("avx512vl") || !__builtin_cpu_supports("vpclmulqdq"))
        return 2;
    return 3;
}
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#include <asm/hwcap.h>
int ofs_cpu_tier(void)
{
    unsigned long hw = getauxval(AT_HWCAP);
    return ((hw & HWCAP_CRC32) && (hw & HWCAP_PMULL)) ? 1 : 0;
}
#else
int ofs_cpu_tier(void)
{
    return 0;
}

void ofs_hw_init(void)
{
}
#endif
