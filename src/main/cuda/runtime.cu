// Version and error text of the CUDA kernel library (cuda_kernels.h).
#include "cuda_util.cuh"

#define BASQ_STR2(...) #__VA_ARGS__
#define BASQ_STR(...) BASQ_STR2(__VA_ARGS__)

namespace basq_cuda {

namespace {
thread_local cudaError_t last_error = cudaSuccess;
}

int note_error(cudaError_t e) {
    last_error = e;
    return BASQ_EDEVICE;
}

}  // namespace basq_cuda

BASQ_API const char* basq_cuda_version(void) {
#if defined(BASQ_CUDA_EMU)
    return "basq4j-cuda 0.1.0 (host emulation)";
#else
#if defined(__CUDA_ARCH_LIST__)
    return "basq4j-cuda 0.1.0 (nvcc " BASQ_STR(__CUDACC_VER_MAJOR__) "." BASQ_STR(__CUDACC_VER_MINOR__)
           ", architectures " BASQ_STR(__CUDA_ARCH_LIST__) ")";
#else
    return "basq4j-cuda 0.1.0 (nvcc " BASQ_STR(__CUDACC_VER_MAJOR__) "." BASQ_STR(__CUDACC_VER_MINOR__) ")";
#endif
#endif
}

BASQ_API const char* basq_cuda_last_error(void) {
    const cudaError_t e = basq_cuda::last_error;
    basq_cuda::last_error = cudaSuccess;
    return e == cudaSuccess ? "no error" : cudaGetErrorString(e);
}
