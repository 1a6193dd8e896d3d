/* checksum.c - zlib's CRC-32 for the checkpoint reader (see image_codecs.h). */
#include "image_codecs.h"

#include <zlib.h>

uint32_t ic_crc32(uint32_t crc, const uint8_t *bytes, size_t len) {
    return (uint32_t)crc32_z((uLong)crc, bytes, (z_size_t)len);
}
