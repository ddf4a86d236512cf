/*
 * Stand-alone C self-test of the native kernels, for targets where Python
 * is not at hand (aarch64 under qemu-user, see docs/native.md), and for the
 * host.  Not part of the Python extension (native/build.py excludes it).
 *
 * Checks, at every dispatch tier this CPU has (ofs_set_tier) and in
 * "rounds" that select, per function, each implementation this CPU has
 * (ofs_select_impl; round r uses implementation r of every function that
 * has it, so every implementation runs in some round):
 *  - the standard check values of the three CRCs;
 *  - the portable path against bit-at-a-time reference CRCs, and every
 *    hardware implementation against the portable path, on random data of
 *    random lengths (up to 70,000 bytes) and misalignments, with resumption;
 *  - the vote (both modes, every word size, out and repair) of every
 *    implementation against the portable path, on randomly corrupted copies.
 * Prints one line per tier and per round, then
 * "selftest: N checks, 0 failures"; the exit status is non-zero on any
 * failure.
 */
#include <stdio.h>
#include <string.h>

#include "ofs_native.h"

static unsigned long checks, failures;
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void check(int ok, const char *what, int round, size_t n)
{
    checks++;
    if (!ok) {
        failures++;
        if (failures <= 20)
            printf("FAIL %s round=%d n=%zu\n", what, round, n);
    }
}

/* Round r: each function uses its implementation r (its last one when it
 * has fewer), or the portable one when this CPU lacks that implementation. */
static void select_round(int r)
{
    for (int f = 0; f < OFS_FN_COUNT; f++) {
        int last = ofs_impl_count(f) - 1;
        if (ofs_select_impl(f, r < last ? r : last) != 0)
            ofs_select_impl(f, 0);
    }
}

static int round_count(void)
{
    int most = 0;
    for (int f = 0; f < OFS_FN_COUNT; f++)
        most = ofs_impl_count(f) > most ? ofs_impl_count(f) : most;
    return most;
}

static uint32_t ref_reflected(uint32_t poly, uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc & 1) ? (crc >> 1) ^ poly : crc >> 1;
    }
    return ~crc;
}

static uint16_t ref_crc16(uint16_t crc, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int k = 0; k < 8; k++)
            crc = (uint16_t)((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    return crc;
}

typedef struct { uint16_t c16; uint32_t c32c, c32, r16, r32c, r32; } crc_set;

static crc_set crcs(const uint8_t *p, size_t n)
{
    size_t cut = n ? (size_t)(rng() % n) : 0;
    crc_set s = {ofs_crc16(p, n, 0xFFFF), ofs_crc32c(p, n, 0), ofs_crc32(p, n, 0),
                 ofs_crc16(p + cut, n - cut, ofs_crc16(p, cut, 0xFFFF)),
                 ofs_crc32c(p + cut, n - cut, ofs_crc32c(p, cut, 0)),
                 ofs_crc32(p + cut, n - cut, ofs_crc32(p, cut, 0))};
    return s;
}

static void test_crcs(int rounds, uint8_t *buf)
{
    for (int iter = 0; iter < 300; iter++) {
        size_t n = (size_t)(rng() % (iter % 10 == 0 ? 70000 : 3000));
        uint8_t *p = buf + rng() % 16;
        for (size_t i = 0; i < n; i++)
            p[i] = (uint8_t)rng();
        select_round(0);
        crc_set base = crcs(p, n);
        if (n <= 3000) {
            check(base.c16 == ref_crc16(0xFFFF, p, n), "crc16 portable vs bitwise", 0, n);
            check(base.c32c == ref_reflected(0x82F63B78u, 0, p, n), "crc32c portable vs bitwise", 0, n);
            check(base.c32 == ref_reflected(0xEDB88320u, 0, p, n), "crc32 portable vs bitwise", 0, n);
        }
        for (int r = 0; r < rounds; r++) {
            select_round(r);
            crc_set got = crcs(p, n);
            check(got.c16 == base.c16 && got.r16 == base.c16, "crc16", r, n);
            check(got.c32c == base.c32c && got.r32c == base.c32c, "crc32c", r, n);
            check(got.c32 == base.c32 && got.r32 == base.c32, "crc32", r, n);
        }
    }
}

static int same_stats(const ofs_vote_stats *x, const ofs_vote_stats *y)
{
    return !memcmp(x->disagreements, y->disagreements, sizeof x->disagreements) &&
           x->first_offset == y->first_offset && x->last_offset == y->last_offset &&
           x->uncorrectable == y->uncorrectable;
}

static void test_votes(int rounds)
{
    enum { MAX = 20000 };
    static uint8_t copies[3][MAX + 16], work[3][MAX + 16], out0[MAX], out[MAX];
    for (int iter = 0; iter < 200; iter++) {
        size_t n = (size_t)(rng() % MAX);
        size_t off = rng() % 16;
        unsigned permille = (unsigned)(rng() % 4) * 50 + (unsigned)(iter % 3);
        for (size_t i = 0; i < n; i++) {
            uint8_t v = (uint8_t)rng();
            for (int k = 0; k < 3; k++)
                copies[k][off + i] = (rng() % 1000 < permille) ? (uint8_t)rng() : v;
        }
        for (int mode = 0; mode < 2; mode++)
            for (unsigned w = 1; w <= 8; w *= 2) {
                uint8_t *a = copies[0] + off, *b = copies[1] + off, *c = copies[2] + off;
                ofs_vote_stats base, got;
                select_round(0);
                ofs_vote3(a, b, c, out0, n, mode, w, &base);
                for (int r = 0; r < rounds; r++) {
                    select_round(r);
                    ofs_vote3(a, b, c, out, n, mode, w, &got);
                    check(!memcmp(out, out0, n) && same_stats(&got, &base), "vote out", r, n);
                    for (int k = 0; k < 3; k++)
                        memcpy(work[k] + off, copies[k] + off, n);
                    ofs_vote3(work[0] + off, work[1] + off, work[2] + off, NULL, n, mode, w, &got);
                    int repaired = same_stats(&got, &base);
                    for (int k = 0; k < 3; k++)
                        repaired &= !memcmp(work[k] + off, out0, n);
                    check(repaired, "vote repair", r, n);
                }
            }
    }
}

static void check_values(const char *label, int index)
{
    const uint8_t *check_str = (const uint8_t *)"123456789";
    printf("%s %d: crc16=%s crc32c=%s crc32=%s vote=%s\n", label, index,
           ofs_impl_name(OFS_FN_CRC16), ofs_impl_name(OFS_FN_CRC32C),
           ofs_impl_name(OFS_FN_CRC32), ofs_impl_name(OFS_FN_VOTE));
    check(ofs_crc16(check_str, 9, 0xFFFF) == 0x29B1, "crc16 check value", index, 9);
    check(ofs_crc32c(check_str, 9, 0) == 0xE3069283u, "crc32c check value", index, 9);
    check(ofs_crc32(check_str, 9, 0) == 0xCBF43926u, "crc32 check value", index, 9);
}

int main(void)
{
    static uint8_t buf[70000 + 16];
    ofs_init();
    int rounds = round_count();
    for (int tier = 0; tier <= ofs_max_tier(); tier++) {
        ofs_set_tier(tier);
        check_values("tier", tier);
    }
    for (int r = 0; r < rounds; r++) {
        select_round(r);
        check_values("round", r);
    }
    test_crcs(rounds, buf);
    test_votes(rounds);
    printf("selftest: %lu checks, %lu failures\n", checks, failures);
    return failures != 0;
}
