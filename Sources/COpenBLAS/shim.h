// OpenBLAS (cblas_sgemm, openblas_set_num_threads) and LAPACKE, as installed by Debian's
// libopenblas-dev and liblapacke-dev.
#include <cblas.h>
#include <lapacke.h>
