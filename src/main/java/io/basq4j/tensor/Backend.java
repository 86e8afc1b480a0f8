package io.basq4j.tensor;

import org.bytedeco.javacpp.Pointer;

/**
 * One implementation per device (CPU now, CUDA behind the same seam). Every operation works
 * on tensors of this backend's device, writes its outputs (never accumulates unless named so)
 * and derives sizes from the tensors' shapes. Sizes are validated by the callers
 * ({@code io.basq4j.autograd.F}) and again by the kernels.
 */
public interface Backend {
    Device device();

    /** Whether this backend can run here (libraries load, a device exists). */
    boolean available();

    // ---- memory
    long allocate(long bytes);

    void free(long address, long bytes);

    CachingAllocator allocator();

    void toHost(Tensor src, Pointer dst, long bytes);

    void fromHost(Pointer src, Tensor dst, long bytes);

    /** Same-device copy of all of {@code src} into {@code dst} (equal byte size). */
    void copy(Tensor src, Tensor dst);

    /** Waits until queued work is done (no-op on the CPU). */
    void synchronize();

    // ---- element-wise
    void fill(Tensor t, float v);

    void add(Tensor a, Tensor b, Tensor out);

    /** y += alpha * x */
    void axpy(float alpha, Tensor x, Tensor y);

    void scale(Tensor x, float alpha);

    /** Sum of squares of all elements (read back to the host). */
    double sumSquares(Tensor x);

    void relu(Tensor x, Tensor y);

    void reluBackward(Tensor y, Tensor dy, Tensor dx);

    void dropout(Tensor x, Tensor y, Tensor mask, float p, long seed, long offset);

    void dropoutBackward(Tensor dy, Tensor mask, Tensor dx, float p);

    // ---- quantizers (SPEC 1)
    void clipQuant(Tensor x, Tensor y, Tensor upper, Tensor bin);

    void clipQuantBackward(Tensor x, Tensor dy, Tensor dx, Tensor dupper, Tensor upper);

    void lsq(Tensor x, Tensor s, Tensor y, int outer, int channels, long inner, int qn, int qp);

    void lsqBackward(Tensor x, Tensor s, Tensor dy, Tensor dx, Tensor ds, int outer, int channels, long inner,
            int qn, int qp, float gscale);

    void channelAbsMean(Tensor x, Tensor out, int outer, int channels, long inner);

    // ---- convolution and linear
    void conv2d(Tensor x, Tensor w, Tensor y, ConvGeom g);

    void conv2dBackwardData(Tensor dy, Tensor w, Tensor dx, ConvGeom g);

    void conv2dBackwardFilter(Tensor x, Tensor dy, Tensor dw, ConvGeom g);

    /** y[N,OUT] = x[N,IN] w[OUT,IN]^T + b (b may be null). */
    void linear(Tensor x, Tensor w, Tensor b, Tensor y);

    /** dx, db may be null. */
    void linearBackward(Tensor x, Tensor w, Tensor dy, Tensor dx, Tensor dw, Tensor db);

    // ---- batch norm over [N, C, HW]
    void batchNormTrain(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor saveMean, Tensor saveInvstd,
            Tensor runningMean, Tensor runningVar, float eps, float momentum);

    void batchNormEval(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar, Tensor y,
            float eps);

    void batchNormBackward(Tensor x, Tensor dy, Tensor gamma, Tensor saveMean, Tensor saveInvstd, Tensor dx,
            Tensor dgamma, Tensor dbeta);

    // ---- pooling and the flexible skip
    void avgPool(Tensor x, Tensor y, int k, int s);

    void avgPoolBackward(Tensor dy, Tensor dx, int k, int s);

    void globalAvgPool(Tensor x, Tensor y);

    void globalAvgPoolBackward(Tensor dy, Tensor dx);

    void maxPool(Tensor x, Tensor y, Tensor idx, int k, int s, int p);

    void maxPoolBackward(Tensor dy, Tensor idx, Tensor dx, int k, int s, int p);

    void flexSkip(Tensor x, Tensor y);

    void flexSkipBackward(Tensor dy, Tensor dx);

    // ---- losses on [N, K] logits
    void softmaxCrossEntropy(Tensor logits, Tensor target, Tensor loss, Tensor prob);

    void softmaxCrossEntropyBackward(Tensor prob, Tensor target, Tensor dloss, Tensor dlogits);

    void kdLoss(Tensor student, Tensor teacher, Tensor loss, Tensor pStudent, Tensor pTeacher);

    void kdLossBackward(Tensor pStudent, Tensor pTeacher, Tensor dloss, Tensor dstudent);

    // ---- optimizer updates over one parameter
    void adamStep(Tensor p, Tensor g, Tensor m, Tensor v, float stepSize, float beta1, float beta2, float eps,
            float wd, float bc2Sqrt);

    void sgdStep(Tensor p, Tensor g, Tensor buf, float lr, float momentum, float wd, boolean nesterov);
}
