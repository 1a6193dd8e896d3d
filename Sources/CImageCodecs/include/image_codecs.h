/*
 * image_codecs.h - setjmp-safe JPEG (libjpeg-turbo) and PNG (libpng 1.6) decoding/encoding from memory.
 *
 * Every function returns an IC_* status. On failure a human-readable, NUL-terminated message is written
 * to the caller's errbuf (when errbuf != NULL && errbuf_size > 0): a corrupt or truncated file never
 * terminates the process, and every library object / buffer is released on every path.
 *
 * Decoded pixels are always 8-bit RGB, interleaved, rows top to bottom, no padding
 * (width * height * 3 bytes), in a malloc'd buffer released with ic_free().
 * Decoding does NOT apply the EXIF orientation; it is returned in ic_image.orientation (1..8).
 */
#ifndef IMAGE_CODECS_H
#define IMAGE_CODECS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes. */
enum {
    IC_OK = 0,
    IC_ERR_NOT_IMAGE = 1,        /* content is neither JPEG nor PNG (format is sniffed, never guessed from names) */
    IC_ERR_CORRUPT = 2,          /* truncated or corrupt data; errbuf holds the library's message */
    IC_ERR_UNSUPPORTED = 3,      /* a valid but unsupported variant (12-bit / lossless JPEG, odd color space) */
    IC_ERR_TOO_LARGE = 4,        /* width * height exceeds max_pixels (checked before any pixel allocation) */
    IC_ERR_NO_MEMORY = 5,
    IC_ERR_INVALID_ARGUMENT = 6
};

/* Container formats, from ic_detect_format / ic_image.format. */
enum {
    IC_FORMAT_UNKNOWN = 0,
    IC_FORMAT_JPEG = 1,
    IC_FORMAT_PNG = 2
};

/* Flags for ic_encode_jpeg. */
enum {
    IC_JPEG_PROGRESSIVE = 1u << 0, /* progressive scan script (jpeg_simple_progression) */
    IC_JPEG_ARITHMETIC = 1u << 1,  /* arithmetic entropy coding instead of Huffman */
    IC_JPEG_444 = 1u << 2,         /* no chroma subsampling (default is 4:2:0, like libjpeg/OpenCV) */
    IC_JPEG_GRAYSCALE = 1u << 3,   /* ic_encode_jpeg: store one luminance component */
    IC_JPEG_YCCK = 1u << 4         /* ic_encode_jpeg_cmyk: store YCCK (Adobe transform 2) instead of CMYK */
};

typedef struct {
    uint8_t *pixels;     /* width * height * 3 bytes, RGB8 interleaved; release with ic_free */
    int32_t width;
    int32_t height;
    int32_t orientation; /* EXIF orientation 1..8 (1 when absent or invalid); NOT applied to pixels */
    int32_t format;      /* IC_FORMAT_JPEG or IC_FORMAT_PNG */
} ic_image;

/* IC_FORMAT_JPEG when data starts with FF D8 FF, IC_FORMAT_PNG for the 8-byte PNG signature, else UNKNOWN. */
int ic_detect_format(const uint8_t *data, size_t size);

/*
 * Decodes a JPEG or PNG held in memory. max_pixels bounds width * height (0 = no limit); it is enforced
 * from the header, before the pixel buffer (or any size-proportional libjpeg buffer) is allocated.
 * On success fills *out (out->pixels must later go to ic_free). On failure *out is zeroed.
 */
int ic_decode(const uint8_t *data, size_t size, uint64_t max_pixels, ic_image *out,
              char *errbuf, size_t errbuf_size);

/*
 * Orientation tag (0x0112) of IFD0 from EXIF data: either an APP1 payload ("Exif\0\0" + TIFF) or a bare
 * TIFF structure (PNG eXIf chunk). Both byte orders; fully bounds-checked. Returns 1..8, or 1 if absent/invalid.
 */
int ic_exif_orientation(const uint8_t *data, size_t size);

/* Encodes RGB8 (width * height * 3 bytes) as JPEG; quality is clamped to 1..100; flags are IC_JPEG_*.
 * On success *out is a malloc'd buffer of *out_size bytes (release with ic_free). */
int ic_encode_jpeg(const uint8_t *rgb, int32_t width, int32_t height, int32_t quality, uint32_t flags,
                   uint8_t **out, size_t *out_size, char *errbuf, size_t errbuf_size);

/* Encodes CMYK8 (width * height * 4 bytes, Adobe convention: stored as given, 255 = no ink when read back by
 * ic_decode) as a 4-component JPEG with an Adobe APP14 marker; with IC_JPEG_YCCK the components are stored as
 * YCCK (Adobe transform 2), as Photoshop does. IC_JPEG_PROGRESSIVE / IC_JPEG_ARITHMETIC apply too.
 * Meant for tests and fuzz seeds: the decoder's CMYK and YCCK paths need such files. */
int ic_encode_jpeg_cmyk(const uint8_t *cmyk, int32_t width, int32_t height, int32_t quality, uint32_t flags,
                        uint8_t **out, size_t *out_size, char *errbuf, size_t errbuf_size);

/* Encodes RGB8 (width * height * 3 bytes) as an 8-bit RGB, non-interlaced PNG. */
int ic_encode_png(const uint8_t *rgb, int32_t width, int32_t height,
                  uint8_t **out, size_t *out_size, char *errbuf, size_t errbuf_size);

/* Releases a buffer returned by this library (NULL is fine). */
void ic_free(void *ptr);

/* CRC-32 (ZIP's, zlib's crc32) of len bytes, continuing from crc (0 to start): zlib's table-driven code runs at
 * several GB/s, where ZIPFoundation's Swift loop took ~80 ms for a 22 MB checkpoint. (zlib is linked for libpng.) */
uint32_t ic_crc32(uint32_t crc, const uint8_t *bytes, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* IMAGE_CODECS_H */
