/*
 * quant_kernels.h - low-precision GEMM micro-kernels (int8 u8×s8 → int32, bf16 × bf16 → fp32) and the packing
 * they need, for C[M×N] = W[M×K] · X[K×N] with W the weights (output channels on the M side) and X the
 * activations (the K×N im2col side). The loops over tiles and threads live in Swift (YOLOKit/Quantization).
 *
 * Every kernel is compiled for its instruction set with __attribute__((target(...))) and chosen at run time,
 * so one binary runs on any x86-64 (and the scalar kernels on any CPU). Ask cqk_cpu_features() before
 * forcing a kernel: calling one the CPU lacks is an illegal instruction.
 *
 * Tiles are CQK_MR rows × CQK_NR columns. K is walked in steps: 4 values (a "quad", vpdpbusd) for int8,
 * 2 values (a "pair", vdpbf16ps) for bf16; K is zero-padded to a whole step in both packed operands, so
 * the padding adds exactly 0.
 *
 * Packed layouts (bytes; all zero-padded past M, N and K):
 *   int8 weights      panel p (rows 8p ..< 8p+8): quads × [8 rows × 4 s8]       = quads · 32 bytes per panel
 *   int8 activations  one column panel (≤ 32 columns): quads × [32 columns × 4 u8] = quads · 128 bytes
 *   bf16 weights      panel p: pairs × [8 rows × 2 bf16]                      = pairs · 32 bytes per panel
 *   bf16 activations  one column panel: pairs × [32 columns × 2 bf16]          = pairs · 128 bytes
 * In every group the lower K index comes first (lower address / lower half of the 32-bit lane).
 */
#ifndef QUANT_KERNELS_H
#define QUANT_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CQK_MR 8
#define CQK_NR 32

/* Instruction sets the CPU has and the OS has enabled the registers of (cpuid + xgetbv). */
enum {
    CQK_FEATURE_AVX2 = 1u << 0,        /* AVX2 + FMA, ymm state */
    CQK_FEATURE_AVX512BW = 1u << 1,    /* AVX512F + AVX512BW, zmm and mask state */
    CQK_FEATURE_AVX512VNNI = 1u << 2,  /* AVX512_VNNI (with AVX512BW) */
    CQK_FEATURE_AVX512BF16 = 1u << 3,  /* AVX512_BF16 (with AVX512BW) */
    CQK_FEATURE_AMXINT8 = 1u << 4,     /* AMX-TILE + AMX-INT8 (with AVX512BW), tile data enabled and granted */
    CQK_FEATURE_AMXBF16 = 1u << 5,     /* AMX-TILE + AMX-BF16 (with AVX512BW), likewise */
};
/* On Linux each call asks the kernel for this process's permission to use AMX tile data
 * (arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)); the AMX bits are set only when it is granted (asking again is harmless). */
uint32_t cqk_cpu_features(void);

typedef enum { CQK_INT8_SCALAR = 0, CQK_INT8_AVX2 = 1, CQK_INT8_AVX512BW = 2, CQK_INT8_VNNI = 3, CQK_INT8_AMX = 4 } cqk_int8_kernel;
typedef enum { CQK_BF16_SCALAR = 0, CQK_BF16_AVX512 = 1, CQK_BF16_AVX512BF16 = 2, CQK_BF16_AMX = 3 } cqk_bf16_kernel;

/* ---- int8: C[M×N] = W_s8[M×K] · X_u8[K×N], int32 accumulation (exact while 255 · 128 · K < 2^31, K ≤ 65792) ---- */

/* Packs W (row-major, leading dimension ldw) into ceil(m / 8) panels of quads = ceil(k / 4) quads, and writes
 * row_sums[i] = Σ_k W[i, k] (m values) for the zero-point correction. */
void cqk_i8_pack_weights(const int8_t *w, int64_t m, int64_t k, int64_t ldw, int8_t *packed, int32_t *row_sums);

/* Packs columns 0 ..< cols (cols ≤ 32) of X (k rows, leading dimension ldx) into one column panel. */
void cqk_i8_pack_activations(const uint8_t *x, int64_t k, int64_t cols, int64_t ldx, uint8_t *packed);

/* Per-row terms of the dequantizing epilogue, each pointing at the tile's first row:
 * out[i, j] = fma((float)(acc[i, j] − offset[i]), scale[i], bias[i]) (bias NULL: 0), with
 * offset = z_x · Σ_k W[i, k] and scale = scale_w[i] · scale_x; then, where leaky is non-zero, Darknet's leaky ReLU
 * as YOLOKit's Activation.leaky computes it: out ≤ 0 → out · 0.1f. */
typedef struct {
    const int32_t *offset;
    const float *scale;
    const float *bias;
    int leaky;
} cqk_i8_dequantization;

/* K blocking: a tile may be computed over several ranges of quads (a and b then point at the range's first
 * quad). CQK_LOAD_PARTIAL starts from the int32 sums in partial (8 × 32, row-major) instead of zero;
 * CQK_STORE_PARTIAL leaves the sums in partial instead of writing C. */
enum { CQK_LOAD_PARTIAL = 1, CQK_STORE_PARTIAL = 2 };

/* One tile: rows × cols (≤ 8 × 32) of C from a packed weight panel and a packed activation panel, quads deep.
 * dq NULL: c is int32_t* and gets the raw accumulators; else c is float* and gets the epilogue above.
 * Only rows × cols of C (leading dimension ldc, in elements) are written. */
void cqk_i8_tile(cqk_int8_kernel kernel, int64_t quads, const int8_t *a, const uint8_t *b, int32_t *partial, int flags,
                 int rows, int cols, const cqk_i8_dequantization *dq, void *c, int64_t ldc);

/* ---- bf16: C[M×N] = W_bf16[M×K] · bf16(X_f32[K×N]) + bias, fp32 accumulation ---- */

/* fp32 → bf16 bits, round to nearest even; NaN stays a (quiet) NaN, overflow rounds to ±inf. */
uint16_t cqk_f32_to_bf16(float x);

/* Packs fp32 W (row-major, ldw) as bf16 into ceil(m / 8) panels of pairs = ceil(k / 2) pairs. */
void cqk_bf16_pack_weights(const float *w, int64_t m, int64_t k, int64_t ldw, uint16_t *packed);

/* Converts and packs columns 0 ..< cols (≤ 32) of fp32 X (k rows, ldx) into one bf16 column panel; with AVX512F
 * vectors unless kernel is CQK_BF16_SCALAR (same bytes either way). */
void cqk_bf16_pack_activations(cqk_bf16_kernel kernel, const float *x, int64_t k, int64_t cols, int64_t ldx,
                               uint16_t *packed);

/* One tile: c[i, j] = Σ_k a · b (+ bias[i] when bias is not NULL; bias points at the tile's first row).
 * K blocking as for int8, with fp32 sums in partial (8 × 32). */
void cqk_bf16_tile(cqk_bf16_kernel kernel, int64_t pairs, const uint16_t *a, const uint16_t *b, float *partial, int flags,
                   int rows, int cols, const float *bias, float *c, int64_t ldc);

/* ---- The activation side of an int8 conv (quantized_activations.c) ---- */

/* q[i] = clamp(round_half_even(x[i] / scale) + zero_point, 0, 255), NaN → zero_point: ActivationQuantization's
 * definition, with AVX-512F when vector is non-zero (ask cqk_cpu_features() for CQK_FEATURE_AVX512BW first). */
void cqk_quantize_u8(const float *x, int64_t count, float scale, uint8_t zero_point, int vector, uint8_t *q);

/* Rows row_begin ..< row_end and columns col_begin ..< col_end of the im2col matrix X [C·k·k, out_height·out_width]
 * of input [C, height, width], into columns (row r − row_begin at (r − row_begin) · ld): row r = (c·k + ky)·k + kx,
 * column p = oy · out_width + ox holds input[c, oy·stride − pad + ky, ox·stride − pad + kx], outside the input the
 * zero point (uint8) or 0 (fp32). vector non-zero: AVX512BW for stride 1 (CQK_FEATURE_AVX512BW); the same values
 * either way. A block of columns is what a GEMM packs next, while it is in cache. */
void cqk_u8_im2col(const uint8_t *input, int64_t height, int64_t width, int64_t kernel, int64_t stride, int64_t pad,
                   int64_t out_width, uint8_t zero_point, int vector, int64_t row_begin, int64_t row_end, int64_t col_begin,
                   int64_t col_end, uint8_t *columns, int64_t ld);
void cqk_f32_im2col(const float *input, int64_t height, int64_t width, int64_t kernel, int64_t stride, int64_t pad,
                    int64_t out_width, int vector, int64_t row_begin, int64_t row_end, int64_t col_begin, int64_t col_end,
                    float *columns, int64_t ld);

/* ---- AMX (amx_kernels.c): blocks of up to 32 × 32 of C from four accumulator tiles, over all of K ----
 *
 * K is walked in chunks of 64 bytes: 64 int8 values or 32 bf16 values. Weights are packed in tiles of 16 rows:
 * ceil(m / 16) tiles × chunks × [16 rows × 64 bytes] (CQK_AMX_TILE_BYTES each), zero-padded past m and k. The
 * activations are the column panels above (cqk_i8_pack_activations / cqk_bf16_pack_activations) with the K steps
 * zero-padded on to chunks · 16 (quads or pairs): chunks · 2048 bytes a panel. Both GEMMs need the matching
 * CQK_FEATURE_AMX* bit; the tile config is loaded and released within each call. */
#define CQK_AMX_ROWS 16
#define CQK_AMX_TILE_BYTES 1024

void cqk_amx_i8_pack_weights(const int8_t *w, int64_t m, int64_t k, int64_t ldw, int8_t *packed);
void cqk_amx_bf16_pack_weights(const float *w, int64_t m, int64_t k, int64_t ldw, uint16_t *packed);
void cqk_amx_i8_pack_activations(const uint8_t *x, int64_t k, int64_t cols, int64_t ldx, uint8_t *packed);
void cqk_amx_bf16_pack_activations(const float *x, int64_t k, int64_t cols, int64_t ldx, uint16_t *packed);

/* For `panels` consecutive column panels (b, then every panel_stride elements; C's columns 32p ..< 32p + 32,
 * the last ones cut to `columns` in all), rows (≤ 32) rows of C from the two weight tiles at a (the second
 * right after the first's chunks): int8 as cqk_i8_tile (dq NULL: int32 c), bf16 with bias as cqk_bf16_tile. */
void cqk_amx_i8_blocks(int64_t chunks, const int8_t *a, int rows, const uint8_t *b, int64_t panels, int64_t panel_stride,
                       int64_t columns, const cqk_i8_dequantization *dq, void *c, int64_t ldc);
void cqk_amx_bf16_blocks(int64_t chunks, const uint16_t *a, int rows, const uint16_t *b, int64_t panels,
                         int64_t panel_stride, int64_t columns, const float *bias, float *c, int64_t ldc);

/* ---- IEEE half → float (half_kernels.c): h[0..<n] (native byte order) into f; exact, as every half is a float ---- */
void cqk_half_to_float(const uint16_t *h, float *f, int64_t n);

/* ---- fp32 SiLU for training (silu_kernels.c): the bits of the scalar formulas on the C library's expf ---- */

/* y[i] = expf(x[i]). */
void cqk_expf(const float *x, float *y, int64_t n);
/* y[i] = x[i] · σ(x[i]), σ(v) = 1 / (1 + expf(−v)). */
void cqk_silu_forward(const float *x, float *y, int64_t n);
/* dx[i] = dy[i] · σ · (1 + x[i] · (1 − σ)), σ = σ(x[i]). */
void cqk_silu_backward(const float *x, const float *dy, float *dx, int64_t n);
/* As cqk_silu_backward with x[i] = gamma · h[i] + beta (a BatchNorm's output rebuilt from its x̂). */
void cqk_silu_backward_affine(const float *h, float gamma, float beta, const float *dy, float *dx, int64_t n);

/* ---- fp32 packing (pack_kernels.c): 8 × 8 register transposes, AVX2 chosen at run time; the same bits ---- */

/* dst[j·rows + i] = src[i·lds + j] for rows row0 ≤ i < row1 (of rows) and columns j < cols. With rows = 8 it packs
 * one A panel of the Swift GEMM's 8 × 32 kernel. */
void cqk_transpose(const float *src, int64_t rows, int64_t cols, int64_t lds, float *dst, int64_t row0, int64_t row1);

#ifdef __cplusplus
}
#endif

#endif
