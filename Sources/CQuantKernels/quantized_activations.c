/* quantized_activations.c - the activation side of an int8 convolution before its GEMM: fp32 → uint8 quantization
 * (AVX-512), and the uint8 im2col. In C because both run over every input value of every int8 conv: the vector
 * quantizer is ~10× Swift's SIMD16 loop (whose narrowing to bytes goes lane by lane), and the rows of small planes
 * (13 or 26 pixels in a detection head) are short, so each must cost a few instructions, not a library call. */
#include "quant_kernels.h"
#include <math.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CQK_X86 1
#endif

/* The scalar definition (ActivationQuantization.quantize(_:) in Swift): every operation rounds as there. */
static inline uint8_t quantize_one(float x, float scale, float zero) {
    float v = rintf(x / scale) + zero;  /* rintf: nearest, ties to even (the default rounding mode) */
    if (v != v) return (uint8_t)zero;
    v = v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
    return (uint8_t)v;
}

#if CQK_X86
__attribute__((target("avx512f")))
static int64_t quantize_avx512(const float *x, int64_t count, float scale, uint8_t zero_point, uint8_t *q) {
    const __m512 s = _mm512_set1_ps(scale), z = _mm512_set1_ps((float)zero_point);
    const __m512 low = _mm512_setzero_ps(), high = _mm512_set1_ps(255.0f);
    int64_t i = 0;
    for (; i + 16 <= count; i += 16) {
        __m512 v = _mm512_add_ps(_mm512_roundscale_ps(_mm512_div_ps(_mm512_loadu_ps(x + i), s), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), z);
        v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), z);
        v = _mm512_min_ps(_mm512_max_ps(v, low), high);
        _mm_storeu_si128((__m128i *)(q + i), _mm512_cvtusepi32_epi8(_mm512_cvttps_epu32(v)));
    }
    return i;
}
#endif

void cqk_quantize_u8(const float *x, int64_t count, float scale, uint8_t zero_point, int vector, uint8_t *q) {
    int64_t i = 0;
#if CQK_X86
    if (vector) i = quantize_avx512(x, count, scale, zero_point, q);
#else
    (void)vector;
#endif
    for (; i < count; i++) q[i] = quantize_one(x[i], scale, (float)zero_point);
}

/* One im2col row's output columns a ..< b of output row oy: input columns ox·stride + shift where first ≤ ox ≤ last,
 * else the fill value; element bytes 1 (uint8) or 4 (fp32). */
static void segment_scalar(const uint8_t *row, int element, int64_t shift, int64_t stride, int64_t first, int64_t last,
                           int64_t a, int64_t b, uint32_t fill, uint8_t *out) {
    for (int64_t ox = a; ox < b; ox++, out += element) {
        if (ox < first || ox > last) { memcpy(out, &fill, (size_t)element); continue; }
        memcpy(out, row + (ox * stride + shift) * element, (size_t)element);
    }
}

#if CQK_X86
/* Stride 1, 64 bytes at a time: one masked load over the fill value, one masked store. The load's address may lie
 * before row[0] or past its end, but only inside lanes are read (masked-off lanes never fault). */
__attribute__((target("avx512f,avx512bw")))
static void segment_u8_avx512(const uint8_t *row, int64_t shift, int64_t first, int64_t last, int64_t a, int64_t b,
                              uint8_t fill, uint8_t *out) {
    const __m512i zero = _mm512_set1_epi8((char)fill);
    const uintptr_t source = (uintptr_t)row + (uintptr_t)shift;  /* the byte of column 0 (shift may be negative) */
    for (int64_t ox0 = a; ox0 < b; ox0 += 64, out += 64) {
        const int64_t n = b - ox0 < 64 ? b - ox0 : 64;
        const int64_t lo = first > ox0 ? first - ox0 : 0, hi = last - ox0 < n - 1 ? last - ox0 : n - 1;  /* inside: lo ..= hi */
        const __mmask64 written = n == 64 ? ~(__mmask64)0 : ((__mmask64)1 << n) - 1;
        __mmask64 inside = 0;
        if (lo <= hi && lo < 64) inside = (hi - lo == 63 ? ~(__mmask64)0 : ((__mmask64)1 << (hi - lo + 1)) - 1) << lo;
        _mm512_mask_storeu_epi8((void *)out, written, _mm512_mask_loadu_epi8(zero, inside, (const void *)(source + (uintptr_t)ox0)));
    }
}

/* The same for fp32, 16 values at a time. */
__attribute__((target("avx512f")))
static void segment_f32_avx512(const float *row, int64_t shift, int64_t first, int64_t last, int64_t a, int64_t b, float *out) {
    const uintptr_t source = (uintptr_t)row + (uintptr_t)(shift * 4);
    for (int64_t ox0 = a; ox0 < b; ox0 += 16, out += 16) {
        const int64_t n = b - ox0 < 16 ? b - ox0 : 16;
        const int64_t lo = first > ox0 ? first - ox0 : 0, hi = last - ox0 < n - 1 ? last - ox0 : n - 1;
        const __mmask16 written = (__mmask16)((1u << n) - 1);
        const __mmask16 inside = lo <= hi && lo < 16 ? (__mmask16)(((1u << (hi - lo + 1)) - 1) << lo) : 0;
        _mm512_mask_storeu_ps(out, written, _mm512_maskz_loadu_ps(inside, (const void *)(source + (uintptr_t)(ox0 * 4))));
    }
}
#endif

/* Rows row_begin ..< row_end, columns col_begin ..< col_end of the im2col matrix, element bytes 1 or 4. */
static inline __attribute__((always_inline))
void im2col(const uint8_t *input, int element, int64_t height, int64_t width, int64_t kernel, int64_t stride, int64_t pad,
            int64_t out_width, uint32_t fill, int vector, int64_t row_begin, int64_t row_end, int64_t col_begin,
            int64_t col_end, uint8_t *columns, int64_t ld) {
    /* (c, ky, kx) of row r, stepped along (a 64-bit division per row costs more than a short row's copy). */
    int64_t c = row_begin / (kernel * kernel), ky = (row_begin / kernel) % kernel, kx = row_begin % kernel;
    for (int64_t r = row_begin; r < row_end; r++, kx = kx + 1 == kernel ? 0 : kx + 1,
                 ky = kx == 0 ? (ky + 1 == kernel ? 0 : ky + 1) : ky, c = kx == 0 && ky == 0 ? c + 1 : c) {
        const uint8_t *source = input + c * height * width * element;
        /* Output columns whose input column ox·stride − pad + kx lies in [0, width). */
        const int64_t first = kx >= pad ? 0 : (pad - kx + stride - 1) / stride;
        const int64_t reach = width - 1 + pad - kx;
        int64_t last = reach < 0 ? -1 : reach / stride;
        if (last > out_width - 1) last = out_width - 1;
        const int64_t shift = kx - pad;  /* input column of ox = ox · stride + shift */
        uint8_t *out = columns + (r - row_begin) * ld * element;
        int64_t oy = col_begin / out_width, a = col_begin % out_width;
        for (int64_t p = col_begin; p < col_end; oy++, a = 0) {
            const int64_t b = out_width - a < col_end - p ? out_width : a + (col_end - p);  /* this output row's part */
            const int64_t iy = oy * stride - pad + ky;
            const int outside = iy < 0 || iy >= height;
            const uint8_t *row = source + iy * width * element;
#if CQK_X86
            if (vector && (stride == 1 || outside)) {
                if (element == 1) segment_u8_avx512(row, shift, outside ? 1 : first, outside ? 0 : last, a, b, (uint8_t)fill, out);
                else segment_f32_avx512((const float *)(const void *)row, shift, outside ? 1 : first, outside ? 0 : last, a, b, (float *)(void *)out);
                out += (b - a) * element;
                p += b - a;
                continue;
            }
#endif
            segment_scalar(row, element, shift, stride, outside ? out_width : first, outside ? -1 : last, a, b, fill, out);
            out += (b - a) * element;
            p += b - a;
        }
    }
}

void cqk_u8_im2col(const uint8_t *input, int64_t height, int64_t width, int64_t kernel, int64_t stride, int64_t pad,
                   int64_t out_width, uint8_t zero_point, int vector, int64_t row_begin, int64_t row_end, int64_t col_begin,
                   int64_t col_end, uint8_t *columns, int64_t ld) {
    im2col(input, 1, height, width, kernel, stride, pad, out_width, zero_point, vector, row_begin, row_end, col_begin, col_end,
           columns, ld);
}

void cqk_f32_im2col(const float *input, int64_t height, int64_t width, int64_t kernel, int64_t stride, int64_t pad,
                    int64_t out_width, int vector, int64_t row_begin, int64_t row_end, int64_t col_begin, int64_t col_end,
                    float *columns, int64_t ld) {
    im2col((const uint8_t *)input, 4, height, width, kernel, stride, pad, out_width, 0, vector, row_begin, row_end, col_begin,
           col_end, (uint8_t *)columns, ld);
}
