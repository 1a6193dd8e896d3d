/* cpu_features.c - which of the kernels' instruction sets this CPU runs (cpuid) and the OS saves (xgetbv; for AMX
 * also grants this process, arch_prctl on Linux). */
#include "quant_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

/* AMX tile data (XCR0 bits 17 XTILECFG and 18 XTILEDATA) is off until the process asks for it on Linux (5.16+):
 * without the grant the first tile instruction faults. */
static int tile_data_usable(void) {
#if defined(__linux__) && defined(__x86_64__)
    enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
#else
    return 0;
#endif
}

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
    const int amx_bf16 = (d >> 22) & 1, amx_tile = (d >> 24) & 1, amx_int8 = (d >> 25) & 1;
    unsigned a1 = 0, b1, c1, d1;
    int bf16 = 0;
    if (a >= 1 && __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1)) bf16 = (a1 >> 5) & 1;
    uint32_t features = 0;
    if (avx2 && fma) features |= CQK_FEATURE_AVX2;
    if (zmm && avx512f && avx512bw) {
        features |= CQK_FEATURE_AVX512BW;
        if (vnni) features |= CQK_FEATURE_AVX512VNNI;
        if (bf16) features |= CQK_FEATURE_AVX512BF16;
        if (amx_tile && (amx_int8 || amx_bf16) && tile_data_usable() && (xcr0() & 0x60000) == 0x60000) {
            if (amx_int8) features |= CQK_FEATURE_AMXINT8;
            if (amx_bf16) features |= CQK_FEATURE_AMXBF16;
        }
    }
    return features;
}
#else
uint32_t cqk_cpu_features(void) { return 0; }
#endif
