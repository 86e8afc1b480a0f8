/*
 * A small host emulation of the CUDA subset the kernels use, so that the very same .cu sources
 * compile with g++ (-x c++ -DBASQ_CUDA_EMU) and run on a machine without a GPU: the check in
 * bench/gpu/emu runs every kernel against the CPU kernels that way.
 *
 * Each block runs with one host thread per CUDA thread (all of the block's threads at once,
 * blocks one after another, on a pool of 1024 host threads): __syncthreads is a barrier of the block, warp shuffles exchange
 * through a barrier of the warp, __shared__ variables are function statics (one block lives at
 * a time). So indexing, partitions, barrier placement and warp-level logic are exercised for
 * real; timing, coalescing and the device's own math library are not. Launch limits (1024
 * threads, a multiple of 32 here) and 16-byte alignment of vector accesses are asserted.
 *
 * Device memory is host memory: cudaMemcpyAsync and cudaMemsetAsync are memmove and memset.
 */
#ifndef BASQ4J_CUDA_EMU_H
#define BASQ4J_CUDA_EMU_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <barrier>
#include <atomic>
#include <mutex>
#include <semaphore>
#include <cmath>
#include <functional>
#include <memory>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};

struct alignas(16) float4 {
    float x, y, z, w;
};

inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }

typedef struct CUstream_st* cudaStream_t;

enum cudaError_t { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorInvalidConfiguration = 9 };
enum cudaMemcpyKind { cudaMemcpyHostToHost = 0, cudaMemcpyDeviceToDevice = 3 };

namespace basq_emu {

struct Block {
    explicit Block(unsigned threads) : bar((ptrdiff_t)threads) {
        for (unsigned w = 0; w < threads / 32; w++) warps.push_back(std::make_unique<std::barrier<>>(32));
        slots.resize(threads);
    }
    std::barrier<> bar;
    std::vector<std::unique_ptr<std::barrier<>>> warps;
    std::vector<uint64_t> slots;  // one exchange slot per thread (shuffles)
};

inline thread_local Block* block = nullptr;

// cuda_util.cuh's index32_limit: the checks set it to 0 to run the 64-bit index paths.
inline int64_t index32_limit = int64_t(1) << 31;
inline thread_local cudaError_t last_error = cudaSuccess;

}  // namespace basq_emu

inline thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;

inline void __syncthreads() { basq_emu::block->bar.arrive_and_wait(); }

namespace basq_emu {

template <class T>
T shfl_from(T v, int src) {
    static_assert(sizeof(T) <= 8, "shuffle of at most 8 bytes");
    Block* b = block;
    const unsigned lane = threadIdx.x & 31, base = threadIdx.x - lane;
    std::barrier<>& wb = *b->warps[threadIdx.x / 32];
    uint64_t bits = 0;
    memcpy(&bits, &v, sizeof(T));
    b->slots[threadIdx.x] = bits;
    wb.arrive_and_wait();
    T r = v;
    if (src >= 0 && src < 32) memcpy(&r, &b->slots[base + (unsigned)src], sizeof(T));
    wb.arrive_and_wait();
    return r;
}

// A pool of 1024 host threads (started once), thread t playing CUDA thread t of each block.
class Pool {
  public:
    static Pool& get() {
        static Pool* pool = new Pool();  // never destroyed: its threads live as long as the process
        return *pool;
    }

    // Runs body on grid blocks of `threads` threads each, one block after another.
    void run(unsigned grid, unsigned threads, const std::function<void()>& body) {
        std::lock_guard<std::mutex> one_launch(launch_mutex_);
        for (unsigned b = 0; b < grid; b++) {
            Block blk(threads);
            body_ = &body;
            blk_ = &blk;
            block_ = b;
            threads_ = threads;
            grid_ = grid;
            remaining_.store(threads);
            for (unsigned t = 0; t < threads; t++) go_[t]->release();  // wakes exactly those threads
            done_.acquire();
        }
    }

  private:
    Pool() {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        for (unsigned t = 0; t < 1024; t++) {
            go_.push_back(std::make_unique<std::binary_semaphore>(0));
            pthread_t th;
            Arg* a = new Arg{this, t};
            if (pthread_create(&th, &attr, &Pool::main, a) != 0) {
                fprintf(stderr, "cuda_emu: cannot start host thread %u\n", t);
                abort();
            }
            pthread_detach(th);
        }
        pthread_attr_destroy(&attr);
    }

    struct Arg {
        Pool* pool;
        unsigned t;
    };

    static void* main(void* p) {
        Arg* a = (Arg*)p;
        a->pool->loop(a->t);
        return nullptr;
    }

    void loop(unsigned t) {
        for (;;) {
            go_[t]->acquire();  // the semaphore orders the launcher's writes before these reads
            threadIdx.x = t;
            blockIdx.x = block_;
            blockDim.x = threads_;
            gridDim.x = grid_;
            Block* blk = blk_;
            block = blk;
            (*body_)();
            // A finished thread no longer takes part in barriers (as on the device).
            blk->warps[t / 32]->arrive_and_drop();
            blk->bar.arrive_and_drop();
            if (remaining_.fetch_sub(1) == 1) done_.release();
        }
    }

    std::mutex launch_mutex_;
    std::vector<std::unique_ptr<std::binary_semaphore>> go_;
    std::binary_semaphore done_{0};
    std::atomic<unsigned> remaining_{0};
    const std::function<void()>* body_ = nullptr;
    Block* blk_ = nullptr;
    unsigned block_ = 0, threads_ = 0, grid_ = 0;
};

inline void launch(unsigned grid, unsigned threads, const std::function<void()>& body) {
    if (grid == 0 || threads == 0 || threads > 1024 || threads % 32 != 0) {
        last_error = cudaErrorInvalidConfiguration;
        return;
    }
    Pool::get().run(grid, threads, body);
}

}  // namespace basq_emu

#define BASQ_LAUNCH(kernel, grid, block_, stream, ...) \
    ::basq_emu::launch((unsigned)(grid), (unsigned)(block_), [=]() { kernel(__VA_ARGS__); })

template <class T>
T __shfl_sync(unsigned, T v, int src) {
    return basq_emu::shfl_from(v, src);
}
template <class T>
T __shfl_down_sync(unsigned, T v, unsigned off) {
    const int lane = (int)(threadIdx.x & 31);
    return basq_emu::shfl_from(v, lane + (int)off < 32 ? lane + (int)off : lane);
}
template <class T>
T __shfl_xor_sync(unsigned, T v, int mask) {
    return basq_emu::shfl_from(v, (int)(threadIdx.x & 31) ^ mask);
}

inline long long __double_as_longlong(double d) {
    long long r;
    memcpy(&r, &d, 8);
    return r;
}
inline double __longlong_as_double(long long v) {
    double r;
    memcpy(&r, &v, 8);
    return r;
}
inline float __int_as_float(int v) {
    float r;
    memcpy(&r, &v, 4);
    return r;
}

inline float __fmul_rn(float a, float b) { return a * b; }

inline cudaError_t cudaGetLastError() {
    cudaError_t e = basq_emu::last_error;
    basq_emu::last_error = cudaSuccess;
    return e;
}
inline const char* cudaGetErrorString(cudaError_t e) {
    return e == cudaSuccess ? "no error" : e == cudaErrorInvalidConfiguration ? "invalid configuration" : "error";
}
inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind, cudaStream_t) {
    memmove(dst, src, n);
    return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t) {
    memset(p, v, n);
    return cudaSuccess;
}

#endif
