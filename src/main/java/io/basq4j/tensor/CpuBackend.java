package io.basq4j.tensor;

import static io.basq4j.kernels.Kernels.check;

import io.basq4j.kernels.CpuKernels;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;

/** The CPU backend: host memory from a caching allocator, the C++ kernels of libbasq4j_cpu. */
public final class CpuBackend implements Backend {
    private final CachingAllocator allocator;
    private final FloatPointer scalarOut = new FloatPointer(1);

    public CpuBackend() {
        CpuKernels.load();
        allocator = new CachingAllocator(CpuBackend::rawAlloc, CpuBackend::rawFree);
    }

    private static final class Raw extends Pointer {
        Raw(long address) {
            this.address = address;
        }
    }

    // 64-byte alignment for vector loads: over-allocate, remember the base to free. Only called
    // from inside the (synchronized) caching allocator, rarely once a loop reaches steady state.
    private static final java.util.Map<Long, Long> BASES = new java.util.HashMap<>();

    private static long rawAlloc(long bytes) {
        Pointer p = Pointer.malloc(bytes + 64);
        if (p == null || p.isNull()) {
            return 0;
        }
        long base = p.address();
        long aligned = (base + 63) & ~63L;
        BASES.put(aligned, base);
        return aligned;
    }

    private static void rawFree(long aligned) {
        Long base = BASES.remove(aligned);
        if (base != null) {
            Pointer.free(new Raw(base));
        }
    }

    @Override
    public Device device() {
        return Device.CPU;
    }

    @Override
    public boolean available() {
        return true;
    }

    @Override
    public long allocate(long bytes) {
        return allocator.allocate(bytes);
    }

    @Override
    public void free(long address, long bytes) {
        allocator.free(address, bytes);
    }

    @Override
    public CachingAllocator allocator() {
        return allocator;
    }

    @Override
    public void toHost(Tensor src, Pointer dst, long bytes) {
        Pointer.memcpy(dst, new Raw(src.address()), bytes);
    }

    @Override
    public void fromHost(Pointer src, Tensor dst, long bytes) {
        Pointer.memcpy(new Raw(dst.address()), src, bytes);
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        if (src.bytes() != dst.bytes()) {
            throw new IllegalArgumentException("copy between " + src + " and " + dst);
        }
        Pointer.memcpy(new Raw(dst.address()), new Raw(src.address()), src.bytes());
    }

    @Override
    public void synchronize() {
    }

    // ---------------------------------------------------------------- element-wise

    @Override
    public void fill(Tensor t, float v) {
        if (t.dtype() == DType.F32) {
            check(CpuKernels.basq_fill(t.ptr(), v, t.numel()), "fill");
        } else if (v == 0f) {
            Pointer.memset(new Raw(t.address()), 0, t.bytes());
        } else {
            throw new IllegalArgumentException("fill of " + t.dtype() + " with " + v);
        }
    }

    @Override
    public void add(Tensor a, Tensor b, Tensor out) {
        check(CpuKernels.basq_add(a.ptr(), b.ptr(), out.ptr(), out.numel()), "add");
    }

    @Override
    public void axpy(float alpha, Tensor x, Tensor y) {
        check(CpuKernels.basq_axpy(alpha, x.ptr(), y.ptr(), y.numel()), "axpy");
    }

    @Override
    public void scale(Tensor x, float alpha) {
        check(CpuKernels.basq_scale(x.ptr(), alpha, x.numel()), "scale");
    }

    @Override
    public synchronized double sumSquares(Tensor x) {
        check(CpuKernels.basq_sum_squares(x.ptr(), x.numel(), scalarOut), "sum_squares");
        return scalarOut.get();
    }

    @Override
    public void relu(Tensor x, Tensor y) {
        check(CpuKernels.basq_relu_fwd(x.ptr(), y.ptr(), x.numel()), "relu");
    }

    @Override
    public void reluBackward(Tensor y, Tensor dy, Tensor dx) {
        check(CpuKernels.basq_relu_bwd(y.ptr(), dy.ptr(), dx.ptr(), y.numel()), "relu_bwd");
    }

    @Override
    public void dropout(Tensor x, Tensor y, Tensor mask, float p, long seed, long offset) {
        check(CpuKernels.basq_dropout_fwd(x.ptr(), y.ptr(), mask.bytePtr(), x.numel(), p, seed, offset), "dropout");
    }

    @Override
    public void dropoutBackward(Tensor dy, Tensor mask, Tensor dx, float p) {
        check(CpuKernels.basq_dropout_bwd(dy.ptr(), mask.bytePtr(), dx.ptr(), dy.numel(), p), "dropout_bwd");
    }

    // ---------------------------------------------------------------- quantizers

    @Override
    public void clipQuant(Tensor x, Tensor y, Tensor upper, Tensor bin) {
        check(CpuKernels.basq_clip_quant_fwd(x.ptr(), y.ptr(), x.numel(), upper.ptr(), bin.ptr()), "clip_quant");
    }

    @Override
    public void clipQuantBackward(Tensor x, Tensor dy, Tensor dx, Tensor dupper, Tensor upper) {
        check(CpuKernels.basq_clip_quant_bwd(x.ptr(), dy.ptr(), dx.ptr(), dupper.ptr(), x.numel(), upper.ptr()),
                "clip_quant_bwd");
    }

    @Override
    public void lsq(Tensor x, Tensor s, Tensor y, int outer, int channels, long inner, int qn, int qp) {
        check(CpuKernels.basq_lsq_fwd(x.ptr(), s.ptr(), y.ptr(), outer, channels, inner, qn, qp), "lsq");
    }

    @Override
    public void lsqBackward(Tensor x, Tensor s, Tensor dy, Tensor dx, Tensor ds, int outer, int channels, long inner,
            int qn, int qp, float gscale) {
        check(CpuKernels.basq_lsq_bwd(x.ptr(), s.ptr(), dy.ptr(), dx.ptr(), ds.ptr(), outer, channels, inner, qn, qp,
                gscale), "lsq_bwd");
    }

    @Override
    public void channelAbsMean(Tensor x, Tensor out, int outer, int channels, long inner) {
        check(CpuKernels.basq_channel_abs_mean(x.ptr(), out.ptr(), outer, channels, inner), "channel_abs_mean");
    }

    // ---------------------------------------------------------------- convolution, linear

    private Tensor workspace(ConvGeom g) {
        long n = CpuKernels.basq_conv2d_workspace_floats(g.n(), g.cin(), g.h(), g.w(), g.cout(), g.kh(), g.kw(),
                g.sh(), g.sw(), g.ph(), g.pw(), g.groups());
        if (n < 0) {
            throw new IllegalArgumentException("invalid convolution " + g);
        }
        return n == 0 ? null : Tensor.empty(Shape.of(Math.toIntExact(n)), DType.F32, Device.CPU).detach();
    }

    private static FloatPointer p(Tensor t) {
        return t == null ? null : t.ptr();
    }

    @Override
    public void conv2d(Tensor x, Tensor w, Tensor y, ConvGeom g) {
        try (Tensor ws = workspace(g)) {
            check(CpuKernels.basq_conv2d_fwd(x.ptr(), w.ptr(), y.ptr(), p(ws), g.n(), g.cin(), g.h(), g.w(), g.cout(),
                    g.kh(), g.kw(), g.sh(), g.sw(), g.ph(), g.pw(), g.groups()), "conv2d");
        }
    }

    @Override
    public void conv2dBackwardData(Tensor dy, Tensor w, Tensor dx, ConvGeom g) {
        try (Tensor ws = workspace(g)) {
            check(CpuKernels.basq_conv2d_bwd_data(dy.ptr(), w.ptr(), dx.ptr(), p(ws), g.n(), g.cin(), g.h(), g.w(),
                    g.cout(), g.kh(), g.kw(), g.sh(), g.sw(), g.ph(), g.pw(), g.groups()), "conv2d_bwd_data");
        }
    }

    @Override
    public void conv2dBackwardFilter(Tensor x, Tensor dy, Tensor dw, ConvGeom g) {
        try (Tensor ws = workspace(g)) {
            check(CpuKernels.basq_conv2d_bwd_filter(x.ptr(), dy.ptr(), dw.ptr(), p(ws), g.n(), g.cin(), g.h(), g.w(),
                    g.cout(), g.kh(), g.kw(), g.sh(), g.sw(), g.ph(), g.pw(), g.groups()), "conv2d_bwd_filter");
        }
    }

    @Override
    public void linear(Tensor x, Tensor w, Tensor b, Tensor y) {
        check(CpuKernels.basq_linear_fwd(x.ptr(), w.ptr(), p(b), y.ptr(), x.dim(0), x.dim(1), w.dim(0)), "linear");
    }

    @Override
    public void linearBackward(Tensor x, Tensor w, Tensor dy, Tensor dx, Tensor dw, Tensor db) {
        check(CpuKernels.basq_linear_bwd(x.ptr(), w.ptr(), dy.ptr(), p(dx), dw.ptr(), p(db), x.dim(0), x.dim(1),
                w.dim(0)), "linear_bwd");
    }

    // ---------------------------------------------------------------- batch norm

    private static long hw(Tensor x) {
        return x.shape().numelFrom(2);
    }

    @Override
    public void batchNormTrain(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor saveMean, Tensor saveInvstd,
            Tensor runningMean, Tensor runningVar, float eps, float momentum) {
        check(CpuKernels.basq_bn_train_fwd(x.ptr(), gamma.ptr(), beta.ptr(), y.ptr(), saveMean.ptr(),
                saveInvstd.ptr(), p(runningMean), p(runningVar), x.dim(0), x.dim(1), hw(x), eps, momentum),
                "bn_train");
    }

    @Override
    public void batchNormEval(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar, Tensor y,
            float eps) {
        check(CpuKernels.basq_bn_eval_fwd(x.ptr(), gamma.ptr(), beta.ptr(), runningMean.ptr(), runningVar.ptr(),
                y.ptr(), x.dim(0), x.dim(1), hw(x), eps), "bn_eval");
    }

    @Override
    public void batchNormBackward(Tensor x, Tensor dy, Tensor gamma, Tensor saveMean, Tensor saveInvstd, Tensor dx,
            Tensor dgamma, Tensor dbeta) {
        check(CpuKernels.basq_bn_bwd(x.ptr(), dy.ptr(), gamma.ptr(), saveMean.ptr(), saveInvstd.ptr(), dx.ptr(),
                p(dgamma), p(dbeta), x.dim(0), x.dim(1), hw(x)), "bn_bwd");
    }

    // ---------------------------------------------------------------- pooling, skip

    @Override
    public void avgPool(Tensor x, Tensor y, int k, int s) {
        check(CpuKernels.basq_avgpool_fwd(x.ptr(), y.ptr(), x.dim(0), x.dim(1), x.dim(2), x.dim(3), k, s), "avgpool");
    }

    @Override
    public void avgPoolBackward(Tensor dy, Tensor dx, int k, int s) {
        check(CpuKernels.basq_avgpool_bwd(dy.ptr(), dx.ptr(), dx.dim(0), dx.dim(1), dx.dim(2), dx.dim(3), k, s),
                "avgpool_bwd");
    }

    @Override
    public void globalAvgPool(Tensor x, Tensor y) {
        check(CpuKernels.basq_global_avgpool_fwd(x.ptr(), y.ptr(), x.dim(0), x.dim(1), hw(x)), "global_avgpool");
    }

    @Override
    public void globalAvgPoolBackward(Tensor dy, Tensor dx) {
        check(CpuKernels.basq_global_avgpool_bwd(dy.ptr(), dx.ptr(), dx.dim(0), dx.dim(1), hw(dx)),
                "global_avgpool_bwd");
    }

    @Override
    public void maxPool(Tensor x, Tensor y, Tensor idx, int k, int s, int p) {
        check(CpuKernels.basq_maxpool_fwd(x.ptr(), y.ptr(), idx.intPtr(), x.dim(0), x.dim(1), x.dim(2), x.dim(3), k, s,
                p), "maxpool");
    }

    @Override
    public void maxPoolBackward(Tensor dy, Tensor idx, Tensor dx, int k, int s, int p) {
        check(CpuKernels.basq_maxpool_bwd(dy.ptr(), idx.intPtr(), dx.ptr(), dx.dim(0), dx.dim(1), dx.dim(2), dx.dim(3),
                k, s, p), "maxpool_bwd");
    }

    @Override
    public void flexSkip(Tensor x, Tensor y) {
        check(CpuKernels.basq_flex_skip_fwd(x.ptr(), y.ptr(), x.dim(0), x.dim(1), y.dim(1), hw(x)), "flex_skip");
    }

    @Override
    public void flexSkipBackward(Tensor dy, Tensor dx) {
        check(CpuKernels.basq_flex_skip_bwd(dy.ptr(), dx.ptr(), dx.dim(0), dx.dim(1), dy.dim(1), hw(dx)),
                "flex_skip_bwd");
    }

    // ---------------------------------------------------------------- losses

    @Override
    public void softmaxCrossEntropy(Tensor logits, Tensor target, Tensor loss, Tensor prob) {
        check(CpuKernels.basq_softmax_xent_fwd(logits.ptr(), target.longPtr(), loss.ptr(), prob.ptr(), logits.dim(0),
                logits.dim(1)), "softmax_xent");
    }

    @Override
    public void softmaxCrossEntropyBackward(Tensor prob, Tensor target, Tensor dloss, Tensor dlogits) {
        check(CpuKernels.basq_softmax_xent_bwd(prob.ptr(), target.longPtr(), dloss.ptr(), dlogits.ptr(), prob.dim(0),
                prob.dim(1)), "softmax_xent_bwd");
    }

    @Override
    public void kdLoss(Tensor student, Tensor teacher, Tensor loss, Tensor pStudent, Tensor pTeacher) {
        check(CpuKernels.basq_kd_loss_fwd(student.ptr(), teacher.ptr(), loss.ptr(), pStudent.ptr(), pTeacher.ptr(),
                student.dim(0), student.dim(1)), "kd_loss");
    }

    @Override
    public void kdLossBackward(Tensor pStudent, Tensor pTeacher, Tensor dloss, Tensor dstudent) {
        check(CpuKernels.basq_kd_loss_bwd(pStudent.ptr(), pTeacher.ptr(), dloss.ptr(), dstudent.ptr(),
                pStudent.dim(0), pStudent.dim(1)), "kd_loss_bwd");
    }

    // ---------------------------------------------------------------- optimizers

    @Override
    public void adamStep(Tensor p, Tensor g, Tensor m, Tensor v, double stepSize, double beta1, double beta2,
            double eps, double wd, double bc2Sqrt) {
        check(CpuKernels.basq_adam_step(p.ptr(), g.ptr(), m.ptr(), v.ptr(), p.numel(), stepSize, beta1, beta2, eps, wd,
                bc2Sqrt), "adam_step");
    }

    @Override
    public void sgdStep(Tensor p, Tensor g, Tensor buf, float lr, float momentum, float wd, boolean nesterov) {
        check(CpuKernels.basq_sgd_step(p.ptr(), g.ptr(), buf.ptr(), p.numel(), lr, momentum, wd, nesterov ? 1 : 0),
                "sgd_step");
    }

    // ---------------------------------------------------------------- fused (fused.h)

    @Override
    public boolean fuses(Fused family) {
        return true;
    }

    @Override
    public void batchNormEvalClipQuant(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
            Tensor y, float eps, Tensor upper, Tensor bin) {
        check(CpuKernels.basq_bn_eval_clip_quant_fwd(x.ptr(), gamma.ptr(), beta.ptr(), runningMean.ptr(),
                runningVar.ptr(), y.ptr(), x.dim(0), x.dim(1), hw(x), eps, upper.ptr(), bin.ptr()),
                "bn_eval_clip_quant");
    }

    @Override
    public void batchNormEvalLsq(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar, Tensor y,
            float eps, Tensor s, int qn, int qp) {
        check(CpuKernels.basq_bn_eval_lsq_fwd(x.ptr(), gamma.ptr(), beta.ptr(), runningMean.ptr(), runningVar.ptr(),
                y.ptr(), x.dim(0), x.dim(1), hw(x), eps, s.ptr(), qn, qp), "bn_eval_lsq");
    }

    @Override
    public void batchNormTrainClipQuant(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor saveMean,
            Tensor saveInvstd, Tensor runningMean, Tensor runningVar, float eps, float momentum, Tensor upper,
            Tensor bin) {
        check(CpuKernels.basq_bn_train_clip_quant_fwd(x.ptr(), gamma.ptr(), beta.ptr(), y.ptr(), saveMean.ptr(),
                saveInvstd.ptr(), p(runningMean), p(runningVar), x.dim(0), x.dim(1), hw(x), eps, momentum,
                upper.ptr(), bin.ptr()), "bn_train_clip_quant");
    }

    @Override
    public void batchNormClipQuantBackward(Tensor x, Tensor dy, Tensor gamma, Tensor beta, Tensor saveMean,
            Tensor saveInvstd, Tensor upper, Tensor dx, Tensor dgamma, Tensor dbeta, Tensor dupper) {
        check(CpuKernels.basq_bn_clip_quant_bwd(x.ptr(), dy.ptr(), gamma.ptr(), beta.ptr(), saveMean.ptr(),
                saveInvstd.ptr(), upper.ptr(), dx.ptr(), p(dgamma), p(dbeta), dupper.ptr(), x.dim(0), x.dim(1),
                hw(x)), "bn_clip_quant_bwd");
    }

    @Override
    public void batchNormTrainLsq(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor saveMean, Tensor saveInvstd,
            Tensor runningMean, Tensor runningVar, float eps, float momentum, Tensor s, int qn, int qp) {
        check(CpuKernels.basq_bn_train_lsq_fwd(x.ptr(), gamma.ptr(), beta.ptr(), y.ptr(), saveMean.ptr(),
                saveInvstd.ptr(), p(runningMean), p(runningVar), x.dim(0), x.dim(1), hw(x), eps, momentum, s.ptr(),
                qn, qp), "bn_train_lsq");
    }

    @Override
    public void batchNormLsqBackward(Tensor x, Tensor dy, Tensor gamma, Tensor beta, Tensor saveMean,
            Tensor saveInvstd, Tensor s, Tensor dx, Tensor dgamma, Tensor dbeta, Tensor ds, int qn, int qp,
            float gscale) {
        check(CpuKernels.basq_bn_lsq_bwd(x.ptr(), dy.ptr(), gamma.ptr(), beta.ptr(), saveMean.ptr(),
                saveInvstd.ptr(), s.ptr(), dx.ptr(), p(dgamma), p(dbeta), ds.ptr(), x.dim(0), x.dim(1), hw(x), qn, qp,
                gscale), "bn_lsq_bwd");
    }

    @Override
    public void unitTailEval(Tensor z, Tensor gamma1, Tensor beta1, Tensor mean1, Tensor var1, Tensor skip,
            Tensor gamma2, Tensor beta2, Tensor mean2, Tensor var2, Tensor res, Tensor y, float eps) {
        check(CpuKernels.basq_unit_tail_eval_fwd(z.ptr(), gamma1.ptr(), beta1.ptr(), mean1.ptr(), var1.ptr(),
                skip.ptr(), skip.dim(1), gamma2.ptr(), beta2.ptr(), mean2.ptr(), var2.ptr(), p(res), y.ptr(),
                z.dim(0), z.dim(1), hw(z), eps), "unit_tail_eval");
    }

    @Override
    public void unitTailTrain(Tensor z, Tensor gamma1, Tensor beta1, Tensor saveMean1, Tensor saveInvstd1,
            Tensor runningMean1, Tensor runningVar1, Tensor skip, Tensor gamma2, Tensor beta2, Tensor saveMean2,
            Tensor saveInvstd2, Tensor runningMean2, Tensor runningVar2, Tensor s, Tensor y, float eps,
            float momentum) {
        check(CpuKernels.basq_unit_tail_train_fwd(z.ptr(), gamma1.ptr(), beta1.ptr(), saveMean1.ptr(),
                saveInvstd1.ptr(), p(runningMean1), p(runningVar1), skip.ptr(), skip.dim(1), gamma2.ptr(),
                beta2.ptr(), saveMean2.ptr(), saveInvstd2.ptr(), p(runningMean2), p(runningVar2), s.ptr(), y.ptr(),
                z.dim(0), z.dim(1), hw(z), eps, momentum), "unit_tail_train");
    }

    @Override
    public void unitTailBackward(Tensor z, Tensor s, Tensor dy, Tensor gamma1, Tensor beta1, Tensor saveMean1,
            Tensor saveInvstd1, Tensor gamma2, Tensor saveMean2, Tensor saveInvstd2, Tensor ds, Tensor dz,
            Tensor dgamma1, Tensor dbeta1, Tensor dgamma2, Tensor dbeta2) {
        check(CpuKernels.basq_unit_tail_bwd(z.ptr(), s.ptr(), dy.ptr(), gamma1.ptr(), beta1.ptr(), saveMean1.ptr(),
                saveInvstd1.ptr(), gamma2.ptr(), saveMean2.ptr(), saveInvstd2.ptr(), ds.ptr(), dz.ptr(), p(dgamma1),
                p(dbeta1), p(dgamma2), p(dbeta2), z.dim(0), z.dim(1), hw(z)), "unit_tail_bwd");
    }
}
