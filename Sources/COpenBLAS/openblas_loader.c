/* openblas_loader.c - see openblas_loader.h. */
#define _GNU_SOURCE
#include "openblas_loader.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CBLAS's enum values (cblas.h): row-major 101, no-transpose 111, transpose 112; LAPACK_ROW_MAJOR 101. */
typedef void (*sgemm_fn)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                         const float *b, int ldb, float beta, float *c, int ldc);
typedef int (*sgesdd_fn)(int layout, char jobz, int m, int n, float *a, int lda, float *s, float *u, int ldu, float *vt,
                         int ldvt);

static sgemm_fn sgemm;
static sgesdd_fn sgesdd;
static char blas_error[512], lapacke_error[512];
static pthread_once_t blas_once = PTHREAD_ONCE_INIT, lapacke_once = PTHREAD_ONCE_INIT;
/* Serializes the two loads' environment change (the once-guards keep each to one run). */
static pthread_mutex_t environment_lock = PTHREAD_MUTEX_INITIALIZER;

/* dlopen with OPENBLAS_NUM_THREADS=1 for the library's constructor (liblapacke pulls in an OpenBLAS build of
 * liblapack, which starts a pool of its own), the variable restored afterwards. */
static void *open_single_threaded(const char *name, char *error, size_t size) {
    pthread_mutex_lock(&environment_lock);
    const char *previous = getenv("OPENBLAS_NUM_THREADS");
    char *saved = previous ? strdup(previous) : NULL;
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    void *handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!handle) snprintf(error, size, "%s could not be loaded (%s)", name, dlerror());
    if (saved) { setenv("OPENBLAS_NUM_THREADS", saved, 1); free(saved); } else unsetenv("OPENBLAS_NUM_THREADS");
    pthread_mutex_unlock(&environment_lock);
    return handle;
}

static void load_blas(void) {
    void *handle = open_single_threaded("libopenblas.so.0", blas_error, sizeof blas_error);
    if (!handle) return;
    sgemm = (sgemm_fn)dlsym(handle, "cblas_sgemm");
    void (*set_threads)(int) = (void (*)(int))dlsym(handle, "openblas_set_num_threads");
    if (!sgemm) { snprintf(blas_error, sizeof blas_error, "libopenblas.so.0 has no cblas_sgemm"); return; }
    if (set_threads) set_threads(1); /* in case the pool was already up (another user loaded it first) */
}

static void load_lapacke(void) {
    void *handle = open_single_threaded("liblapacke.so.3", lapacke_error, sizeof lapacke_error);
    if (!handle) return;
    sgesdd = (sgesdd_fn)dlsym(handle, "LAPACKE_sgesdd");
    if (!sgesdd) snprintf(lapacke_error, sizeof lapacke_error, "liblapacke.so.3 has no LAPACKE_sgesdd");
}

int cob_load_blas(void) {
    pthread_once(&blas_once, load_blas);
    return sgemm ? 0 : -1;
}

const char *cob_blas_error(void) { return blas_error; }

void cob_sgemm(int trans_a, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb,
               float beta, float *c, int ldc) {
    sgemm(101, trans_a ? 112 : 111, 111, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

int cob_load_lapacke(void) {
    pthread_once(&lapacke_once, load_lapacke);
    return sgesdd ? 0 : -1;
}

const char *cob_lapacke_error(void) { return lapacke_error; }

int cob_sgesdd(char jobz, int m, int n, float *a, int lda, float *s, float *u, int ldu, float *vt, int ldvt) {
    return sgesdd(101, jobz, m, n, a, lda, s, u, ldu, vt, ldvt);
}
