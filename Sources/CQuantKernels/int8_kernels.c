/* int8_kernels.c - u8 (activations) × s8 (weights) → int32 tiles of 8 × 32, four K values per step, and the
 * packing of both operands. Four kernels with identical results: VNNI (vpdpbusd), AVX512BW and AVX2 (bytes
 * widened to int16 and multiplied with vpmaddwd: each int16 product is at most 255 · 128 in magnitude and a
 * pair sum 65280, so nothing saturates, unlike vpmaddubsw), and scalar C. The dequantizing epilogue is one
 * fused multiply-add per element in every kernel (fmaf in C), and the optional leaky ReLU one compare and one
 * multiply, so the float outputs are identical too. */
#include "quant_kernels.h"
#include <math.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CQK_X86 1
#endif

void cqk_i8_pack_weights(const int8_t *w, int64_t m, int64_t k, int64_t ldw, int8_t *packed, int32_t *row_sums) {
    const int64_t quads = (k + 3) / 4, panels = (m + CQK_MR - 1) / CQK_MR;
    memset(packed, 0, (size_t)(panels * quads * CQK_MR * 4));
    for (int64_t i = 0; i < m; i++) {
        const int8_t *row = w + i * ldw;
        int8_t *dst = packed + (i / CQK_MR) * quads * CQK_MR * 4 + (i % CQK_MR) * 4;
        int32_t sum = 0;
        for (int64_t p = 0; p < k; p++) {
            dst[(p / 4) * CQK_MR * 4 + p % 4] = row[p];
            sum += row[p];
        }
        row_sums[i] = sum;
    }
}

void cqk_i8_pack_activations(const uint8_t *x, int64_t k, int64_t cols, int64_t ldx, uint8_t *packed) {
    const int64_t quads = (k + 3) / 4;
    for (int64_t q = 0; q < quads; q++) {
        uint8_t *dst = packed + q * CQK_NR * 4;
        const int64_t p0 = 4 * q;
#if CQK_X86
        if (cols == CQK_NR && p0 + 4 <= k) {
            /* Four rows of 32 bytes interleaved into 32 groups of 4 (SSE2, baseline x86-64). */
            for (int half = 0; half < 2; half++) {
                const int64_t c0 = 16 * half;
                __m128i r0 = _mm_loadu_si128((const __m128i *)(x + p0 * ldx + c0));
                __m128i r1 = _mm_loadu_si128((const __m128i *)(x + (p0 + 1) * ldx + c0));
                __m128i r2 = _mm_loadu_si128((const __m128i *)(x + (p0 + 2) * ldx + c0));
                __m128i r3 = _mm_loadu_si128((const __m128i *)(x + (p0 + 3) * ldx + c0));
                __m128i lo01 = _mm_unpacklo_epi8(r0, r1), hi01 = _mm_unpackhi_epi8(r0, r1);
                __m128i lo23 = _mm_unpacklo_epi8(r2, r3), hi23 = _mm_unpackhi_epi8(r2, r3);
                uint8_t *d = dst + c0 * 4;
                _mm_storeu_si128((__m128i *)(d + 0), _mm_unpacklo_epi16(lo01, lo23));
                _mm_storeu_si128((__m128i *)(d + 16), _mm_unpackhi_epi16(lo01, lo23));
                _mm_storeu_si128((__m128i *)(d + 32), _mm_unpacklo_epi16(hi01, hi23));
                _mm_storeu_si128((__m128i *)(d + 48), _mm_unpackhi_epi16(hi01, hi23));
            }
            continue;
        }
#endif
        memset(dst, 0, CQK_NR * 4);
        for (int64_t t = 0; t < 4 && p0 + t < k; t++) {
            const uint8_t *row = x + (p0 + t) * ldx;
            for (int64_t j = 0; j < cols; j++) dst[j * 4 + t] = row[j];
        }
    }
}

/* The epilogue of one element (the scalar definition every vector path matches). */
static inline float dequantize(int32_t acc, const cqk_i8_dequantization *dq, int row) {
    const float bias = dq->bias ? dq->bias[row] : 0.0f;
    const float y = fmaf((float)(int32_t)((uint32_t)acc - (uint32_t)dq->offset[row]), dq->scale[row], bias);
    if (!dq->leaky) return y;
    const float v = y + 0.0f;  /* as Activation.leaky after a bias of 0: −0 becomes +0 */
    return v <= 0.0f ? v * 0.1f : v;
}

/* Writes rows × cols of an accumulator tile acc[8][32]. */
static void store_tile(const int32_t *acc, int rows, int cols, const cqk_i8_dequantization *dq, void *c, int64_t ldc) {
    for (int i = 0; i < rows; i++) {
        if (dq) {
            float *dst = (float *)c + i * ldc;
            for (int j = 0; j < cols; j++) dst[j] = dequantize(acc[i * CQK_NR + j], dq, i);
        } else {
            int32_t *dst = (int32_t *)c + i * ldc;
            for (int j = 0; j < cols; j++) dst[j] = acc[i * CQK_NR + j];
        }
    }
}

static void tile_scalar(int64_t quads, const int8_t *a, const uint8_t *b, int32_t *partial, int flags, int rows, int cols,
                        const cqk_i8_dequantization *dq, void *c, int64_t ldc) {
    int32_t acc[CQK_MR * CQK_NR] = {0};
    if (flags & CQK_LOAD_PARTIAL) memcpy(acc, partial, sizeof acc);
    for (int64_t q = 0; q < quads; q++) {
        const int8_t *wa = a + q * CQK_MR * 4;
        const uint8_t *xb = b + q * CQK_NR * 4;
        for (int i = 0; i < rows; i++) {
            const int32_t w0 = wa[4 * i], w1 = wa[4 * i + 1], w2 = wa[4 * i + 2], w3 = wa[4 * i + 3];
            int32_t *row = acc + i * CQK_NR;
            for (int j = 0; j < cols; j++)
                row[j] += w0 * xb[4 * j] + w1 * xb[4 * j + 1] + w2 * xb[4 * j + 2] + w3 * xb[4 * j + 3];
        }
    }
    if (flags & CQK_STORE_PARTIAL) memcpy(partial, acc, sizeof acc);
    else store_tile(acc, rows, cols, dq, c, ldc);
}

#if CQK_X86

static inline int32_t load_quad(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* One row of a tile: 32 accumulators in two zmm, masked to cols. */
__attribute__((target("avx512f"), always_inline))
static inline void store_row_avx512(__m512i lo, __m512i hi, int row, int cols, const cqk_i8_dequantization *dq,
                                    void *c, int64_t ldc) {
    const __mmask16 m0 = cols >= 16 ? 0xFFFF : (__mmask16)((1u << cols) - 1);
    const __mmask16 m1 = cols >= 32 ? 0xFFFF : cols <= 16 ? 0 : (__mmask16)((1u << (cols - 16)) - 1);
    if (dq) {
        const __m512i offset = _mm512_set1_epi32(dq->offset[row]);
        const __m512 scale = _mm512_set1_ps(dq->scale[row]), bias = _mm512_set1_ps(dq->bias ? dq->bias[row] : 0.0f);
        float *dst = (float *)c + row * ldc;
        __m512 y0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(lo, offset)), scale, bias);
        __m512 y1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(hi, offset)), scale, bias);
        if (dq->leaky) {
            const __m512 zero = _mm512_setzero_ps(), slope = _mm512_set1_ps(0.1f);
            y0 = _mm512_add_ps(y0, zero);  /* −0 → +0, as Activation.leaky after a bias of 0 */
            y1 = _mm512_add_ps(y1, zero);
            y0 = _mm512_mask_mul_ps(y0, _mm512_cmp_ps_mask(y0, zero, _CMP_LE_OQ), y0, slope);
            y1 = _mm512_mask_mul_ps(y1, _mm512_cmp_ps_mask(y1, zero, _CMP_LE_OQ), y1, slope);
        }
        _mm512_mask_storeu_ps(dst, m0, y0);
        _mm512_mask_storeu_ps(dst + 16, m1, y1);
    } else {
        int32_t *dst = (int32_t *)c + row * ldc;
        _mm512_mask_storeu_epi32(dst, m0, lo);
        _mm512_mask_storeu_epi32(dst + 16, m1, hi);
    }
}

#define ROWS8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define DECLARE_ROW(i) __m512i c##i##0 = _mm512_setzero_si512(), c##i##1 = _mm512_setzero_si512();
#define LOAD_ROW(i) c##i##0 = _mm512_loadu_si512((const void *)(partial + CQK_NR * i)); \
    c##i##1 = _mm512_loadu_si512((const void *)(partial + CQK_NR * i + 16));
#define SAVE_ROW(i) _mm512_storeu_si512((void *)(partial + CQK_NR * i), c##i##0); \
    _mm512_storeu_si512((void *)(partial + CQK_NR * i + 16), c##i##1);
#define STORE_ROW(i) if (rows > i) store_row_avx512(c##i##0, c##i##1, i, cols, dq, c, ldc);
#define BEGIN_TILE ROWS8(DECLARE_ROW) if (flags & CQK_LOAD_PARTIAL) { ROWS8(LOAD_ROW) }
#define END_TILE if (flags & CQK_STORE_PARTIAL) { ROWS8(SAVE_ROW) } else { ROWS8(STORE_ROW) }

/* VNNI: per quad, two 64-byte loads of X (32 columns × 4), eight broadcasts of W, sixteen vpdpbusd. */
__attribute__((target("avx512f,avx512bw,avx512vnni")))
static void tile_vnni(int64_t quads, const int8_t *a, const uint8_t *b, int32_t *partial, int flags, int rows, int cols,
                      const cqk_i8_dequantization *dq, void *c, int64_t ldc) {
    BEGIN_TILE
    for (int64_t q = 0; q < quads; q++) {
        const __m512i x0 = _mm512_loadu_si512((const void *)b), x1 = _mm512_loadu_si512((const void *)(b + 64));
#define VNNI_ROW(i) { const __m512i w = _mm512_set1_epi32(load_quad(a + 4 * i)); \
            c##i##0 = _mm512_dpbusd_epi32(c##i##0, x0, w); c##i##1 = _mm512_dpbusd_epi32(c##i##1, x1, w); }
        ROWS8(VNNI_ROW)
#undef VNNI_ROW
        a += CQK_MR * 4;
        b += CQK_NR * 4;
    }
    END_TILE
}

/* AVX512BW without VNNI: X's bytes split into even / odd int16 lanes (zero-extended), W's likewise
 * (sign-extended), two vpmaddwd per vector: (x0·w0 + x2·w2) + (x1·w1 + x3·w3) per 32-bit lane. */
__attribute__((target("avx512f,avx512bw")))
static void tile_avx512bw(int64_t quads, const int8_t *a, const uint8_t *b, int32_t *partial, int flags, int rows, int cols,
                          const cqk_i8_dequantization *dq, void *c, int64_t ldc) {
    BEGIN_TILE
    const __m512i low_bytes = _mm512_set1_epi16(0x00FF);
    for (int64_t q = 0; q < quads; q++) {
        const __m512i x0 = _mm512_loadu_si512((const void *)b), x1 = _mm512_loadu_si512((const void *)(b + 64));
        const __m512i x0e = _mm512_and_si512(x0, low_bytes), x0o = _mm512_srli_epi16(x0, 8);
        const __m512i x1e = _mm512_and_si512(x1, low_bytes), x1o = _mm512_srli_epi16(x1, 8);
#define BW_ROW(i) { const __m512i w = _mm512_set1_epi32(load_quad(a + 4 * i)); \
            const __m512i we = _mm512_srai_epi16(_mm512_slli_epi16(w, 8), 8), wo = _mm512_srai_epi16(w, 8); \
            c##i##0 = _mm512_add_epi32(c##i##0, _mm512_add_epi32(_mm512_madd_epi16(x0e, we), _mm512_madd_epi16(x0o, wo))); \
            c##i##1 = _mm512_add_epi32(c##i##1, _mm512_add_epi32(_mm512_madd_epi16(x1e, we), _mm512_madd_epi16(x1o, wo))); }
        ROWS8(BW_ROW)
#undef BW_ROW
        a += CQK_MR * 4;
        b += CQK_NR * 4;
    }
    END_TILE
}

/* Eight accumulators of one row, columns col0 ..< col0 + 8, masked to cols (through a small buffer). */
__attribute__((target("avx2,fma"), always_inline))
static inline void store8_avx2(__m256i acc, int row, int col0, int cols, const cqk_i8_dequantization *dq,
                               void *c, int64_t ldc) {
    const int n = cols - col0;
    if (n <= 0) return;
    if (dq) {
        __m256 v = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(acc, _mm256_set1_epi32(dq->offset[row]))),
                                   _mm256_set1_ps(dq->scale[row]), _mm256_set1_ps(dq->bias ? dq->bias[row] : 0.0f));
        if (dq->leaky) {
            v = _mm256_add_ps(v, _mm256_setzero_ps());  /* −0 → +0, as Activation.leaky after a bias of 0 */
            v = _mm256_blendv_ps(v, _mm256_mul_ps(v, _mm256_set1_ps(0.1f)), _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LE_OQ));
        }
        float *dst = (float *)c + row * ldc + col0;
        if (n >= 8) { _mm256_storeu_ps(dst, v); return; }
        float t[8];
        _mm256_storeu_ps(t, v);
        memcpy(dst, t, (size_t)n * 4);
    } else {
        int32_t *dst = (int32_t *)c + row * ldc + col0;
        if (n >= 8) { _mm256_storeu_si256((__m256i *)dst, acc); return; }
        int32_t t[8];
        _mm256_storeu_si256((__m256i *)t, acc);
        memcpy(dst, t, (size_t)n * 4);
    }
}

/* AVX2: the BW kernel's arithmetic on ymm, as four sub-tiles of 4 rows × 16 columns (8 accumulators each,
 * which leaves room in the 16 ymm for X and W). */
__attribute__((target("avx2,fma")))
static void tile_avx2(int64_t quads, const int8_t *a, const uint8_t *b, int32_t *partial, int flags, int rows, int cols,
                      const cqk_i8_dequantization *dq, void *c, int64_t ldc) {
    const __m256i low_bytes = _mm256_set1_epi16(0x00FF);
    for (int r0 = 0; r0 < rows; r0 += 4) {
        for (int j0 = 0; j0 < cols; j0 += 16) {
            __m256i acc[4][2];
            int32_t *part = partial + r0 * CQK_NR + j0;
            for (int i = 0; i < 4; i++) {
                if (flags & CQK_LOAD_PARTIAL) {
                    acc[i][0] = _mm256_loadu_si256((const __m256i *)(part + i * CQK_NR));
                    acc[i][1] = _mm256_loadu_si256((const __m256i *)(part + i * CQK_NR + 8));
                } else {
                    acc[i][0] = acc[i][1] = _mm256_setzero_si256();
                }
            }
            const int8_t *pa = a + 4 * r0;
            const uint8_t *pb = b + 4 * j0;
            for (int64_t q = 0; q < quads; q++) {
                const __m256i x0 = _mm256_loadu_si256((const __m256i *)pb), x1 = _mm256_loadu_si256((const __m256i *)(pb + 32));
                const __m256i x0e = _mm256_and_si256(x0, low_bytes), x0o = _mm256_srli_epi16(x0, 8);
                const __m256i x1e = _mm256_and_si256(x1, low_bytes), x1o = _mm256_srli_epi16(x1, 8);
                for (int i = 0; i < 4; i++) {
                    const __m256i w = _mm256_set1_epi32(load_quad(pa + 4 * i));
                    const __m256i we = _mm256_srai_epi16(_mm256_slli_epi16(w, 8), 8), wo = _mm256_srai_epi16(w, 8);
                    acc[i][0] = _mm256_add_epi32(acc[i][0], _mm256_add_epi32(_mm256_madd_epi16(x0e, we), _mm256_madd_epi16(x0o, wo)));
                    acc[i][1] = _mm256_add_epi32(acc[i][1], _mm256_add_epi32(_mm256_madd_epi16(x1e, we), _mm256_madd_epi16(x1o, wo)));
                }
                pa += CQK_MR * 4;
                pb += CQK_NR * 4;
            }
            if (flags & CQK_STORE_PARTIAL) {
                for (int i = 0; i < 4; i++) {
                    _mm256_storeu_si256((__m256i *)(part + i * CQK_NR), acc[i][0]);
                    _mm256_storeu_si256((__m256i *)(part + i * CQK_NR + 8), acc[i][1]);
                }
                continue;
            }
            for (int i = 0; i < 4 && r0 + i < rows; i++) {
                store8_avx2(acc[i][0], r0 + i, j0, cols, dq, c, ldc);
                store8_avx2(acc[i][1], r0 + i, j0 + 8, cols, dq, c, ldc);
            }
        }
    }
}

#endif /* CQK_X86 */

void cqk_i8_tile(cqk_int8_kernel kernel, int64_t quads, const int8_t *a, const uint8_t *b, int32_t *partial, int flags,
                 int rows, int cols, const cqk_i8_dequantization *dq, void *c, int64_t ldc) {
    switch (kernel) {
#if CQK_X86
    case CQK_INT8_VNNI: tile_vnni(quads, a, b, partial, flags, rows, cols, dq, c, ldc); return;
    case CQK_INT8_AVX512BW: tile_avx512bw(quads, a, b, partial, flags, rows, cols, dq, c, ldc); return;
    case CQK_INT8_AVX2: tile_avx2(quads, a, b, partial, flags, rows, cols, dq, c, ldc); return;
#endif
    default: tile_scalar(quads, a, b, partial, flags, rows, cols, dq, c, ldc); return;
    }
}
