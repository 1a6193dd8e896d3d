/* cpu_features.c - which of the kernels' instruction sets this CPU runs (cpuid) and the OS saves (xgetbv). */
#include "quant_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static uint64_t xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

uint32_t cqk_cpu_features(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx) return 0;
    const uint64_t state = xcr0();
    const int ymm = (state & 0x6) == 0x6;             /* SSE + AVX state */
    const int zmm = (state & 0xE6) == 0xE6;           /* + opmask, ZMM_Hi256, Hi16_ZMM */
    if (!ymm || !__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    const int avx2 = (b >> 5) & 1, avx512f = (b >> 16) & 1, avx512bw = (b >> 30) & 1, vnni = (c >> 11) & 1;
    unsigned a1 = 0, b1, c1, d1;
    int bf16 = 0;
    if (a >= 1 && __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1)) bf16 = (a1 >> 5) & 1;
    uint32_t features = 0;
    if (avx2 && fma) features |= CQK_FEATURE_AVX2;
    if (zmm && avx512f && avx512bw) {
        features |= CQK_FEATURE_AVX512BW;
        if (vnni) features |= CQK_FEATURE_AVX512VNNI;
        if (bf16) features |= CQK_FEATURE_AVX512BF16;
    }
    return features;
}
#else
uint32_t cqk_cpu_features(void) { return 0; }
#endif
