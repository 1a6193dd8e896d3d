/* pack_kernels.c - a matrix transpose by 8 × 8 register transposes, for the fp32 GEMM's packing: the A panels of
 * the Swift GEMM (8 rows interleaved, dst[k·8 + i] = a[i·lda + k], is the transpose of the 8 × depth panel) and the
 * backward passes' dYᵀ and colsᵀ. Swift's SIMD shuffles (`evenHalf`, `oddHalf`) compile to out-of-line lane-by-lane code, so the scalar
 * loops these replace ran one scattered store per float: ~8 % of a training step (perf, fall checkpoint, batch 8
 * at 160²). Pure data movement: the same bits as the scalar loops. AVX2 (chosen at run time); scalar otherwise. */
#include "quant_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CQK_X86 1

/* Rows r[0..7] (8 floats each) → columns: out + j·ldo receives column j. The classic unpack / shuffle / lane-swap
 * sequence: 24 shuffles for 64 floats. */
__attribute__((target("avx2")))
static inline void transpose8x8(const float *src, int64_t lds, float *out, int64_t ldo) {
    __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + lds), r2 = _mm256_loadu_ps(src + 2 * lds),
           r3 = _mm256_loadu_ps(src + 3 * lds), r4 = _mm256_loadu_ps(src + 4 * lds), r5 = _mm256_loadu_ps(src + 5 * lds),
           r6 = _mm256_loadu_ps(src + 6 * lds), r7 = _mm256_loadu_ps(src + 7 * lds);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    /* s0 = rows 0–3 of columns 0 | 4, s1 = columns 1 | 5, s2 = 2 | 6, s3 = 3 | 7; s4–s7 the same for rows 4–7. */
    __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)), s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)), s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0)), s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0)), s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
    _mm256_storeu_ps(out, _mm256_permute2f128_ps(s0, s4, 0x20));
    _mm256_storeu_ps(out + ldo, _mm256_permute2f128_ps(s1, s5, 0x20));
    _mm256_storeu_ps(out + 2 * ldo, _mm256_permute2f128_ps(s2, s6, 0x20));
    _mm256_storeu_ps(out + 3 * ldo, _mm256_permute2f128_ps(s3, s7, 0x20));
    _mm256_storeu_ps(out + 4 * ldo, _mm256_permute2f128_ps(s0, s4, 0x31));
    _mm256_storeu_ps(out + 5 * ldo, _mm256_permute2f128_ps(s1, s5, 0x31));
    _mm256_storeu_ps(out + 6 * ldo, _mm256_permute2f128_ps(s2, s6, 0x31));
    _mm256_storeu_ps(out + 7 * ldo, _mm256_permute2f128_ps(s3, s7, 0x31));
}

__attribute__((target("avx2")))
static void transpose_avx2(const float *src, int64_t rows, int64_t cols, int64_t lds, float *dst, int64_t i0, int64_t i1) {
    /* Blocks of 8 rows × 8 columns; a 64-row strip at a time keeps its 8-float pieces of dst in cache lines. */
    for (int64_t is = i0; is < i1; is += 64) {
        const int64_t ie = is + 64 < i1 ? is + 64 : i1;
        for (int64_t j = 0; j + 8 <= cols; j += 8) {
            int64_t i = is;
            for (; i + 8 <= ie; i += 8) transpose8x8(src + i * lds + j, lds, dst + j * rows + i, rows);
            for (; i < ie; i++)
                for (int64_t jj = j; jj < j + 8; jj++) dst[jj * rows + i] = src[i * lds + jj];
        }
        for (int64_t j = cols & ~(int64_t)7; j < cols; j++)
            for (int64_t i = is; i < ie; i++) dst[j * rows + i] = src[i * lds + j];
    }
}

static int has_avx2(void) {
    static int state = -1; /* benign race: every thread computes the same value */
    if (state < 0) state = (cqk_cpu_features() & CQK_FEATURE_AVX2) != 0;
    return state;
}
#endif

void cqk_transpose(const float *src, int64_t rows, int64_t cols, int64_t lds, float *dst, int64_t row0, int64_t row1) {
#if CQK_X86
    if (has_avx2()) { transpose_avx2(src, rows, cols, lds, dst, row0, row1); return; }
#endif
    for (int64_t i = row0; i < row1; i++)
        for (int64_t j = 0; j < cols; j++) dst[j * rows + i] = src[i * lds + j];
}
