/* half_kernels.c - IEEE binary16 → binary32, for loading fp16 checkpoints (Ultralytics saves its weights as
 * half). Every half value is exactly a float, so the 16-lane vcvtph2ps and the scalar formula give the same bits
 * for every non-NaN input (a NaN stays a NaN; the vector path may set its quiet bit). The vector path is AVX-512F
 * (chosen at run time); with it the fall checkpoint's (YOLOv8s, 11M halves) network builds in ~55 ms instead of ~90. */
#include "quant_kernels.h"
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CQK_X86 1
#endif

static inline float half_one(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16, exponent = (h >> 10) & 0x1F, mantissa = h & 0x03FF;
    uint32_t bits;
    if (exponent == 0x1F) {
        bits = sign | 0x7F800000u | (mantissa << 13);
    } else if (exponent == 0) {
        /* Zero or subnormal: mantissa × 2^-24, exact in float. */
        float magnitude = (float)mantissa * 5.9604644775390625e-8f;
        return sign ? -magnitude : magnitude;
    } else {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

#if CQK_X86
__attribute__((target("avx512f")))
static int64_t half_to_float_avx512(const uint16_t *h, float *f, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(f + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(h + i))));
    return i;
}
#endif

void cqk_half_to_float(const uint16_t *h, float *f, int64_t n) {
    int64_t i = 0;
#if CQK_X86
    static int state = -1;  /* benign race: every thread computes the same value */
    if (state < 0) state = (cqk_cpu_features() & CQK_FEATURE_AVX512BW) != 0;
    if (state) i = half_to_float_avx512(h, f, n);
#endif
    for (; i < n; i++) f[i] = half_one(h[i]);
}
