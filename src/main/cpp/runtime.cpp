// Build and runtime facts: OpenMP and BLAS threads, versions.
#include "basq4j/runtime.h"

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

BASQ_API int basq_num_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

BASQ_API void basq_set_num_threads(int n) {
#ifdef _OPENMP
    if (n > 0) omp_set_num_threads(n);
#else
    (void)n;
#endif
}

BASQ_API int basq_blas_num_threads(void) { return openblas_get_num_threads(); }

BASQ_API void basq_blas_set_num_threads(int n) {
    if (n > 0) openblas_set_num_threads(n);
}

BASQ_API const char* basq_blas_config(void) { return openblas_get_config(); }

BASQ_API const char* basq_version(void) { return "basq4j-kernels 0.1.0"; }
