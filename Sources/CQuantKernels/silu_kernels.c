/* silu_kernels.c - SiLU forward and backward for training, y = x·σ(x) and dx = dy·σ·(1 + x·(1 − σ)) with
 * σ = 1 / (1 + expf(−x)), giving the bits of the same formulas written with the C library's expf.
 *
 * expf is glibc's (2.27 and later; its FMA variant __expf_fma, which x86-64 CPUs with FMA run): the same algorithm
 * and constants (sysdeps/ieee754/flt-32/e_expf.c) on 8 lanes of doubles: x·32/ln 2 rounded to k by the 1.5·2^52
 * shift, 2^(k/32) from a 32-entry table with k's upper bits added to the exponent, a cubic in the remainder, the
 * same fused multiply-adds, one rounding to float. An 8-lane block holding |x| ≥ 88 (or NaN, ±∞) takes the scalar
 * expf, as glibc's own slow path. The tiny checkpoints' gradient goldens move past their tolerance on a 1-ulp
 * change of σ, hence bits, not just accuracy. In C because Swift's SIMD lowering of the table lookup and the
 * float ↔ double conversions went lane by lane (~5× slower than this). */
#include "quant_kernels.h"
#include <math.h>

/* The float formulas must round as the Swift definitions do: no fused multiply-adds the source does not write. */
#pragma STDC FP_CONTRACT OFF
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CQK_X86 1
#endif

static inline float sigmoid_one(float x) { return 1.0f / (1.0f + expf(-x)); }
static inline float silu_gradient_one(float x, float dy) {
    const float s = sigmoid_one(x);
    return dy * s * (1.0f + x * (1.0f - s));
}

#if CQK_X86
/* 2^(i/32) as double bits, less i << 47 (the index's share of the exponent, added back from k). */
static const uint64_t exp_table[32] = {
    0x3ff0000000000000, 0x3fefd9b0d3158574, 0x3fefb5586cf9890f, 0x3fef9301d0125b51,
    0x3fef72b83c7d517b, 0x3fef54873168b9aa, 0x3fef387a6e756238, 0x3fef1e9df51fdee1,
    0x3fef06fe0a31b715, 0x3feef1a7373aa9cb, 0x3feedea64c123422, 0x3feece086061892d,
    0x3feebfdad5362a27, 0x3feeb42b569d4f82, 0x3feeab07dd485429, 0x3feea47eb03a5585,
    0x3feea09e667f3bcd, 0x3fee9f75e8ec5f74, 0x3feea11473eb0187, 0x3feea589994cce13,
    0x3feeace5422aa0db, 0x3feeb737b0cdc5e5, 0x3feec49182a3f090, 0x3feed503b23e255d,
    0x3feee89f995ad3ad, 0x3feeff76f2fb5e47, 0x3fef199bdd85529c, 0x3fef3720dcef9069,
    0x3fef5818dcfba487, 0x3fef7c97337b9b5f, 0x3fefa4afa2a490da, 0x3fefd0765b6e4540,
};

static inline double from_bits(uint64_t b) { union { uint64_t u; double d; } v = { b }; return v.d; }

/* expf of 8 floats; *slow set when a lane needs the scalar path (its result is then not used). */
__attribute__((target("avx512f,avx2,fma")))
static inline __m256 exp8(__m256 x, int *slow) {
    const __m256i magnitude = _mm256_and_si256(_mm256_castps_si256(x), _mm256_set1_epi32(0x7fffffff));
    *slow = !_mm256_testz_si256(_mm256_cmpgt_epi32(magnitude, _mm256_set1_epi32(0x42afffff)), _mm256_set1_epi32(-1));
    const __m512d inv_ln2_n = _mm512_set1_pd(from_bits(0x40471547652b82feull));  /* 32 / ln 2 */
    const __m512d shift = _mm512_set1_pd(from_bits(0x4338000000000000ull));      /* 1.5 · 2^52 */
    const __m512d c0 = _mm512_set1_pd(from_bits(0x3ebc6af84b912394ull)), c1 = _mm512_set1_pd(from_bits(0x3f2ebfce50fac4f3ull));
    const __m512d c2 = _mm512_set1_pd(from_bits(0x3f962e42ff0c52d6ull));
    const __m512d xd = _mm512_cvtps_pd(x);
    const __m512d shifted = _mm512_fmadd_pd(xd, inv_ln2_n, shift);
    const __m512i k = _mm512_castpd_si512(shifted);
    const __m512d r = _mm512_fmsub_pd(inv_ln2_n, xd, _mm512_sub_pd(shifted, shift));
    __m512i t = _mm512_i64gather_epi64(_mm512_and_si512(k, _mm512_set1_epi64(31)), (const void *)exp_table, 8);
    t = _mm512_add_epi64(t, _mm512_slli_epi64(k, 47));
    const __m512d p = _mm512_fmadd_pd(r, c0, c1);
    const __m512d y = _mm512_fmadd_pd(p, _mm512_mul_pd(r, r), _mm512_fmadd_pd(r, c2, _mm512_set1_pd(1.0)));
    return _mm512_cvtpd_ps(_mm512_mul_pd(y, _mm512_castsi512_pd(t)));
}

__attribute__((target("avx512f,avx2,fma")))
static inline __m256 sigmoid8(__m256 x, int *slow) {
    const __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), x), slow)));
}

__attribute__((target("avx512f,avx2,fma")))
static inline __m256 silu_gradient8(__m256 x, __m256 dy, int *slow) {
    const __m256 one = _mm256_set1_ps(1.0f), s = sigmoid8(x, slow);
    return _mm256_mul_ps(_mm256_mul_ps(dy, s), _mm256_add_ps(one, _mm256_mul_ps(x, _mm256_sub_ps(one, s))));
}

/* Each returns how many leading values it did (a multiple of 8); the caller's scalar loop does the rest and the
 * blocks that needed the slow path, which are done here one value at a time. */
__attribute__((target("avx512f,avx2,fma")))
static int64_t expf_avx512(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        int slow;
        const __m256 e = exp8(_mm256_loadu_ps(x + i), &slow);
        if (slow) { for (int j = 0; j < 8; j++) y[i + j] = expf(x[i + j]); } else _mm256_storeu_ps(y + i, e);
    }
    return i;
}

__attribute__((target("avx512f,avx2,fma")))
static int64_t silu_forward_avx512(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        int slow;
        const __m256 v = _mm256_loadu_ps(x + i), s = sigmoid8(v, &slow);
        if (slow) { for (int j = 0; j < 8; j++) y[i + j] = x[i + j] * sigmoid_one(x[i + j]); } else _mm256_storeu_ps(y + i, _mm256_mul_ps(v, s));
    }
    return i;
}

__attribute__((target("avx512f,avx2,fma")))
static int64_t silu_backward_avx512(const float *x, const float *dy, float *dx, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        int slow;
        const __m256 g = silu_gradient8(_mm256_loadu_ps(x + i), _mm256_loadu_ps(dy + i), &slow);
        if (slow) { for (int j = 0; j < 8; j++) dx[i + j] = silu_gradient_one(x[i + j], dy[i + j]); } else _mm256_storeu_ps(dx + i, g);
    }
    return i;
}

__attribute__((target("avx512f,avx2,fma")))
static int64_t silu_backward_affine_avx512(const float *h, float gamma, float beta, const float *dy, float *dx, int64_t n) {
    const __m256 gv = _mm256_set1_ps(gamma), bv = _mm256_set1_ps(beta);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        int slow;
        const __m256 x = _mm256_add_ps(_mm256_mul_ps(gv, _mm256_loadu_ps(h + i)), bv);
        const __m256 g = silu_gradient8(x, _mm256_loadu_ps(dy + i), &slow);
        if (slow) { for (int j = 0; j < 8; j++) dx[i + j] = silu_gradient_one(gamma * h[i + j] + beta, dy[i + j]); } else _mm256_storeu_ps(dx + i, g);
    }
    return i;
}

/* glibc's algorithm needs FMA to give its FMA variant's bits; AVX-512F for the 8-lane doubles and the gather. */
static int vector_path(void) {
    static int state = -1;
    if (state < 0) state = (cqk_cpu_features() & CQK_FEATURE_AVX512BW) != 0;
    return state;
}
#endif

void cqk_expf(const float *x, float *y, int64_t n) {
    int64_t i = 0;
#if CQK_X86
    if (vector_path()) i = expf_avx512(x, y, n);
#endif
    for (; i < n; i++) y[i] = expf(x[i]);
}

void cqk_silu_forward(const float *x, float *y, int64_t n) {
    int64_t i = 0;
#if CQK_X86
    if (vector_path()) i = silu_forward_avx512(x, y, n);
#endif
    for (; i < n; i++) y[i] = x[i] * sigmoid_one(x[i]);
}

void cqk_silu_backward(const float *x, const float *dy, float *dx, int64_t n) {
    int64_t i = 0;
#if CQK_X86
    if (vector_path()) i = silu_backward_avx512(x, dy, dx, n);
#endif
    for (; i < n; i++) dx[i] = silu_gradient_one(x[i], dy[i]);
}

void cqk_silu_backward_affine(const float *h, float gamma, float beta, const float *dy, float *dx, int64_t n) {
    int64_t i = 0;
#if CQK_X86
    if (vector_path()) i = silu_backward_affine_avx512(h, gamma, beta, dy, dx, n);
#endif
    for (; i < n; i++) dx[i] = silu_gradient_one(gamma * h[i] + beta, dy[i]);
}
