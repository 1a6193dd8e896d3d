/* bf16_kernels.c - bf16 × bf16 → fp32 tiles of 8 × 32, two K values per step, and the packing (with the
 * fp32 → bf16 conversion) of both operands. Kernels: AVX512_BF16 (vdpbf16ps) and the expand-and-FMA fallback
 * on AVX512F or in scalar C. A product of two bf16 values is exact in fp32, so every step rounds once per
 * addition; the fallbacks add the odd-K product, then the even one (the order the SDM's vdpbf16ps pseudo-code
 * gives), the scalar and AVX512 fallbacks agree bit for bit, and vdpbf16ps also treats denormal inputs and
 * results as zero. Each result is within (K + 2) · 2^-24 · (Σ|a·b| + |bias|) of the exact sum of the bf16
 * operands (plus the flushed denormals on the vdpbf16ps path). */
#include "quant_kernels.h"
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CQK_X86 1
#endif

/* Round to nearest even on the bit pattern: add 0x7FFF plus the lowest kept bit, keep the upper 16 bits. */
static inline uint32_t rounded_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return u | 0x00400000u;  /* NaN: quiet it, never round it into inf */
    return u + 0x7FFFu + ((u >> 16) & 1u);
}

uint16_t cqk_f32_to_bf16(float x) { return (uint16_t)(rounded_bits(x) >> 16); }

void cqk_bf16_pack_weights(const float *w, int64_t m, int64_t k, int64_t ldw, uint16_t *packed) {
    const int64_t pairs = (k + 1) / 2, panels = (m + CQK_MR - 1) / CQK_MR;
    memset(packed, 0, (size_t)(panels * pairs * CQK_MR * 2 * 2));
    for (int64_t i = 0; i < m; i++) {
        const float *row = w + i * ldw;
        uint16_t *dst = packed + (i / CQK_MR) * pairs * CQK_MR * 2 + (i % CQK_MR) * 2;
        for (int64_t p = 0; p < k; p++) dst[(p / 2) * CQK_MR * 2 + p % 2] = cqk_f32_to_bf16(row[p]);
    }
}

#if CQK_X86
/* 16 columns of two rows: lane j = bf16(r0[j]) | bf16(r1[j]) << 16. */
__attribute__((target("avx512f")))
static inline __m512i pair_avx512(__m512 r0, __m512 r1) {
    const __m512i one = _mm512_set1_epi32(1), half = _mm512_set1_epi32(0x7FFF), quiet = _mm512_set1_epi32(0x00400000);
    __m512i u0 = _mm512_castps_si512(r0), u1 = _mm512_castps_si512(r1);
    __m512i v0 = _mm512_add_epi32(u0, _mm512_add_epi32(half, _mm512_and_si512(_mm512_srli_epi32(u0, 16), one)));
    __m512i v1 = _mm512_add_epi32(u1, _mm512_add_epi32(half, _mm512_and_si512(_mm512_srli_epi32(u1, 16), one)));
    v0 = _mm512_mask_mov_epi32(v0, _mm512_cmp_ps_mask(r0, r0, _CMP_UNORD_Q), _mm512_or_si512(u0, quiet));
    v1 = _mm512_mask_mov_epi32(v1, _mm512_cmp_ps_mask(r1, r1, _CMP_UNORD_Q), _mm512_or_si512(u1, quiet));
    return _mm512_or_si512(_mm512_srli_epi32(v0, 16), _mm512_and_si512(v1, _mm512_set1_epi32((int)0xFFFF0000u)));
}

__attribute__((target("avx512f")))
static void pack_full_pairs_avx512(const float *x, int64_t full_pairs, int64_t ldx, uint16_t *packed) {
    for (int64_t p = 0; p < full_pairs; p++) {
        const float *r0 = x + 2 * p * ldx, *r1 = r0 + ldx;
        uint16_t *dst = packed + p * CQK_NR * 2;
        /* The next column panel's rows, into L2 for the next call: the rows lie ldx apart, too far for the
         * hardware prefetchers, and would otherwise be fetched one latency at a time. */
        _mm_prefetch((const char *)(r0 + CQK_NR), _MM_HINT_T1);
        _mm_prefetch((const char *)(r0 + CQK_NR + 16), _MM_HINT_T1);
        _mm_prefetch((const char *)(r1 + CQK_NR), _MM_HINT_T1);
        _mm_prefetch((const char *)(r1 + CQK_NR + 16), _MM_HINT_T1);
        _mm512_storeu_si512((void *)dst, pair_avx512(_mm512_loadu_ps(r0), _mm512_loadu_ps(r1)));
        _mm512_storeu_si512((void *)(dst + 32), pair_avx512(_mm512_loadu_ps(r0 + 16), _mm512_loadu_ps(r1 + 16)));
    }
}
#endif

void cqk_bf16_pack_activations(cqk_bf16_kernel kernel, const float *x, int64_t k, int64_t cols, int64_t ldx,
                               uint16_t *packed) {
    const int64_t pairs = (k + 1) / 2;
    int64_t p = 0;
    (void)kernel;
#if CQK_X86
    if (cols == CQK_NR && kernel != CQK_BF16_SCALAR) {
        p = k / 2;
        pack_full_pairs_avx512(x, p, ldx, packed);
    }
#endif
    for (; p < pairs; p++) {
        uint16_t *dst = packed + p * CQK_NR * 2;
        memset(dst, 0, CQK_NR * 2 * 2);
        for (int64_t t = 0; t < 2 && 2 * p + t < k; t++) {
            const float *row = x + (2 * p + t) * ldx;
            for (int64_t j = 0; j < cols; j++) dst[2 * j + t] = cqk_f32_to_bf16(row[j]);
        }
    }
}

static inline float bf16_low(uint32_t pair) { uint32_t u = pair << 16; float f; memcpy(&f, &u, 4); return f; }
static inline float bf16_high(uint32_t pair) { uint32_t u = pair & 0xFFFF0000u; float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t load_pair(const uint16_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

static void tile_scalar(int64_t pairs, const uint16_t *a, const uint16_t *b, float *partial, int flags, int rows, int cols,
                        const float *bias, float *c, int64_t ldc) {
    float acc[CQK_MR * CQK_NR] = {0};
    if (flags & CQK_LOAD_PARTIAL) memcpy(acc, partial, sizeof acc);
    for (int64_t p = 0; p < pairs; p++) {
        const uint16_t *wa = a + p * CQK_MR * 2, *xb = b + p * CQK_NR * 2;
        for (int i = 0; i < rows; i++) {
            const uint32_t w = load_pair(wa + 2 * i);
            const float we = bf16_low(w), wo = bf16_high(w);
            float *row = acc + i * CQK_NR;
            for (int j = 0; j < cols; j++) {
                const uint32_t x = load_pair(xb + 2 * j);
                float s = row[j];
                s += wo * bf16_high(x);  /* exact product: one rounding, fused or not */
                s += we * bf16_low(x);
                row[j] = s;
            }
        }
    }
    if (flags & CQK_STORE_PARTIAL) { memcpy(partial, acc, sizeof acc); return; }
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) c[i * ldc + j] = bias ? acc[i * CQK_NR + j] + bias[i] : acc[i * CQK_NR + j];
}

#if CQK_X86

__attribute__((target("avx512f"), always_inline))
static inline void store_row(__m512 lo, __m512 hi, int row, int cols, const float *bias, float *c, int64_t ldc) {
    const __mmask16 m0 = cols >= 16 ? 0xFFFF : (__mmask16)((1u << cols) - 1);
    const __mmask16 m1 = cols >= 32 ? 0xFFFF : cols <= 16 ? 0 : (__mmask16)((1u << (cols - 16)) - 1);
    if (bias) {
        const __m512 b = _mm512_set1_ps(bias[row]);
        lo = _mm512_add_ps(lo, b);
        hi = _mm512_add_ps(hi, b);
    }
    _mm512_mask_storeu_ps(c + row * ldc, m0, lo);
    _mm512_mask_storeu_ps(c + row * ldc + 16, m1, hi);
}

#define ROWS8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define DECLARE_ROW(i) __m512 c##i##0 = _mm512_setzero_ps(), c##i##1 = _mm512_setzero_ps();
#define LOAD_ROW(i) c##i##0 = _mm512_loadu_ps(partial + CQK_NR * i); c##i##1 = _mm512_loadu_ps(partial + CQK_NR * i + 16);
#define SAVE_ROW(i) _mm512_storeu_ps(partial + CQK_NR * i, c##i##0); _mm512_storeu_ps(partial + CQK_NR * i + 16, c##i##1);
#define STORE_ROW(i) if (rows > i) store_row(c##i##0, c##i##1, i, cols, bias, c, ldc);
#define BEGIN_TILE ROWS8(DECLARE_ROW) if (flags & CQK_LOAD_PARTIAL) { ROWS8(LOAD_ROW) }
#define END_TILE if (flags & CQK_STORE_PARTIAL) { ROWS8(SAVE_ROW) } else { ROWS8(STORE_ROW) }

/* vdpbf16ps: per pair, two 64-byte loads of X, eight broadcasts of W, sixteen dot products. */
__attribute__((target("avx512f,avx512bw,avx512bf16")))
static void tile_avx512bf16(int64_t pairs, const uint16_t *a, const uint16_t *b, float *partial, int flags, int rows, int cols,
                            const float *bias, float *c, int64_t ldc) {
    BEGIN_TILE
    for (int64_t p = 0; p < pairs; p++) {
        const __m512bh x0 = (__m512bh)_mm512_loadu_si512((const void *)b);
        const __m512bh x1 = (__m512bh)_mm512_loadu_si512((const void *)(b + 32));
#define DP_ROW(i) { const __m512bh w = (__m512bh)_mm512_set1_epi32((int)load_pair(a + 2 * i)); \
            c##i##0 = _mm512_dpbf16_ps(c##i##0, x0, w); c##i##1 = _mm512_dpbf16_ps(c##i##1, x1, w); }
        ROWS8(DP_ROW)
#undef DP_ROW
        a += CQK_MR * 2;
        b += CQK_NR * 2;
    }
    END_TILE
}

/* Fallback: each bf16 expanded to fp32 (a shift or a mask of its 32-bit pair), odd K then even K by FMA. */
__attribute__((target("avx512f")))
static void tile_avx512(int64_t pairs, const uint16_t *a, const uint16_t *b, float *partial, int flags, int rows, int cols,
                        const float *bias, float *c, int64_t ldc) {
    BEGIN_TILE
    const __m512i high = _mm512_set1_epi32((int)0xFFFF0000u);
    for (int64_t p = 0; p < pairs; p++) {
        const __m512i x0 = _mm512_loadu_si512((const void *)b), x1 = _mm512_loadu_si512((const void *)(b + 32));
        const __m512 x0e = _mm512_castsi512_ps(_mm512_slli_epi32(x0, 16)), x0o = _mm512_castsi512_ps(_mm512_and_si512(x0, high));
        const __m512 x1e = _mm512_castsi512_ps(_mm512_slli_epi32(x1, 16)), x1o = _mm512_castsi512_ps(_mm512_and_si512(x1, high));
#define FMA_ROW(i) { const uint32_t w = load_pair(a + 2 * i); \
            const __m512 we = _mm512_set1_ps(bf16_low(w)), wo = _mm512_set1_ps(bf16_high(w)); \
            c##i##0 = _mm512_fmadd_ps(we, x0e, _mm512_fmadd_ps(wo, x0o, c##i##0)); \
            c##i##1 = _mm512_fmadd_ps(we, x1e, _mm512_fmadd_ps(wo, x1o, c##i##1)); }
        ROWS8(FMA_ROW)
#undef FMA_ROW
        a += CQK_MR * 2;
        b += CQK_NR * 2;
    }
    END_TILE
}

#endif /* CQK_X86 */

void cqk_bf16_tile(cqk_bf16_kernel kernel, int64_t pairs, const uint16_t *a, const uint16_t *b, float *partial, int flags,
                   int rows, int cols, const float *bias, float *c, int64_t ldc) {
    switch (kernel) {
#if CQK_X86
    case CQK_BF16_AVX512BF16: tile_avx512bf16(pairs, a, b, partial, flags, rows, cols, bias, c, ldc); return;
    case CQK_BF16_AVX512: tile_avx512(pairs, a, b, partial, flags, rows, cols, bias, c, ldc); return;
#endif
    default: tile_scalar(pairs, a, b, partial, flags, rows, cols, bias, c, ldc); return;
    }
}
