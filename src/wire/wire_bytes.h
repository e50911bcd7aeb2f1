/* wire_bytes.h - little-endian int32 access to message bytes (the wire
 * protocol's integer encoding), shared by the server and client codecs. */
#ifndef TALLY_WIRE_BYTES_H
#define TALLY_WIRE_BYTES_H

#include <stdint.h>

static inline int32_t wire_get_i32(const uint8_t *p)
{
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return (int32_t)v;
}

static inline void wire_put_i32(uint8_t *p, int32_t v)
{
    uint32_t u = (uint32_t)v;
    p[0] = (uint8_t)u;
    p[1] = (uint8_t)(u >> 8);
    p[2] = (uint8_t)(u >> 16);
    p[3] = (uint8_t)(u >> 24);
}

#endif
