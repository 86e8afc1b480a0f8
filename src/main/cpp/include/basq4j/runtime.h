/* What the native library was built with and runs on. */
#ifndef BASQ4J_RUNTIME_H
#define BASQ4J_RUNTIME_H
#include "common.h"

/* OpenMP threads the kernels use (1 without OpenMP). */
BASQ_API int basq_num_threads(void);
BASQ_API void basq_set_num_threads(int n);
/* BLAS threads and its build configuration string. */
BASQ_API int basq_blas_num_threads(void);
BASQ_API void basq_blas_set_num_threads(int n);
BASQ_API const char* basq_blas_config(void);
/* Version string of the kernel library. */
BASQ_API const char* basq_version(void);

#endif
