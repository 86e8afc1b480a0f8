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

    /**
     * Sum of squares of all elements of every tensor: each tensor's sum as {@link #sumSquares(Tensor)}
     * returns it, added in order in double. A backend that reads results back from a device
     * does it once here, for all of them (a gradient norm).
     */
    default double sumSquares(java.util.List<Tensor> xs) {
        double s = 0;
        for (Tensor x : xs) {
            s += sumSquares(x);
        }
        return s;
    }

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
    void adamStep(Tensor p, Tensor g, Tensor m, Tensor v, double stepSize, double beta1, double beta2,
            double eps, double wd, double bc2Sqrt);

    void sgdStep(Tensor p, Tensor g, Tensor buf, float lr, float momentum, float wd, boolean nesterov);

    // ---- fused kernels of the BASQ block (optional: see fuses). Each computes what the named
    // sequence of the operations above computes; a backend that has one says so in fuses.

    /** The families of fused operations a backend may provide. */
    enum Fused {
        /** batchNormEvalClipQuant, batchNormEvalLsq. */
        BN_QUANT_EVAL,
        /** batchNormTrainClipQuant / batchNormClipQuantBackward, batchNormTrainLsq / batchNormLsqBackward. */
        BN_QUANT_TRAIN,
        /** unitTailEval. */
        UNIT_TAIL_EVAL,
        /** unitTailTrain / unitTailBackward. */
        UNIT_TAIL_TRAIN
    }

    /** Whether this backend provides (and wants to be called for) a family of fused operations. */
    default boolean fuses(Fused family) {
        return false;
    }

    /** y = clipQuant(batchNormEval(x)) without the intermediate tensor. */
    default void batchNormEvalClipQuant(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
            Tensor y, float eps, Tensor upper, Tensor bin) {
        throw new UnsupportedOperationException("batchNormEvalClipQuant on " + device());
    }

    /** y = lsq(batchNormEval(x)) per channel without the intermediate tensor. */
    default void batchNormEvalLsq(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar, Tensor y,
            float eps, Tensor s, int qn, int qp) {
        throw new UnsupportedOperationException("batchNormEvalLsq on " + device());
    }

    /**
     * Training batch norm followed by the clip quantizer (saveMean, saveInvstd required). The
     * batch norm's output is not kept: the backward recomputes it from x.
     */
    default void batchNormTrainClipQuant(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor saveMean,
            Tensor saveInvstd, Tensor runningMean, Tensor runningVar, float eps, float momentum, Tensor upper,
            Tensor bin) {
        throw new UnsupportedOperationException("batchNormTrainClipQuant on " + device());
    }

    /** Backward of batchNormTrainClipQuant: dx, dgamma, dbeta (may be null) and dupper. */
    default void batchNormClipQuantBackward(Tensor x, Tensor dy, Tensor gamma, Tensor beta, Tensor saveMean,
            Tensor saveInvstd, Tensor upper, Tensor dx, Tensor dgamma, Tensor dbeta, Tensor dupper) {
        throw new UnsupportedOperationException("batchNormClipQuantBackward on " + device());
    }

    /** Training batch norm followed by LSQ per channel (saveMean, saveInvstd required). */
    default void batchNormTrainLsq(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor saveMean, Tensor saveInvstd,
            Tensor runningMean, Tensor runningVar, float eps, float momentum, Tensor s, int qn, int qp) {
        throw new UnsupportedOperationException("batchNormTrainLsq on " + device());
    }

    /** Backward of batchNormTrainLsq: dx, dgamma, dbeta (may be null) and ds (scaled by gscale). */
    default void batchNormLsqBackward(Tensor x, Tensor dy, Tensor gamma, Tensor beta, Tensor saveMean,
            Tensor saveInvstd, Tensor s, Tensor dx, Tensor dgamma, Tensor dbeta, Tensor ds, int qn, int qp,
            float gscale) {
        throw new UnsupportedOperationException("batchNormLsqBackward on " + device());
    }

    /**
     * The tail of a BASQ unit in evaluation: y = BN2(ReLU(BN1(z)) + F(skip)) (+ res), both batch
     * norms with running statistics, F the flexible skip from skip's channels to z's; res may be
     * null.
     */
    default void unitTailEval(Tensor z, Tensor gamma1, Tensor beta1, Tensor mean1, Tensor var1, Tensor skip,
            Tensor gamma2, Tensor beta2, Tensor mean2, Tensor var2, Tensor res, Tensor y, float eps) {
        throw new UnsupportedOperationException("unitTailEval on " + device());
    }

    /**
     * The tail of a BASQ unit in training: s = ReLU(BN1(z)) + F(skip) (written: the backward needs
     * it), y = BN2(s), batch statistics saved for both (running statistics may be null).
     */
    default void unitTailTrain(Tensor z, Tensor gamma1, Tensor beta1, Tensor saveMean1, Tensor saveInvstd1,
            Tensor runningMean1, Tensor runningVar1, Tensor skip, Tensor gamma2, Tensor beta2, Tensor saveMean2,
            Tensor saveInvstd2, Tensor runningMean2, Tensor runningVar2, Tensor s, Tensor y, float eps,
            float momentum) {
        throw new UnsupportedOperationException("unitTailTrain on " + device());
    }

    /**
     * Backward of unitTailTrain: ds (the gradient of s, also that of F(skip)), dz and the affine
     * gradients (each may be null).
     */
    default void unitTailBackward(Tensor z, Tensor s, Tensor dy, Tensor gamma1, Tensor beta1, Tensor saveMean1,
            Tensor saveInvstd1, Tensor gamma2, Tensor saveMean2, Tensor saveInvstd2, Tensor ds, Tensor dz,
            Tensor dgamma1, Tensor dbeta1, Tensor dgamma2, Tensor dbeta2) {
        throw new UnsupportedOperationException("unitTailBackward on " + device());
    }
}
