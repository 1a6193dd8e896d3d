/*
 * image_codecs.c - JPEG (libjpeg-turbo) and PNG (libpng 1.6) decode/encode from memory, setjmp-safe.
 *
 * Both libraries report fatal errors by calling an error handler that must not return. We install handlers
 * that copy the library's message into a context and longjmp back to the entry point, which releases every
 * library object and buffer and returns an IC_* status. Pointers that are assigned after setjmp() and read
 * after longjmp() are kept in `volatile` locals or in memory whose address has escaped (C11 7.13.2.1).
 *
 * Decoding matches OpenCV's cv::imread(IMREAD_COLOR) (the project's reference) as closely as possible:
 * JPEG with the default ISLOW DCT and fancy upsampling, CMYK converted with OpenCV's integer formula,
 * PNG with 16-bit samples truncated (>> 8) and alpha dropped without compositing.
 */
#include "image_codecs.h"

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

/* ------------------------------------------------------------------------------------------------ */
/* Shared helpers                                                                                   */
/* ------------------------------------------------------------------------------------------------ */

static void set_error(char *errbuf, size_t errbuf_size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_error(char *errbuf, size_t errbuf_size, const char *fmt, ...) {
    if (errbuf == NULL || errbuf_size == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errbuf_size, fmt, ap);
    va_end(ap);
}

static void format_too_large(char *buf, size_t size, uint64_t w, uint64_t h, uint64_t max_pixels) {
    snprintf(buf, size,
             "image is %llux%llu (%llu pixels), more than the limit of %llu pixels (decompression-bomb guard)",
             (unsigned long long)w, (unsigned long long)h, (unsigned long long)(w * h),
             (unsigned long long)max_pixels);
}

static int exceeds_limit(uint64_t w, uint64_t h, uint64_t max_pixels) {
    /* w, h < 2^32 here, so w * h cannot overflow 64 bits. */
    return max_pixels != 0 && w * h > max_pixels;
}

static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};

int ic_detect_format(const uint8_t *data, size_t size) {
    if (data == NULL) return IC_FORMAT_UNKNOWN;
    if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return IC_FORMAT_JPEG;
    if (size >= 8 && memcmp(data, png_signature, 8) == 0) return IC_FORMAT_PNG;
    return IC_FORMAT_UNKNOWN;
}

/* A hint for the "not an image" message: names a few formats we recognize but do not decode. */
static const char *other_format_name(const uint8_t *d, size_t n) {
    if (n >= 6 && (memcmp(d, "GIF87a", 6) == 0 || memcmp(d, "GIF89a", 6) == 0)) return "GIF";
    if (n >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0) return "WebP";
    if (n >= 4 && (memcmp(d, "II*\0", 4) == 0 || memcmp(d, "MM\0*", 4) == 0)) return "TIFF";
    if (n >= 12 && memcmp(d + 4, "ftyp", 4) == 0) return "HEIF/AVIF/MP4";
    if (n >= 2 && d[0] == 'B' && d[1] == 'M') return "BMP";
    if (n >= 4 && d[0] == 0xFF && d[1] == 0x0A) return "JPEG XL";
    if (n >= 12 && memcmp(d, "\0\0\0\x0CJXL ", 8) == 0) return "JPEG XL";
    if (n >= 4 && memcmp(d, "%PDF", 4) == 0) return "PDF";
    return NULL;
}

void ic_free(void *ptr) { free(ptr); }

/* ------------------------------------------------------------------------------------------------ */
/* EXIF orientation                                                                                 */
/* ------------------------------------------------------------------------------------------------ */

static unsigned rd16(const uint8_t *p, int le) { return le ? (unsigned)p[0] | ((unsigned)p[1] << 8) : ((unsigned)p[0] << 8) | p[1]; }
static uint32_t rd32(const uint8_t *p, int le) {
    return le ? (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24)
              : ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

int ic_exif_orientation(const uint8_t *data, size_t size) {
    if (data == NULL) return 1;
    /* APP1 payload starts with "Exif\0\0"; a PNG eXIf chunk is the bare TIFF structure. */
    if (size >= 6 && memcmp(data, "Exif\0\0", 6) == 0) {
        data += 6;
        size -= 6;
    }
    if (size < 8) return 1;
    int le;
    if (data[0] == 'I' && data[1] == 'I') le = 1;
    else if (data[0] == 'M' && data[1] == 'M') le = 0;
    else return 1;
    if (rd16(data + 2, le) != 42) return 1;
    uint32_t ifd = rd32(data + 4, le);
    if (ifd < 8 || (size_t)ifd > size - 2) return 1; /* size >= 8, so size - 2 does not wrap */
    unsigned count = rd16(data + ifd, le);
    size_t entries = (size_t)ifd + 2;
    for (unsigned i = 0; i < count; i++) {
        size_t off = entries + (size_t)i * 12; /* <= size + 65535 * 12: no overflow */
        if (off > size || size - off < 2) break;
        if (rd16(data + off, le) != 0x0112) continue;
        /* Like OpenCV, accept an entry cut short by the end of the block as long as the value itself is
         * present (a SHORT needs 10 of the entry's 12 bytes). Pillow ignores such an entry. */
        size_t avail = size - off;
        if (avail < 10) return 1;
        unsigned type = rd16(data + off + 2, le);
        uint32_t n = rd32(data + off + 4, le);
        uint32_t v;
        if (n < 1) return 1;
        if (type == 3) v = rd16(data + off + 8, le);                      /* SHORT, as the spec requires */
        else if (type == 4 && avail >= 12) v = rd32(data + off + 8, le);  /* LONG, from a few writers */
        else return 1;
        return (v >= 1 && v <= 8) ? (int)v : 1;
    }
    return 1;
}

/* ------------------------------------------------------------------------------------------------ */
/* JPEG decode                                                                                      */
/* ------------------------------------------------------------------------------------------------ */

typedef struct {
    struct jpeg_error_mgr pub; /* must be first: libjpeg hands us a jpeg_error_mgr* */
    jmp_buf jump;
    int status;                /* IC_* to return after the jump; 0 = classify pub.msg_code */
    char message[JMSG_LENGTH_MAX + 256];
} ic_jpeg_error;

static void ic_jpeg_error_exit(j_common_ptr cinfo) {
    ic_jpeg_error *err = (ic_jpeg_error *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, err->message);
    longjmp(err->jump, 1);
}

/*
 * Warnings. libjpeg only warns when the data ends early (JWRN_JPEG_EOF: the source manager then inserts a
 * fake EOI) or when a marker interrupts entropy-coded data (JWRN_HIT_MARKER), and fills the missing part of
 * the image with gray. OpenCV's imread accepts such images with a console warning. Product decision: a
 * detector run on a half-gray picture silently produces wrong results, so a truncated file is an ERROR here
 * ("truncated/corrupt JPEG: Premature end of JPEG file"). Other warnings (extraneous bytes before a marker,
 * restart resync, ...) concern recoverable glitches in otherwise complete data and stay non-fatal, as in
 * OpenCV and Pillow. Trace messages (level > 0) are ignored; nothing is ever printed.
 */
static void ic_jpeg_emit_message(j_common_ptr cinfo, int msg_level) {
    if (msg_level >= 0) return;
    int code = cinfo->err->msg_code;
    if (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER) {
        ic_jpeg_error *err = (ic_jpeg_error *)cinfo->err;
        (*cinfo->err->format_message)(cinfo, err->message);
        err->status = IC_ERR_CORRUPT;
        longjmp(err->jump, 1);
    }
    cinfo->err->num_warnings++;
}

static void ic_jpeg_output_message(j_common_ptr cinfo) { (void)cinfo; /* never print */ }

/*
 * Scan bomb guard: a progressive JPEG may legally contain any number of scans, and each one makes libjpeg
 * sweep the whole coefficient buffer, so a small file with tens of thousands of scans can keep a decoder
 * busy for minutes (libjpeg-turbo's djpeg offers -maxscan for this reason). Real encoders emit about 10.
 */
#define IC_JPEG_MAX_SCANS 1000

typedef struct {
    struct jpeg_progress_mgr pub;
    ic_jpeg_error *err;
} ic_jpeg_progress;

static void ic_jpeg_progress_monitor(j_common_ptr cinfo) {
    if (!cinfo->is_decompressor) return;
    j_decompress_ptr dinfo = (j_decompress_ptr)cinfo;
    if (dinfo->input_scan_number > IC_JPEG_MAX_SCANS) {
        ic_jpeg_progress *progress = (ic_jpeg_progress *)cinfo->progress;
        snprintf(progress->err->message, sizeof progress->err->message,
                 "too many scans (more than %d): refusing a likely scan bomb", IC_JPEG_MAX_SCANS);
        progress->err->status = IC_ERR_CORRUPT;
        longjmp(progress->err->jump, 1);
    }
}

static int classify_jpeg_error(int msg_code) {
    switch (msg_code) {
    case JERR_BAD_PRECISION:       /* 12-bit (or other) sample precision: this libjpeg is built for 8 */
    case JERR_SOF_UNSUPPORTED:     /* lossless / hierarchical processes */
    case JERR_CONVERSION_NOTIMPL:  /* color space we cannot convert to RGB */
    case JERR_NOT_COMPILED:
    case JERR_ARITH_NOTIMPL:
        return IC_ERR_UNSUPPORTED;
    case JERR_OUT_OF_MEMORY:
        return IC_ERR_NO_MEMORY;
    default:
        return IC_ERR_CORRUPT;
    }
}

/*
 * CMYK -> RGB exactly as OpenCV's icvCvt_CMYK2BGR_8u_C4C3R: R = K - ((255 - C) * K >> 8), about C * K / 255,
 * on the samples as stored. That is right for Adobe-style files (Photoshop, Pillow, libjpeg: they write an
 * APP14 marker and store the inks inverted, 255 = no ink). Without the marker the JPEG spec would call the
 * samples plain CMYK, but OpenCV (our reference) and Pillow ("assume adobe conventions") both treat every
 * CMYK/YCCK JPEG as inverted, so we do the same; saw_Adobe_marker is deliberately not consulted.
 */
static void cmyk_row_to_rgb(const uint8_t *src, uint8_t *dst, size_t width) {
    for (size_t x = 0; x < width; x++, src += 4, dst += 3) {
        int c = src[0], m = src[1], y = src[2], k = src[3];
        dst[0] = (uint8_t)(k - (((255 - c) * k) >> 8));
        dst[1] = (uint8_t)(k - (((255 - m) * k) >> 8));
        dst[2] = (uint8_t)(k - (((255 - y) * k) >> 8));
    }
}

static int decode_jpeg(const uint8_t *data, size_t size, uint64_t max_pixels, ic_image *out,
                       char *errbuf, size_t errbuf_size) {
    struct jpeg_decompress_struct cinfo;
    ic_jpeg_error jerr;
    uint8_t *volatile pixels = NULL;
    uint8_t *volatile cmyk_row = NULL;

    memset(&cinfo, 0, sizeof cinfo);
    memset(&jerr, 0, sizeof jerr);
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = ic_jpeg_error_exit;
    jerr.pub.emit_message = ic_jpeg_emit_message;
    jerr.pub.output_message = ic_jpeg_output_message;

    if (setjmp(jerr.jump)) {
        int status = jerr.status ? jerr.status : classify_jpeg_error(jerr.pub.msg_code);
        switch (status) {
        case IC_ERR_UNSUPPORTED: set_error(errbuf, errbuf_size, "unsupported JPEG: %s", jerr.message); break;
        case IC_ERR_CORRUPT: set_error(errbuf, errbuf_size, "truncated/corrupt JPEG: %s", jerr.message); break;
        default: set_error(errbuf, errbuf_size, "%s", jerr.message); break;
        }
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        free(cmyk_row);
        return status;
    }

    jpeg_create_decompress(&cinfo);
    ic_jpeg_progress progress;
    memset(&progress, 0, sizeof progress);
    progress.pub.progress_monitor = ic_jpeg_progress_monitor;
    progress.err = &jerr;
    cinfo.progress = &progress.pub;
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF); /* EXIF lives in APP1 */
    jpeg_read_header(&cinfo, TRUE);

    uint64_t w = cinfo.image_width, h = cinfo.image_height;
    if (w == 0 || h == 0) {
        snprintf(jerr.message, sizeof jerr.message, "image has zero width or height (%llux%llu)",
                 (unsigned long long)w, (unsigned long long)h);
        jerr.status = IC_ERR_CORRUPT;
        longjmp(jerr.jump, 1);
    }
    /* Checked before jpeg_start_decompress: for progressive files that call allocates whole-image
     * coefficient buffers, so this also bounds libjpeg's own memory use. */
    if (exceeds_limit(w, h, max_pixels)) {
        format_too_large(jerr.message, sizeof jerr.message, w, h, max_pixels);
        jerr.status = IC_ERR_TOO_LARGE;
        longjmp(jerr.jump, 1);
    }

    int orientation = 1;
    for (jpeg_saved_marker_ptr m = cinfo.marker_list; m != NULL; m = m->next) {
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 && memcmp(m->data, "Exif\0\0", 6) == 0) {
            orientation = ic_exif_orientation(m->data, m->data_length);
            break; /* the first EXIF block wins (later APP1s are usually XMP) */
        }
    }

    int mode; /* 0 = RGB, 1 = grayscale, 2 = CMYK */
    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
        cinfo.out_color_space = JCS_GRAYSCALE;
        mode = 1;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        /* libjpeg converts YCCK to CMYK itself; see cmyk_row_to_rgb for the inversion convention. */
        cinfo.out_color_space = JCS_CMYK;
        mode = 2;
        break;
    default:
        cinfo.out_color_space = JCS_RGB;
        mode = 0;
        break;
    }
    cinfo.dct_method = JDCT_ISLOW;     /* libjpeg's default, and OpenCV's */
    cinfo.do_fancy_upsampling = TRUE;  /* ditto */

    jpeg_start_decompress(&cinfo);

    size_t width = cinfo.output_width, height = cinfo.output_height;
    int expected_components = mode == 0 ? 3 : (mode == 1 ? 1 : 4);
    if (cinfo.output_components != expected_components || width != w || height != h) {
        snprintf(jerr.message, sizeof jerr.message, "unexpected decoder output (%d components, %zux%zu)",
                 cinfo.output_components, width, height);
        jerr.status = IC_ERR_UNSUPPORTED;
        longjmp(jerr.jump, 1);
    }
    pixels = (uint8_t *)malloc(width * height * 3);
    if (mode == 2) cmyk_row = (uint8_t *)malloc(width * 4);
    if (pixels == NULL || (mode == 2 && cmyk_row == NULL)) {
        snprintf(jerr.message, sizeof jerr.message, "out of memory for a %zux%zu image", width, height);
        jerr.status = IC_ERR_NO_MEMORY;
        longjmp(jerr.jump, 1);
    }

    while (cinfo.output_scanline < cinfo.output_height) {
        size_t y = cinfo.output_scanline;
        uint8_t *dst = pixels + y * width * 3;
        JSAMPROW row = mode == 2 ? (JSAMPROW)cmyk_row : (JSAMPROW)dst;
        if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) {
            /* Cannot happen with a memory source (it never suspends); guard against looping forever. */
            snprintf(jerr.message, sizeof jerr.message, "decoder made no progress at row %zu", y);
            jerr.status = IC_ERR_CORRUPT;
            longjmp(jerr.jump, 1);
        }
        if (mode == 1) {
            for (size_t x = width; x-- > 0;) dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = dst[x];
        } else if (mode == 2) {
            cmyk_row_to_rgb(cmyk_row, dst, width);
        }
    }
    /* Reads up to EOI: a file cut right after the last scan also ends here, as "Premature end of JPEG file". */
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(cmyk_row);

    out->pixels = pixels;
    out->width = (int32_t)width;
    out->height = (int32_t)height;
    out->orientation = orientation;
    out->format = IC_FORMAT_JPEG;
    return IC_OK;
}

/* ------------------------------------------------------------------------------------------------ */
/* PNG decode                                                                                       */
/* ------------------------------------------------------------------------------------------------ */

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t pos;
    int status; /* IC_* to report after the jump; 0 = IC_ERR_CORRUPT */
    char message[512];
} ic_png_context;

static void ic_png_error(png_structp png, png_const_charp msg) {
    ic_png_context *ctx = (ic_png_context *)png_get_error_ptr(png);
    if (ctx != NULL) snprintf(ctx->message, sizeof ctx->message, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

static void ic_png_warning(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

static void ic_png_read(png_structp png, png_bytep out, size_t length) {
    ic_png_context *ctx = (ic_png_context *)png_get_io_ptr(png);
    if (length > ctx->size - ctx->pos) {
        ctx->status = IC_ERR_CORRUPT;
        png_error(png, "unexpected end of file (truncated PNG)");
    }
    memcpy(out, ctx->data + ctx->pos, length);
    ctx->pos += length;
}

static uint32_t be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static int decode_png(const uint8_t *data, size_t size, uint64_t max_pixels, ic_image *out,
                      char *errbuf, size_t errbuf_size) {
    ic_png_context ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.data = data;
    ctx.size = size;

    /* Bomb guard before libpng even starts: IHDR is required to be the first chunk, at offset 8. */
    if (size >= 24 && memcmp(data + 12, "IHDR", 4) == 0) {
        uint64_t w = be32(data + 16), h = be32(data + 20);
        if (w != 0 && h != 0 && exceeds_limit(w, h, max_pixels)) {
            format_too_large(ctx.message, sizeof ctx.message, w, h, max_pixels);
            set_error(errbuf, errbuf_size, "%s", ctx.message);
            return IC_ERR_TOO_LARGE;
        }
    }

    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, ic_png_error, ic_png_warning);
    if (png == NULL) {
        set_error(errbuf, errbuf_size, "out of memory (png_create_read_struct)");
        return IC_ERR_NO_MEMORY;
    }
    png_infop info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_read_struct(&png, NULL, NULL);
        set_error(errbuf, errbuf_size, "out of memory (png_create_info_struct)");
        return IC_ERR_NO_MEMORY;
    }
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;

    if (setjmp(png_jmpbuf(png))) {
        int status = ctx.status ? ctx.status : IC_ERR_CORRUPT;
        if (status == IC_ERR_CORRUPT) set_error(errbuf, errbuf_size, "truncated/corrupt PNG: %s", ctx.message);
        else set_error(errbuf, errbuf_size, "%s", ctx.message);
        png_destroy_read_struct(&png, &info, NULL);
        free(pixels);
        free(rows);
        return status;
    }

    png_set_read_fn(png, &ctx, ic_png_read);
    /* Our max_pixels guard governs the size; let libpng accept any width/height the format allows
     * (its default caps each side at 1,000,000, which would reject valid 2,000,000 x 1 images). */
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    /* Critical-chunk CRC errors stay fatal (libpng default); bad ancillary chunks are dropped with a warning. */
    png_read_info(png, info);

    png_uint_32 w32, h32;
    int bit_depth, color_type, interlace;
    png_get_IHDR(png, info, &w32, &h32, &bit_depth, &color_type, &interlace, NULL, NULL);
    if (w32 == 0 || h32 == 0) {
        ctx.status = IC_ERR_CORRUPT;
        png_error(png, "image has zero width or height");
    }
    if (exceeds_limit(w32, h32, max_pixels)) {
        format_too_large(ctx.message, sizeof ctx.message, w32, h32, max_pixels);
        ctx.status = IC_ERR_TOO_LARGE;
        png_longjmp(png, 1);
    }

    /* The same transform set as OpenCV's PNG decoder for IMREAD_COLOR. */
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if ((color_type & PNG_COLOR_MASK_COLOR) == 0 && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (bit_depth == 16) png_set_strip_16(png); /* keeps the high byte, like OpenCV (no rounding) */
    if ((color_type & PNG_COLOR_MASK_COLOR) == 0) png_set_gray_to_rgb(png);
    png_set_strip_alpha(png); /* alpha channel or expanded tRNS: dropped, not composited (OpenCV) */
    (void)png_set_interlace_handling(png);
    png_read_update_info(png, info);

    size_t width = w32, height = h32;
    if (png_get_channels(png, info) != 3 || png_get_bit_depth(png, info) != 8 ||
        png_get_rowbytes(png, info) != width * 3) {
        ctx.status = IC_ERR_UNSUPPORTED;
        snprintf(ctx.message, sizeof ctx.message,
                 "unsupported PNG layout (color type %d, bit depth %d -> %d channels)", color_type, bit_depth,
                 (int)png_get_channels(png, info));
        png_longjmp(png, 1);
    }

    pixels = (uint8_t *)malloc(width * height * 3);
    rows = (png_bytep *)malloc(height * sizeof(png_bytep));
    if (pixels == NULL || rows == NULL) {
        ctx.status = IC_ERR_NO_MEMORY;
        snprintf(ctx.message, sizeof ctx.message, "out of memory for a %zux%zu image", width, height);
        png_longjmp(png, 1);
    }
    for (size_t y = 0; y < height; y++) rows[y] = pixels + y * width * 3;
    png_read_image(png, rows); /* handles all Adam7 passes */
    /* Reads the chunks after the image data through IEND (a missing IEND is "truncated", as in OpenCV)
     * and collects an eXIf chunk that follows IDAT. */
    png_read_end(png, info);

    int orientation = 1;
#ifdef PNG_eXIf_SUPPORTED
    {
        png_uint_32 exif_len = 0;
        png_bytep exif = NULL;
        if (png_get_eXIf_1(png, info, &exif_len, &exif) != 0 && exif != NULL)
            orientation = ic_exif_orientation(exif, exif_len);
    }
#endif

    png_destroy_read_struct(&png, &info, NULL);
    free(rows);

    out->pixels = pixels;
    out->width = (int32_t)width;
    out->height = (int32_t)height;
    out->orientation = orientation;
    out->format = IC_FORMAT_PNG;
    return IC_OK;
}

/* ------------------------------------------------------------------------------------------------ */
/* Decode entry point                                                                               */
/* ------------------------------------------------------------------------------------------------ */

int ic_decode(const uint8_t *data, size_t size, uint64_t max_pixels, ic_image *out,
              char *errbuf, size_t errbuf_size) {
    if (errbuf != NULL && errbuf_size > 0) errbuf[0] = '\0';
    if (out == NULL) {
        set_error(errbuf, errbuf_size, "invalid argument (no output image)");
        return IC_ERR_INVALID_ARGUMENT;
    }
    memset(out, 0, sizeof *out);
    if (data == NULL || size == 0) {
        set_error(errbuf, errbuf_size, "empty data (0 bytes)");
        return IC_ERR_NOT_IMAGE;
    }
    switch (ic_detect_format(data, size)) {
    case IC_FORMAT_JPEG:
        return decode_jpeg(data, size, max_pixels, out, errbuf, errbuf_size);
    case IC_FORMAT_PNG:
        return decode_png(data, size, max_pixels, out, errbuf, errbuf_size);
    default: {
        const char *other = other_format_name(data, size);
        if (other != NULL) set_error(errbuf, errbuf_size, "not a JPEG or PNG image (looks like %s)", other);
        else set_error(errbuf, errbuf_size, "not a JPEG or PNG image");
        return IC_ERR_NOT_IMAGE;
    }
    }
}

/* ------------------------------------------------------------------------------------------------ */
/* JPEG encode                                                                                      */
/* ------------------------------------------------------------------------------------------------ */

/* A growable memory destination whose buffer we own (jpeg_mem_dest's buffer leaks if compression fails). */
typedef struct {
    struct jpeg_destination_mgr pub;
    uint8_t *buffer;
    size_t capacity;
} ic_jpeg_dest;

static void ic_dest_init(j_compress_ptr cinfo) {
    ic_jpeg_dest *dest = (ic_jpeg_dest *)cinfo->dest;
    dest->pub.next_output_byte = dest->buffer;
    dest->pub.free_in_buffer = dest->capacity;
}

static boolean ic_dest_empty(j_compress_ptr cinfo) {
    ic_jpeg_dest *dest = (ic_jpeg_dest *)cinfo->dest;
    /* Called only when the whole buffer is full. */
    size_t new_capacity = dest->capacity * 2;
    uint8_t *grown = (uint8_t *)realloc(dest->buffer, new_capacity);
    if (grown == NULL) ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 99);
    dest->buffer = grown;
    dest->pub.next_output_byte = grown + dest->capacity;
    dest->pub.free_in_buffer = new_capacity - dest->capacity;
    dest->capacity = new_capacity;
    return TRUE;
}

static void ic_dest_term(j_compress_ptr cinfo) { (void)cinfo; }

static int check_rgb_args(const uint8_t *rgb, int32_t width, int32_t height, uint8_t **out, size_t *out_size,
                          int32_t max_side, char *errbuf, size_t errbuf_size) {
    if (out == NULL || out_size == NULL) {
        set_error(errbuf, errbuf_size, "invalid argument (no output buffer)");
        return IC_ERR_INVALID_ARGUMENT;
    }
    *out = NULL;
    *out_size = 0;
    if (rgb == NULL || width <= 0 || height <= 0 || width > max_side || height > max_side) {
        set_error(errbuf, errbuf_size, "invalid image size %dx%d for encoding (1...%d per side)", (int)width,
                  (int)height, (int)max_side);
        return IC_ERR_INVALID_ARGUMENT;
    }
    return IC_OK;
}

/* Shared by the RGB and CMYK encoders: `components` is 3 (RGB input) or 4 (CMYK input). */
static int encode_jpeg(const uint8_t *pixels, int components, int32_t width, int32_t height, int32_t quality,
                       uint32_t flags, uint8_t **out, size_t *out_size, char *errbuf, size_t errbuf_size);

int ic_encode_jpeg(const uint8_t *rgb, int32_t width, int32_t height, int32_t quality, uint32_t flags,
                   uint8_t **out, size_t *out_size, char *errbuf, size_t errbuf_size) {
    return encode_jpeg(rgb, 3, width, height, quality, flags, out, out_size, errbuf, errbuf_size);
}

int ic_encode_jpeg_cmyk(const uint8_t *cmyk, int32_t width, int32_t height, int32_t quality, uint32_t flags,
                        uint8_t **out, size_t *out_size, char *errbuf, size_t errbuf_size) {
    return encode_jpeg(cmyk, 4, width, height, quality, flags, out, out_size, errbuf, errbuf_size);
}

static int encode_jpeg(const uint8_t *rgb, int components, int32_t width, int32_t height, int32_t quality,
                       uint32_t flags, uint8_t **out, size_t *out_size, char *errbuf, size_t errbuf_size) {
    if (errbuf != NULL && errbuf_size > 0) errbuf[0] = '\0';
    int status = check_rgb_args(rgb, width, height, out, out_size, JPEG_MAX_DIMENSION, errbuf, errbuf_size);
    if (status != IC_OK) return status;
    const int q = quality < 1 ? 1 : (quality > 100 ? 100 : (int)quality);

    struct jpeg_compress_struct cinfo;
    ic_jpeg_error jerr;
    ic_jpeg_dest dest;
    memset(&cinfo, 0, sizeof cinfo);
    memset(&jerr, 0, sizeof jerr);
    memset(&dest, 0, sizeof dest);
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = ic_jpeg_error_exit;
    jerr.pub.output_message = ic_jpeg_output_message;

    if (setjmp(jerr.jump)) {
        int st = jerr.status ? jerr.status : classify_jpeg_error(jerr.pub.msg_code);
        if (st == IC_ERR_CORRUPT) st = IC_ERR_UNSUPPORTED; /* nothing is "corrupt" when encoding */
        set_error(errbuf, errbuf_size, "JPEG encoding failed: %s", jerr.message);
        jpeg_destroy_compress(&cinfo);
        free(dest.buffer);
        return st;
    }

    jpeg_create_compress(&cinfo);
    dest.capacity = 16384 + (size_t)width * (size_t)height / 4;
    dest.buffer = (uint8_t *)malloc(dest.capacity);
    if (dest.buffer == NULL) {
        snprintf(jerr.message, sizeof jerr.message, "out of memory");
        jerr.status = IC_ERR_NO_MEMORY;
        longjmp(jerr.jump, 1);
    }
    dest.pub.init_destination = ic_dest_init;
    dest.pub.empty_output_buffer = ic_dest_empty;
    dest.pub.term_destination = ic_dest_term;
    cinfo.dest = &dest.pub;

    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = components;
    cinfo.in_color_space = components == 4 ? JCS_CMYK : JCS_RGB;
    jpeg_set_defaults(&cinfo);  /* CMYK input: stored as CMYK with an Adobe marker */
    if (components == 4 && (flags & IC_JPEG_YCCK)) jpeg_set_colorspace(&cinfo, JCS_YCCK);
    if (components == 3 && (flags & IC_JPEG_GRAYSCALE)) jpeg_set_colorspace(&cinfo, JCS_GRAYSCALE);
    jpeg_set_quality(&cinfo, q, TRUE);
    if (flags & IC_JPEG_444) {
        for (int c = 0; c < cinfo.num_components; c++) {
            cinfo.comp_info[c].h_samp_factor = 1;
            cinfo.comp_info[c].v_samp_factor = 1;
        }
    }
    if (flags & IC_JPEG_ARITHMETIC) cinfo.arith_code = TRUE;
    if (flags & IC_JPEG_PROGRESSIVE) jpeg_simple_progression(&cinfo);

    jpeg_start_compress(&cinfo, TRUE);
    const size_t stride = (size_t)width * (size_t)components;
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(rgb + (size_t)cinfo.next_scanline * stride); /* libjpeg does not write it */
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    size_t length = dest.capacity - dest.pub.free_in_buffer;
    jpeg_destroy_compress(&cinfo);

    *out = dest.buffer;
    *out_size = length;
    return IC_OK;
}

/* ------------------------------------------------------------------------------------------------ */
/* PNG encode                                                                                       */
/* ------------------------------------------------------------------------------------------------ */

typedef struct {
    uint8_t *buffer;
    size_t size;
    size_t capacity;
    int status;
    char message[512];
} ic_png_writer;

static void ic_png_write(png_structp png, png_bytep data, size_t length) {
    ic_png_writer *w = (ic_png_writer *)png_get_io_ptr(png);
    if (length > w->capacity - w->size) {
        size_t cap = w->capacity ? w->capacity : 4096;
        while (cap - w->size < length) {
            if (cap > SIZE_MAX / 2) {
                w->status = IC_ERR_NO_MEMORY;
                png_error(png, "output too large");
            }
            cap *= 2;
        }
        uint8_t *grown = (uint8_t *)realloc(w->buffer, cap);
        if (grown == NULL) {
            w->status = IC_ERR_NO_MEMORY;
            png_error(png, "out of memory");
        }
        w->buffer = grown;
        w->capacity = cap;
    }
    memcpy(w->buffer + w->size, data, length);
    w->size += length;
}

static void ic_png_flush(png_structp png) { (void)png; }

static void ic_png_write_error(png_structp png, png_const_charp msg) {
    ic_png_writer *w = (ic_png_writer *)png_get_error_ptr(png);
    if (w != NULL) snprintf(w->message, sizeof w->message, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

int ic_encode_png(const uint8_t *rgb, int32_t width, int32_t height, uint8_t **out, size_t *out_size,
                  char *errbuf, size_t errbuf_size) {
    if (errbuf != NULL && errbuf_size > 0) errbuf[0] = '\0';
    int status = check_rgb_args(rgb, width, height, out, out_size, INT32_MAX / 4, errbuf, errbuf_size);
    if (status != IC_OK) return status;

    ic_png_writer writer;
    memset(&writer, 0, sizeof writer);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &writer, ic_png_write_error, ic_png_warning);
    if (png == NULL) {
        set_error(errbuf, errbuf_size, "out of memory (png_create_write_struct)");
        return IC_ERR_NO_MEMORY;
    }
    png_infop info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_write_struct(&png, NULL);
        set_error(errbuf, errbuf_size, "out of memory (png_create_info_struct)");
        return IC_ERR_NO_MEMORY;
    }
    png_bytep *volatile rows = NULL;

    if (setjmp(png_jmpbuf(png))) {
        int st = writer.status ? writer.status : IC_ERR_UNSUPPORTED;
        set_error(errbuf, errbuf_size, "PNG encoding failed: %s", writer.message);
        png_destroy_write_struct(&png, &info);
        free(writer.buffer);
        free(rows);
        return st;
    }

    png_set_write_fn(png, &writer, ic_png_write, ic_png_flush);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    rows = (png_bytep *)malloc((size_t)height * sizeof(png_bytep));
    if (rows == NULL) {
        writer.status = IC_ERR_NO_MEMORY;
        png_error(png, "out of memory");
    }
    for (size_t y = 0; y < (size_t)height; y++) rows[y] = (png_bytep)(rgb + y * (size_t)width * 3);
    png_write_image(png, rows); /* no write transforms are set, so the rows are only read */
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(rows);

    *out = writer.buffer;
    *out_size = writer.size;
    return IC_OK;
}
