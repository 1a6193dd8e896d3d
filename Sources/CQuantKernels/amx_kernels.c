/* amx_kernels.c - the int8 and bf16 GEMM blocks on AMX tiles (Intel Sapphire Rapids and later), and their packing.
 *
 * One call computes blocks of C of up to 32 rows (two 16-row weight tiles A0, A1) × 32 columns (two 16-column
 * activation tiles B0, B1) into four accumulator tiles, over all of K, for a run of consecutive column panels:
 * tile config is loaded once per call (it is per-thread state) and released at the end, so that the OS need not
 * save 8 KB of tile data at every context switch after we are done.
 *
 * int8 uses tdpbsud (s8 A × u8 B → int32), so the weights are A, the activations B and C comes out as
 * [output channel, pixel], like the other kernels; bf16 uses tdpbf16ps. The activation panels are the VNNI
 * kernels' own layout (quads / pairs × 32 columns, 128 bytes a K step): a B tile is 16 K steps of one 16-column
 * half of it, loaded at stride 128 — only the K steps are padded further, to whole 64-byte chunks.
 *
 * Epilogues: each accumulator tile is stored to a 1 KB buffer and written row by row with the other AVX-512
 * kernels' arithmetic (int8: fma((float)(acc − offset), scale, bias), then the leaky ReLU where asked; bf16:
 * acc + bias), so the int8 results equal theirs bit for bit. */
#include "quant_kernels.h"
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define CQK_AMX 1
#endif

/* Weights: ceil(m / 16) tiles of 16 rows, each ceil(k / per_chunk) chunks of [16 rows × 64 bytes], zero-padded. */
static void pack_weight_tiles(const void *w, int64_t m, int64_t k, int64_t ldw, int element, int64_t per_chunk,
                              void (*convert)(const void *src, void *dst, int64_t count), uint8_t *packed) {
    const int64_t chunks = (k + per_chunk - 1) / per_chunk, tiles = (m + CQK_AMX_ROWS - 1) / CQK_AMX_ROWS;
    memset(packed, 0, (size_t)(tiles * chunks * CQK_AMX_TILE_BYTES));
    for (int64_t i = 0; i < m; i++) {
        const uint8_t *row = (const uint8_t *)w + i * ldw * element;
        uint8_t *dst = packed + (i / CQK_AMX_ROWS) * chunks * CQK_AMX_TILE_BYTES + (i % CQK_AMX_ROWS) * 64;
        for (int64_t q = 0; q < chunks; q++) {
            const int64_t p0 = q * per_chunk, count = k - p0 < per_chunk ? k - p0 : per_chunk;
            convert(row + p0 * element, dst + q * CQK_AMX_TILE_BYTES, count);
        }
    }
}

static void copy_s8(const void *src, void *dst, int64_t count) { memcpy(dst, src, (size_t)count); }

static void convert_bf16(const void *src, void *dst, int64_t count) {
    const float *s = (const float *)src;
    uint16_t *d = (uint16_t *)dst;
    for (int64_t p = 0; p < count; p++) d[p] = cqk_f32_to_bf16(s[p]);
}

void cqk_amx_i8_pack_weights(const int8_t *w, int64_t m, int64_t k, int64_t ldw, int8_t *packed) {
    pack_weight_tiles(w, m, k, ldw, 1, 64, copy_s8, (uint8_t *)packed);
}

void cqk_amx_bf16_pack_weights(const float *w, int64_t m, int64_t k, int64_t ldw, uint16_t *packed) {
    pack_weight_tiles(w, m, k, ldw, 4, 32, convert_bf16, (uint8_t *)packed);
}

void cqk_amx_i8_pack_activations(const uint8_t *x, int64_t k, int64_t cols, int64_t ldx, uint8_t *packed) {
    const int64_t quads = (k + 3) / 4, chunks = (k + 63) / 64;
    cqk_i8_pack_activations(x, k, cols, ldx, packed);
    memset(packed + quads * CQK_NR * 4, 0, (size_t)((chunks * 16 - quads) * CQK_NR * 4));
}

void cqk_amx_bf16_pack_activations(const float *x, int64_t k, int64_t cols, int64_t ldx, uint16_t *packed) {
    const int64_t pairs = (k + 1) / 2, chunks = (k + 31) / 32;
    cqk_bf16_pack_activations(CQK_BF16_AVX512BF16, x, k, cols, ldx, packed);
    memset(packed + pairs * CQK_NR * 2, 0, (size_t)((chunks * 16 - pairs) * CQK_NR * 4));
}

#if CQK_AMX

/* The 64-byte tile configuration of palette 1 (Intel SDM, LDTILECFG). */
typedef struct {
    uint8_t palette;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t bytes_per_row[16];
    uint8_t rows[16];
} tile_config;

/* Tiles 0-3: C (row tile r, column tile h at 2r + h), 4-5: A0, A1, 6-7: B0, B1; every one 16 rows × 64 bytes. */
__attribute__((target("amx-tile")))
static void configure_tiles(void) {
    tile_config config;
    memset(&config, 0, sizeof config);
    config.palette = 1;
    for (int t = 0; t < 8; t++) {
        config.rows[t] = 16;
        config.bytes_per_row[t] = 64;
    }
    _tile_loadconfig(&config);
}

static inline __mmask16 column_mask(int cols) { return cols >= 16 ? 0xFFFF : cols <= 0 ? 0 : (__mmask16)((1u << cols) - 1); }

/* rows × cols (≤ 16 × 16) of an int32 accumulator tile, stored at acc[16][16]. */
__attribute__((target("avx512f")))
static void store_i8_tile(const int32_t *acc, int row0, int rows, int cols, const cqk_i8_dequantization *dq, void *c,
                          int64_t ldc) {
    const __mmask16 mask = column_mask(cols);
    for (int i = 0; i < rows; i++) {
        const __m512i v = _mm512_loadu_si512((const void *)(acc + 16 * i));
        const int r = row0 + i;
        if (dq) {
            const __m512 scale = _mm512_set1_ps(dq->scale[r]), bias = _mm512_set1_ps(dq->bias ? dq->bias[r] : 0.0f);
            const __m512 x = _mm512_cvtepi32_ps(_mm512_sub_epi32(v, _mm512_set1_epi32(dq->offset[r])));
            __m512 y = _mm512_fmadd_ps(x, scale, bias);
            if (dq->leaky) {
                const __m512 zero = _mm512_setzero_ps();
                y = _mm512_add_ps(y, zero);  /* −0 → +0, as Activation.leaky after a bias of 0 */
                y = _mm512_mask_mul_ps(y, _mm512_cmp_ps_mask(y, zero, _CMP_LE_OQ), y, _mm512_set1_ps(0.1f));
            }
            _mm512_mask_storeu_ps((float *)c + r * ldc, mask, y);
        } else {
            _mm512_mask_storeu_epi32((int32_t *)c + r * ldc, mask, v);
        }
    }
}

__attribute__((target("avx512f")))
static void store_bf16_tile(const float *acc, int row0, int rows, int cols, const float *bias, float *c, int64_t ldc) {
    const __mmask16 mask = column_mask(cols);
    for (int i = 0; i < rows; i++) {
        __m512 v = _mm512_loadu_ps(acc + 16 * i);
        if (bias) v = _mm512_add_ps(v, _mm512_set1_ps(bias[row0 + i]));
        _mm512_mask_storeu_ps(c + (row0 + i) * ldc, mask, v);
    }
}

/* The chunk loop of one 32 × 32 block (DP: the tile dot product), A1 only where the block has more than 16 rows. */
#define AMX_BLOCK(DP)                                                                                           \
    _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);                                                 \
    if (rows > 16) {                                                                                            \
        for (int64_t q = 0; q < chunks; q++) {                                                                  \
            _tile_loadd(6, bp + q * 2048, 128);                                                                 \
            _tile_loadd(4, a + q * CQK_AMX_TILE_BYTES, 64);                                                     \
            DP(0, 4, 6);                                                                                        \
            _tile_loadd(7, bp + q * 2048 + 64, 128);                                                            \
            DP(1, 4, 7);                                                                                        \
            _tile_loadd(5, a1 + q * CQK_AMX_TILE_BYTES, 64);                                                    \
            DP(2, 5, 6);                                                                                        \
            DP(3, 5, 7);                                                                                        \
        }                                                                                                       \
    } else {                                                                                                    \
        for (int64_t q = 0; q < chunks; q++) {                                                                  \
            _tile_loadd(4, a + q * CQK_AMX_TILE_BYTES, 64);                                                     \
            _tile_loadd(6, bp + q * 2048, 128);                                                                 \
            DP(0, 4, 6);                                                                                        \
            _tile_loadd(7, bp + q * 2048 + 64, 128);                                                            \
            DP(1, 4, 7);                                                                                        \
        }                                                                                                       \
    }

__attribute__((target("amx-tile,amx-int8,avx512f")))
void cqk_amx_i8_blocks(int64_t chunks, const int8_t *a, int rows, const uint8_t *b, int64_t panels, int64_t panel_stride,
                       int64_t columns, const cqk_i8_dequantization *dq, void *c, int64_t ldc) {
    int32_t acc[4][256] __attribute__((aligned(64)));
    const int8_t *a1 = a + chunks * CQK_AMX_TILE_BYTES;
    configure_tiles();
    for (int64_t p = 0; p < panels; p++) {
        const uint8_t *bp = b + p * panel_stride;
        const int cols = columns - 32 * p < 32 ? (int)(columns - 32 * p) : 32;
        AMX_BLOCK(_tile_dpbsud)
        _tile_stored(0, acc[0], 64); _tile_stored(1, acc[1], 64);
        if (rows > 16) { _tile_stored(2, acc[2], 64); _tile_stored(3, acc[3], 64); }
        char *cp = (char *)c + 32 * p * 4;
        const int top = rows < 16 ? rows : 16;
        store_i8_tile(acc[0], 0, top, cols, dq, cp, ldc);
        store_i8_tile(acc[1], 0, top, cols - 16, dq, cp + 64, ldc);
        if (rows > 16) {
            store_i8_tile(acc[2], 16, rows - 16, cols, dq, cp, ldc);
            store_i8_tile(acc[3], 16, rows - 16, cols - 16, dq, cp + 64, ldc);
        }
    }
    _tile_release();
}

__attribute__((target("amx-tile,amx-bf16,avx512f")))
void cqk_amx_bf16_blocks(int64_t chunks, const uint16_t *a16, int rows, const uint16_t *b16, int64_t panels,
                         int64_t panel_stride, int64_t columns, const float *bias, float *c, int64_t ldc) {
    float acc[4][256] __attribute__((aligned(64)));
    const uint8_t *a = (const uint8_t *)a16, *b = (const uint8_t *)b16, *a1 = a + chunks * CQK_AMX_TILE_BYTES;
    configure_tiles();
    for (int64_t p = 0; p < panels; p++) {
        const uint8_t *bp = b + p * panel_stride * 2;
        const int cols = columns - 32 * p < 32 ? (int)(columns - 32 * p) : 32;
        AMX_BLOCK(_tile_dpbf16ps)
        _tile_stored(0, acc[0], 64); _tile_stored(1, acc[1], 64);
        if (rows > 16) { _tile_stored(2, acc[2], 64); _tile_stored(3, acc[3], 64); }
        float *cp = c + 32 * p;
        const int top = rows < 16 ? rows : 16;
        store_bf16_tile(acc[0], 0, top, cols, bias, cp, ldc);
        store_bf16_tile(acc[1], 0, top, cols - 16, bias, cp + 16, ldc);
        if (rows > 16) {
            store_bf16_tile(acc[2], 16, rows - 16, cols, bias, cp, ldc);
            store_bf16_tile(acc[3], 16, rows - 16, cols - 16, bias, cp + 16, ldc);
        }
    }
    _tile_release();
}

#else /* no AMX on this architecture: never chosen (cqk_cpu_features() reports none), but must link */

void cqk_amx_i8_blocks(int64_t chunks, const int8_t *a, int rows, const uint8_t *b, int64_t panels, int64_t panel_stride,
                       int64_t columns, const cqk_i8_dequantization *dq, void *c, int64_t ldc) {
    (void)chunks; (void)a; (void)rows; (void)b; (void)panels; (void)panel_stride; (void)columns; (void)dq; (void)c; (void)ldc;
    __builtin_trap();
}

void cqk_amx_bf16_blocks(int64_t chunks, const uint16_t *a, int rows, const uint16_t *b, int64_t panels,
                         int64_t panel_stride, int64_t columns, const float *bias, float *c, int64_t ldc) {
    (void)chunks; (void)a; (void)rows; (void)b; (void)panels; (void)panel_stride; (void)columns; (void)bias; (void)c; (void)ldc;
    __builtin_trap();
}

#endif
