// Instruction counts of the inference kernels (infer.h) on the shapes of 2-bit MobileNet-v2
// width 1.0, 3x32x32, 10 classes: run it under callgrind for a deterministic per-kernel profile
// (timings on a shared machine are noise), or plainly for a rough wall-clock figure.
//
//   g++ -std=c++17 -O3 -march=x86-64-v3 -fno-math-errno -fopenmp -Isrc/main/cpp/include
//       bench/native/infer_counts.cpp src/main/cpp/infer.cpp -o target/infer_counts
//   OMP_NUM_THREADS=1 valgrind --tool=callgrind --toggle-collect="*run_network*"
//       --callgrind-out-file=target/cg.out target/infer_counts 64 1
//   callgrind_annotate target/cg.out | head -40
//
// Arguments: batch (default 64), repetitions (default 1), ISA cap (default: all).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include <chrono>
#include <random>
#include <vector>

#include "basq4j/infer.h"

namespace {

struct Unit {
    int kind;  // 0 pointwise, 1 depthwise
    int cin, cout, stride, h;
    std::vector<float> pro, epi;
    std::vector<char> packed;
};

int make_divisible(double v, int d) {
    int nv = std::max(d, (int)(v + d / 2.0) / d * d);
    if (nv < 0.9 * v) nv += d;
    return nv;
}

}  // namespace

// The timed part, a function of its own so that callgrind can count it alone
// (--toggle-collect='run_network*').
template <class F>
__attribute__((noinline)) int run_network(F f) {
    return f();
}

int main(int argc, char** argv) {
    const int N = argc > 1 ? atoi(argv[1]) : 64;
    const int reps = argc > 2 ? atoi(argv[2]) : 1;
    if (argc > 3) basq_infer_set_isa(atoi(argv[3]));
    const int stages[8][4] = {{1, 32, 1, 2}, {1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2},
                              {6, 64, 4, 2}, {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
    std::mt19937 rng(1);
    std::normal_distribution<float> g(0.0f, 1.0f);
    std::uniform_int_distribution<int> code(-1, 1);
    auto vec = [&](int n, float scale, float shift) {
        std::vector<float> v(n);
        for (auto& x : v) x = shift + scale * g(rng);
        return v;
    };
    std::vector<Unit> units;
    auto add = [&](int kind, int cin, int cout, int stride, int h) {
        Unit u{kind, cin, cout, stride, h, {}, {}, {}};
        u.pro = vec((kind == 0 ? 3 : 2) * cin, 0.3f, 1.0f);
        u.epi = vec(4 * cout, 0.3f, 0.5f);
        const int w = kind == 0 ? cin * cout : 9 * cin;
        std::vector<int8_t> c(w);
        for (auto& q : c) q = (int8_t)code(rng);
        if (kind == 0) {
            u.packed.resize(basq_infer_packed_bytes_pw(cin, cout));
            basq_infer_pack_pw(c.data(), cin, cout, u.packed.data());
        } else {
            u.packed.resize(basq_infer_packed_bytes_dw(cin));
            basq_infer_pack_dw(c.data(), cin, u.packed.data());
        }
        units.push_back(std::move(u));
    };
    int c0 = make_divisible(32, 8), h = 16, cin = c0;
    for (int s = 1; s < 8; s++) {
        const int t = stages[s][0], cout = make_divisible(stages[s][1], 8);
        for (int k = 0; k < stages[s][2]; k++) {
            const int stride = k == 0 ? stages[s][3] : 1, hid = cin * t;
            if (t != 1) add(0, cin, hid, 1, h);
            add(1, hid, hid, stride, h);
            h = (h - 1) / stride + 1;
            add(0, hid, cout, 1, h);
            cin = cout;
        }
    }
    add(0, cin, 1280, 1, h);
    // buffers
    size_t largest = (size_t)N * 16 * 16 * 96;
    std::vector<float> img = vec(N * 3 * 32 * 32, 1.0f, 0.0f), a(largest), b(largest), c(largest), logits(N * 10);
    std::vector<float> stemw = vec(32 * 27, 0.2f, 0.0f), stembn = vec(64, 0.2f, 0.5f), fcw = vec(12800, 0.05f, 0.0f),
                       fcb = vec(10, 0.1f, 0.0f), headws(N * 1280);
    std::vector<char> stemp(basq_infer_packed_bytes_stem(3, 32, 3));
    basq_infer_pack_stem(stemw.data(), 3, 32, 3, stemp.data());
    int64_t ws = basq_infer_stem_workspace(N, 3, 32, 32, 32, 3, 2, 1, 2);
    for (auto& u : units)
        ws = std::max(ws, u.kind == 0 ? basq_infer_pw_workspace(N * u.h * u.h, u.cin, u.cout, 2)
                                      : basq_infer_dw_workspace(N, u.h, u.h, u.cin, u.stride, 2));
    std::vector<char> work(ws);
    double best = 1e30, bestCpu = 1e30;
    auto cpu = [] {
        timespec t;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
        return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
    };
    double kind[4] = {0, 0, 0, 0};  // CPU ms per kind over all repetitions: stem, pointwise, depthwise, head
    auto timed = [&](int k, int rc) {
        static double last = 0;
        const double now = cpu();
        if (k >= 0) kind[k] += now - last;
        last = now;
        return rc;
    };
    for (int r = 0; r < reps; r++) {
        const double c0 = cpu();
        auto t0 = std::chrono::steady_clock::now();
        const int rc = run_network([&] {
        timed(-1, 0);
        int rc = timed(0, basq_infer_stem(img.data(), N, 3, 32, 32, stemp.data(), 32, 3, 2, 1, stembn.data(),
                                          a.data(), work.data(), ws));
        float *x = a.data(), *y = b.data(), *z = c.data();
        for (auto& u : units) {
            if (u.kind == 0)
                rc |= timed(1, basq_infer_pw_unit(x, N * u.h * u.h, u.cin, u.cout, u.pro.data(), 3, u.packed.data(),
                                                  u.epi.data(), nullptr, y, work.data(), ws));
            else
                rc |= timed(2, basq_infer_dw_unit(x, N, u.h, u.h, u.cin, u.stride, u.pro.data(), 3.0f, 2,
                                                  u.packed.data(), u.epi.data(), nullptr, y, work.data(), ws));
            std::swap(x, y);
            std::swap(y, z);
        }
        rc |= timed(3, basq_infer_head(x, N, 1, 1280, fcw.data(), fcb.data(), 10, logits.data(), headws.data()));
        return rc;
        });
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        if (rc) {
            fprintf(stderr, "kernel error %d\n", rc);
            return 1;
        }
        best = std::min(best, ms);
        bestCpu = std::min(bestCpu, cpu() - c0);
    }
    // CPU time (all threads) is what a single thread needs when it runs alone: a usable figure
    // on a loaded machine, where wall time is not
    printf("batch %d: best %.3f ms wall (%.0f img/s), best %.3f ms CPU, isa %d, logit[0] %g\n", N, best,
           N * 1000.0 / best, bestCpu, basq_infer_isa(), logits[0]);
    const char* names[4] = {"stem", "pointwise", "depthwise", "head"};
    const double total = kind[0] + kind[1] + kind[2] + kind[3];
    for (int k = 0; k < 4; k++)
        printf("  %-10s %8.3f ms CPU per batch (%4.1f%%)\n", names[k], kind[k] / reps, 100 * kind[k] / total);
    return 0;
}
