/*
 * Inference kernels of a deployed BASQ network (SPEC 2 in evaluation mode; the engine of
 * io.basq4j.deploy.infer): one call per unit, on channels-last activations, with the weights
 * as integer codes and the batch norms folded into per-channel affines. No autograd, no
 * branches, no allocation: scratch memory is the caller's workspace.
 *
 * Layout. Activations are float32 [N, H, W, C] (NHWC, "rows" of C floats, M = N*H*W rows);
 * the stem alone reads images in NCHW. Weight codes are integers in [-qw, qw] (qw = 2^(bits-1)
 * - 1) that the basq_infer_pack_* functions rearrange once into the layout a unit kernel
 * reads (its size from basq_infer_packed_bytes_*). Per-channel parameters of a unit:
 *
 *   pro (prologue: batch norm BN_a and the activation quantizer, per input channel c)
 *     LSQ units (1x1):  3*Cin floats alpha[c], beta[c], step[c]:
 *                        level = rint(clamp(x*alpha + beta, 0, qa)), value = level * step
 *     clip units (3x3): 2*Cin floats alpha[c], beta[c] and the scalar top:
 *                        level = rint(clamp(x*alpha + beta, 0, top))  (top 0: all levels 0)
 *   epi (epilogue: weight step, BN_b, ReLU, skip, BN_c, per output channel o), 4*Cout floats
 *                        alpha[o], beta[o], scale[o], shift[o]:
 *                        t = relu(acc*alpha + beta) + skip, y = t*scale + shift (+ res)
 *     where acc is the convolution of the levels (clip) or values (LSQ) with the codes.
 *
 * Skips (SPEC 2): F(cin -> cout) maps channels (identity, tiling k mod cin, or folding: the
 * sum over c = k, k + cout, ... in that order); with stride 2 the skip is 2x2 average pooled
 * ((a + b) + (c + d)) * 0.25. Odd sizes: a 3x3 input (2x2 output) gets the mean of its top-left
 * 2x2 window at every output position (SPEC 2, the reference's broadcast); any other odd size
 * averages the 2x2 window at (2i, 2j) with the positions outside the input counted as zero, its
 * terms summed in row-major order.
 *
 * Threads: up to the OpenMP thread count (basq_set_num_threads) and as many as the workspace
 * was sized for. Every function returns BASQ_OK or BASQ_EINVAL (bad size, or a workspace
 * smaller than its *_workspace function asks for one thread).
 */
#ifndef BASQ4J_INFER_H
#define BASQ4J_INFER_H
#include "common.h"

/* Instruction-set level of the inference kernels: 0 portable C++, 1 AVX2 + FMA (when the
 * library was built with them), 2 AVX-512 (F, BW, VL, VNNI; chosen at run time). */
BASQ_API int basq_infer_isa(void);
/* Caps the level used from now on (for tests and comparisons); returns the level in effect. */
BASQ_API int basq_infer_set_isa(int level);

/* ---- packing the weights once (codes: int8 in [-qw, qw]) */

/* 1x1 convolution: codes [Cout, Cin] (PyTorch order). */
BASQ_API int64_t basq_infer_packed_bytes_pw(int Cin, int Cout);
BASQ_API int basq_infer_pack_pw(const int8_t* codes, int Cin, int Cout, void* packed);
/* depthwise 3x3: codes [C, 3, 3]. */
BASQ_API int64_t basq_infer_packed_bytes_dw(int C);
BASQ_API int basq_infer_pack_dw(const int8_t* codes, int C, void* packed);
/* full 3x3 convolution: codes [Cout, Cin, 3, 3]. */
BASQ_API int64_t basq_infer_packed_bytes_conv(int Cin, int Cout);
BASQ_API int basq_infer_pack_conv(const int8_t* codes, int Cin, int Cout, void* packed);
/* full-precision stem: float weights [Cout, Cin, k, k]. */
BASQ_API int64_t basq_infer_packed_bytes_stem(int Cin, int Cout, int k);
BASQ_API int basq_infer_pack_stem(const float* w, int Cin, int Cout, int k, void* packed);

/* ---- the units */

/*
 * Stem: y [N, Ho, Wo, Cout] = relu(conv(x) * scale + shift) for images x [N, Cin, H, W]
 * (NCHW), a k x k full-precision convolution (stride, pad); bn holds scale[Cout], shift[Cout].
 */
BASQ_API int64_t basq_infer_stem_workspace(int N, int Cin, int H, int W, int Cout, int k, int stride, int pad,
                                           int threads);
BASQ_API int basq_infer_stem(const float* x, int N, int Cin, int H, int W, const void* packed, int Cout, int k,
                             int stride, int pad, const float* bn, float* y, void* ws, int64_t ws_bytes);

/* Max pooling k x k, stride s, padding p over NHWC (padding never wins; ResNet-18's stem). */
BASQ_API int basq_infer_maxpool(const float* x, int N, int H, int W, int C, int k, int s, int p, float* y);

/*
 * 1x1 unit U1(cin -> cout) over M rows: y [M, Cout] from x [M, Cin]; LSQ prologue (pro, 3*Cin,
 * levels in [0, qa]), codes packed by basq_infer_pack_pw, epilogue epi (4*Cout) with the skip
 * F(cin -> cout) of the same row; res [M, Cout] or NULL. y must not overlap x or res.
 */
BASQ_API int64_t basq_infer_pw_workspace(int M, int Cin, int Cout, int threads);
BASQ_API int basq_infer_pw_unit(const float* x, int M, int Cin, int Cout, const float* pro, int qa,
                                const void* packed, const float* epi, const float* res, float* y, void* ws,
                                int64_t ws_bytes);

/*
 * Depthwise 3x3 unit U3(C, stride) (MobileNet-v2): x [N, H, W, C] -> y [N, Ho, Wo, C],
 * Ho = (H - 1) / stride + 1; clip prologue (pro, 2*C, top), codes packed by basq_infer_pack_dw
 * (levels and codes multiplied as 16-bit integers: top * 9 * qw must stay below 32768),
 * epilogue epi (4*C) with the skip: identity (stride 1) or the pooling above (stride 2).
 */
BASQ_API int64_t basq_infer_dw_workspace(int N, int H, int W, int C, int stride, int threads);
BASQ_API int basq_infer_dw_unit(const float* x, int N, int H, int W, int C, int stride, const float* pro, float top,
                                int bits, const void* packed, const float* epi, const float* res, float* y, void* ws,
                                int64_t ws_bytes);

/*
 * Full 3x3 unit U3(cin -> cout, stride) (ResNet): x [N, H, W, Cin] -> y [N, Ho, Wo, Cout]; clip
 * prologue (pro, 2*Cin, top, levels below 256), codes packed by basq_infer_pack_conv (8-bit
 * levels times 8-bit codes, 32-bit sums), epilogue epi (4*Cout) with the skip F(cin -> cout)
 * pooled by the stride (pooled first when cout > cin, as SPEC 4's unit does); res or NULL.
 */
BASQ_API int64_t basq_infer_conv_workspace(int N, int H, int W, int Cin, int Cout, int stride, int threads);
BASQ_API int basq_infer_conv_unit(const float* x, int N, int H, int W, int Cin, int Cout, int stride,
                                  const float* pro, float top, const void* packed, const float* epi,
                                  const float* res, float* y, void* ws, int64_t ws_bytes);

/*
 * Head: global average pooling of x [N, HW, C] (sums in double, as the training library's
 * kernel) and the linear layer: logits [N, classes] = pooled . w^T + b, w [classes, C];
 * ws holds N*C floats.
 */
BASQ_API int basq_infer_head(const float* x, int N, int64_t HW, int C, const float* w, const float* b, int classes,
                             float* logits, float* ws);

#endif
