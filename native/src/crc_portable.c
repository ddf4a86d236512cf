/*
 * Portable table-driven CRCs, slice-by-8.
 *
 * CRC-32 (zlib, reflected polynomial 0xEDB88320) and CRC-32C (Castagnoli,
 * reflected 0x82F63B78) share one reflected kernel; CRC-16/CCITT-FALSE
 * (polynomial 0x1021, not reflected) has its own.  Table k maps a byte to
 * the CRC contribution of that byte followed by k zero bytes, so eight
 * bytes are folded with eight independent lookups.  Bytes are assembled
 * explicitly, so the code is independent of alignment and endianness.
 */
#include "ofs_internal.h"

static uint32_t crc32_table[8][256];
static uint32_t crc32c_table[8][256];
static uint16_t crc16_table[8][256];

static void make_reflected(uint32_t poly, uint32_t t[8][256])
{
    for (unsigned b = 0; b < 256; b++) {
        uint32_t c = b;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
        t[0][b] = c;
    }
    for (unsigned b = 0; b < 256; b++)
        for (int k = 1; k < 8; k++)
            t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xff];
}

static void make_crc16(void)
{
    for (unsigned b = 0; b < 256; b++) {
        uint16_t c = (uint16_t)(b << 8);
        for (int k = 0; k < 8; k++)
            c = (uint16_t)((c & 0x8000) ? (c << 1) ^ 0x1021 : c << 1);
        crc16_table[0][b] = c;
    }
    for (unsigned b = 0; b < 256; b++)
        for (int k = 1; k < 8; k++) {
            uint16_t prev = crc16_table[k - 1][b];
            crc16_table[k][b] = (uint16_t)((prev << 8) ^ crc16_table[0][prev >> 8]);
        }
}

void ofs_crc_portable_init(void)
{
    make_reflected(0xEDB88320u, crc32_table);
    make_reflected(0x82F63B78u, crc32c_table);
    make_crc16();
}

static inline uint32_t load32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint32_t reflected_sb8(const uint32_t t[8][256], uint32_t crc,
                              const uint8_t *p, size_t n)
{
    for (; n >= 8; p += 8, n -= 8) {
        uint32_t lo = crc ^ load32le(p);
        uint32_t hi = load32le(p + 4);
        crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^
              t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
              t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^
              t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
    }
    for (; n; p++, n--)
        crc = (crc >> 8) ^ t[0][(crc ^ *p) & 0xff];
    return crc;
}

uint32_t ofs_crc32_sb8(uint32_t reg, const uint8_t *p, size_t n)
{
    return reflected_sb8(crc32_table, reg, p, n);
}

uint32_t ofs_crc32c_sb8(uint32_t reg, const uint8_t *p, size_t n)
{
    return reflected_sb8(crc32c_table, reg, p, n);
}

uint16_t ofs_crc16_sb8(uint16_t reg, const uint8_t *p, size_t n)
{
    const uint16_t (*t)[256] = crc16_table;
    uint32_t crc = reg;
    for (; n >= 8; p += 8, n -= 8) {
        crc = t[7][p[0] ^ (crc >> 8)] ^ t[6][p[1] ^ (crc & 0xff)] ^
              t[5][p[2]] ^ t[4][p[3]] ^ t[3][p[4]] ^ t[2][p[5]] ^
              t[1][p[6]] ^ t[0][p[7]];
    }
    for (; n; p++, n--)
        crc = ((crc << 8) & 0xffff) ^ t[0][((crc >> 8) ^ *p) & 0xff];
    return (uint16_t)crc;
}
