/*
 * openblas_loader.h - OpenBLAS sgemm and LAPACKE sgesdd, loaded on first use (dlopen) instead of linked.
 *
 * Linked, libopenblas starts its thread pool when the process starts: on a 2-core machine one worker spins
 * (sched_yield) for about 2^28 cycles, ~0.1 s, taking a core from a cold `yolo detect` that never calls BLAS
 * (the Swift GEMM is the default backend). Loaded here, the library starts with OPENBLAS_NUM_THREADS=1 (no
 * workers; our callers split each call over their own threads), and a process that never asks for it never
 * maps it. Debian: libopenblas0 (libopenblas.so.0) and liblapacke (liblapacke.so.3).
 */
#ifndef OPENBLAS_LOADER_H
#define OPENBLAS_LOADER_H

#ifdef __cplusplus
extern "C" {
#endif

/* Loads libopenblas.so.0 once (thread-safe). 0 when loaded; else -1, and cob_blas_error() says why. */
int cob_load_blas(void);
const char *cob_blas_error(void);

/* cblas_sgemm, row-major; trans_a != 0 reads A transposed. Call only after cob_load_blas() returned 0. */
void cob_sgemm(int trans_a, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb,
               float beta, float *c, int ldc);

/* Loads liblapacke.so.3 once (thread-safe). 0 when loaded; else -1, and cob_lapacke_error() says why. */
int cob_load_lapacke(void);
const char *cob_lapacke_error(void);

/* LAPACKE_sgesdd(LAPACK_ROW_MAJOR, jobz, …): LAPACKE's info. Call only after cob_load_lapacke() returned 0. */
int cob_sgesdd(char jobz, int m, int n, float *a, int lda, float *s, float *u, int ldu, float *vt, int ldvt);

#ifdef __cplusplus
}
#endif

#endif
