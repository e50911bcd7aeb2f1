/* crc32c.c - CRC-32C (Castagnoli) for OP_MSG checksums.
 *
 * Table-driven, reflected polynomial 0x82F63B78, init and final xor
 * 0xFFFFFFFF (OP_MSG spec). The table is built once on first use; building it
 * twice from two threads writes identical values, so no lock is needed. */
#include "wire/wire.h"

#include <stdatomic.h>

static uint32_t crc_table[256];
static atomic_bool is_table_ready;

static void build_table(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
    atomic_store(&is_table_ready, true);
}

uint32_t wire_crc32c(const uint8_t *data, size_t len)
{
    uint32_t crc = 0xFFFFFFFFu;

    if (!atomic_load(&is_table_ready))
        build_table();
    for (size_t i = 0; i < len; i++)
        crc = crc_table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
    return crc ^ 0xFFFFFFFFu;
}
