package io.basq4j.autograd;

import io.basq4j.tensor.Backend;
import io.basq4j.tensor.ConvGeom;
import io.basq4j.tensor.DType;
import io.basq4j.tensor.Shape;
import io.basq4j.tensor.Tensor;

/**
 * The differentiable operations: each runs its forward kernel through the tensors' backend
 * and, when a gradient is needed, records a {@link Node} whose backward calls the backward
 * kernels. Results belong to the current {@link io.basq4j.tensor.Scope}.
 */
public final class F {
    private static volatile boolean fusion = !"false".equalsIgnoreCase(System.getProperty("basq4j.fused", "true"));

    private F() {
    }

    /**
     * Whether the fused operations (batchNormClipQuant, batchNormLsq, unitTail) call the
     * backend's fused kernels where it has them (the default; system property
     * {@code basq4j.fused=false} starts with them off). Off, they run the unfused sequence of
     * operations, which computes the same values: for comparisons and benchmarks.
     */
    public static void setFusion(boolean on) {
        fusion = on;
    }

    public static boolean fusion() {
        return fusion;
    }

    private static boolean fused(Backend b, Backend.Fused family) {
        return fusion && b.fuses(family);
    }

    private static Tensor like(Tensor t) {
        return Tensor.empty(t.shape(), t.dtype(), t.device());
    }

    private static Tensor empty(Tensor ref, int... dims) {
        return Tensor.empty(Shape.of(dims), DType.F32, ref.device());
    }

    private static void requireF32(String op, Tensor... ts) {
        for (Tensor t : ts) {
            if (t != null && t.dtype() != DType.F32) {
                throw new IllegalArgumentException(op + ": expected float32, got " + t);
            }
        }
    }

    private static void require4d(String op, Tensor x) {
        if (x.rank() != 4) {
            throw new IllegalArgumentException(op + ": expected an NCHW tensor, got " + x.shape());
        }
    }

    private static void sameShape(String op, Tensor a, Tensor b) {
        if (!a.shape().equals(b.shape())) {
            throw new IllegalArgumentException(op + ": shapes differ, " + a.shape() + " vs " + b.shape());
        }
    }

    // ------------------------------------------------------------------ element-wise

    public static Tensor relu(Tensor x) {
        requireF32("relu", x);
        Backend b = x.backend();
        Tensor y = like(x);
        b.relu(x, y);
        Node.record(y, "relu", new Tensor[] {x}, (g, n) -> {
            Tensor dx = like(g);
            b.reluBackward(y, g, dx);
            return new Tensor[] {dx};
        });
        return y;
    }

    public static Tensor add(Tensor a, Tensor c) {
        requireF32("add", a, c);
        sameShape("add", a, c);
        Tensor y = like(a);
        a.backend().add(a, c, y);
        Node.record(y, "add", new Tensor[] {a, c}, (g, n) -> new Tensor[] {g, g});
        return y;
    }

    /** Same data, new shape (a view); the gradient is reshaped back. */
    public static Tensor reshape(Tensor x, int... dims) {
        Tensor y = x.view(dims);
        int[] orig = x.shape().dims();
        Node.record(y, "reshape", new Tensor[] {x}, (g, n) -> new Tensor[] {g.view(orig)});
        return y;
    }

    /** Inverted dropout (identity when p == 0). Random stream from (seed, offset). */
    public static Tensor dropout(Tensor x, float p, long seed, long offset) {
        requireF32("dropout", x);
        if (p < 0f || p >= 1f) {
            throw new IllegalArgumentException("dropout probability " + p + " outside [0, 1)");
        }
        if (p == 0f) {
            return x;
        }
        Backend b = x.backend();
        Tensor y = like(x);
        Tensor mask = Tensor.empty(x.shape(), DType.U8, x.device());
        b.dropout(x, y, mask, p, seed, offset);
        Node.record(y, "dropout", new Tensor[] {x}, (g, n) -> {
            Tensor dx = like(g);
            b.dropoutBackward(g, mask, dx, p);
            return new Tensor[] {dx};
        }, mask);
        return y;
    }

    // ------------------------------------------------------------------ quantizers

    /** Clip fake-quantizer (SPEC 1.1); {@code upper} and {@code bin} are one-element tensors. */
    public static Tensor clipQuant(Tensor x, Tensor upper, Tensor bin) {
        requireF32("clip_quant", x, upper, bin);
        if (upper.numel() != 1 || bin.numel() != 1) {
            throw new IllegalArgumentException("clip_quant: upper_bound and bin must have one element");
        }
        Backend b = x.backend();
        Tensor y = like(x);
        b.clipQuant(x, y, upper, bin);
        // bin never receives a gradient (it is not an input of the node).
        Node.record(y, "clip_quant", new Tensor[] {x, upper}, (g, n) -> {
            Tensor dx = like(g);
            Tensor du = like(upper);
            b.clipQuantBackward(x, g, dx, du, upper);
            return new Tensor[] {dx, du};
        });
        return y;
    }

    /**
     * LSQ fake-quantizer per channel (SPEC 1.2/1.3) with integer range [qn, qp]. For an
     * activation [N, C, ...] {@code channelDim} is 1; for a weight [O, ...] it is 0. The step
     * gradient is scaled by 1/sqrt(numel(x) * qp).
     */
    public static Tensor lsq(Tensor x, Tensor step, int qn, int qp, int channelDim) {
        requireF32("lsq", x, step);
        int channels = x.dim(channelDim);
        if (step.numel() != channels) {
            throw new IllegalArgumentException("lsq: " + step.numel() + " steps for " + channels + " channels of "
                    + x.shape());
        }
        int outer = Math.toIntExact(x.numel() / x.shape().numelFrom(channelDim));
        long inner = x.shape().numelFrom(channelDim + 1);
        Backend b = x.backend();
        Tensor y = like(x);
        b.lsq(x, step, y, outer, channels, inner, qn, qp);
        float gscale = (float) (1.0 / Math.sqrt((double) x.numel() * qp));
        Node.record(y, "lsq", new Tensor[] {x, step}, (g, n) -> {
            Tensor dx = like(g);
            Tensor ds = like(step);
            b.lsqBackward(x, step, g, dx, ds, outer, channels, inner, qn, qp, gscale);
            return new Tensor[] {dx, ds};
        });
        return y;
    }

    // ------------------------------------------------------------------ convolution, linear

    /** 2-D convolution without bias: x [N,C,H,W], w [Cout, C/groups, KH, KW]. */
    public static Tensor conv2d(Tensor x, Tensor w, int stride, int pad, int groups) {
        requireF32("conv2d", x, w);
        ConvGeom geo = ConvGeom.of(x.shape(), w.shape(), stride, pad, groups);
        Backend b = x.backend();
        Tensor y = empty(x, geo.n(), geo.cout(), geo.ho(), geo.wo());
        b.conv2d(x, w, y, geo);
        Node.record(y, "conv2d", new Tensor[] {x, w}, (g, n) -> {
            Tensor dx = null;
            Tensor dw = null;
            if (n.needs(0)) {
                dx = like(x);
                b.conv2dBackwardData(g, w, dx, geo);
            }
            if (n.needs(1)) {
                dw = like(w);
                b.conv2dBackwardFilter(x, g, dw, geo);
            }
            return new Tensor[] {dx, dw};
        });
        return y;
    }

    /** y = x w^T + b for x [N, IN], w [OUT, IN], b [OUT] or null. */
    public static Tensor linear(Tensor x, Tensor w, Tensor bias) {
        requireF32("linear", x, w, bias);
        if (x.rank() != 2 || w.rank() != 2 || x.dim(1) != w.dim(1)
                || (bias != null && bias.numel() != w.dim(0))) {
            throw new IllegalArgumentException("linear: input " + x.shape() + ", weight " + w.shape() + ", bias "
                    + (bias == null ? "none" : bias.shape()));
        }
        Backend b = x.backend();
        Tensor y = empty(x, x.dim(0), w.dim(0));
        b.linear(x, w, bias, y);
        Tensor[] ins = bias == null ? new Tensor[] {x, w} : new Tensor[] {x, w, bias};
        Node.record(y, "linear", ins, (g, n) -> {
            Tensor dx = n.needs(0) ? like(x) : null;
            Tensor dw = like(w);
            Tensor db = bias != null ? like(bias) : null;
            b.linearBackward(x, w, g, dx, dw, db);
            return bias == null ? new Tensor[] {dx, dw} : new Tensor[] {dx, dw, db};
        });
        return y;
    }

    // ------------------------------------------------------------------ batch norm

    /**
     * Batch normalization over [N, C, ...]. Training: batch statistics, running statistics
     * updated in place (momentum, unbiased variance). Evaluation: running statistics.
     */
    public static Tensor batchNorm(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
            boolean training, float momentum, float eps) {
        int c = checkBatchNorm("batch_norm", x, gamma, beta, runningMean, runningVar);
        if (training) {
            requireBatchValues("batch_norm", x);
        }
        Backend b = x.backend();
        Tensor y = like(x);
        if (training) {
            Tensor mean = empty(x, c);
            Tensor invstd = empty(x, c);
            b.batchNormTrain(x, gamma, beta, y, mean, invstd, runningMean, runningVar, eps, momentum);
            Node.record(y, "batch_norm", new Tensor[] {x, gamma, beta}, (g, n) -> {
                Tensor dx = like(x);
                Tensor dg = like(gamma);
                Tensor db = like(beta);
                b.batchNormBackward(x, g, gamma, mean, invstd, dx, dg, db);
                return new Tensor[] {dx, dg, db};
            }, mean, invstd);
        } else {
            b.batchNormEval(x, gamma, beta, runningMean, runningVar, y, eps);
            if (Node.needed(x, gamma, beta)) {
                throw new UnsupportedOperationException(
                        "batch_norm: gradients through evaluation-mode batch norm are not supported");
            }
        }
        return y;
    }

    /**
     * Training-mode batch norm divides by the batch variance of each channel: with a single value
     * per channel (batch 1 at a 1x1 feature map) it is undefined. PyTorch refuses it too.
     */
    private static void requireBatchValues(String op, Tensor x) {
        long perChannel = x.numel() / Math.max(1, x.dim(1));
        if (perChannel < 2) {
            throw new IllegalArgumentException(op + ": training-mode batch norm needs more than one value per channel, "
                    + "got input " + x.shape() + " (a batch of " + x.dim(0) + " at " + (x.numel() / Math.max(1, x.dim(0))
                    / Math.max(1, x.dim(1))) + " values per example and channel): use a larger batch");
        }
    }

    private static int checkBatchNorm(String op, Tensor x, Tensor gamma, Tensor beta, Tensor runningMean,
            Tensor runningVar) {
        requireF32(op, x, gamma, beta, runningMean, runningVar);
        if (x.rank() < 2) {
            throw new IllegalArgumentException(op + ": expected [N, C, ...], got " + x.shape());
        }
        int c = x.dim(1);
        if (gamma.numel() != c || beta.numel() != c || runningMean.numel() != c || runningVar.numel() != c) {
            throw new IllegalArgumentException(op + ": parameters do not match " + c + " channels of "
                    + x.shape());
        }
        return c;
    }

    // ------------------------------------------------------------------ fused BASQ-block operations

    /**
     * {@code clipQuant(batchNorm(x, ...), upper, bin)}: BN_a followed by a branch's clip quantizer
     * (SPEC 2), one fused kernel where the backend has it (the batch norm's output is then neither
     * stored nor kept for the backward), else the two operations.
     */
    public static Tensor batchNormClipQuant(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean,
            Tensor runningVar, boolean training, float momentum, float eps, Tensor upper, Tensor bin) {
        Backend b = x.backend();
        boolean grad = Node.needed(x, gamma, beta, upper);
        if (!fused(b, training ? Backend.Fused.BN_QUANT_TRAIN : Backend.Fused.BN_QUANT_EVAL) || (!training && grad)) {
            return clipQuant(batchNorm(x, gamma, beta, runningMean, runningVar, training, momentum, eps), upper, bin);
        }
        int c = checkBatchNorm("batch_norm_clip_quant", x, gamma, beta, runningMean, runningVar);
        if (training) {
            requireBatchValues("batch_norm_clip_quant", x);
        }
        requireF32("batch_norm_clip_quant", upper, bin);
        if (upper.numel() != 1 || bin.numel() != 1) {
            throw new IllegalArgumentException("clip_quant: upper_bound and bin must have one element");
        }
        Tensor y = like(x);
        if (!training) {
            b.batchNormEvalClipQuant(x, gamma, beta, runningMean, runningVar, y, eps, upper, bin);
            return y;
        }
        Tensor mean = empty(x, c);
        Tensor invstd = empty(x, c);
        b.batchNormTrainClipQuant(x, gamma, beta, y, mean, invstd, runningMean, runningVar, eps, momentum, upper,
                bin);
        Node.record(y, "batch_norm_clip_quant", new Tensor[] {x, gamma, beta, upper}, (g, n) -> {
            Tensor dx = like(x);
            Tensor dg = like(gamma);
            Tensor db = like(beta);
            Tensor du = like(upper);
            b.batchNormClipQuantBackward(x, g, gamma, beta, mean, invstd, upper, dx, dg, db, du);
            return new Tensor[] {dx, dg, db, du};
        }, mean, invstd);
        return y;
    }

    /**
     * {@code lsq(batchNorm(x, ...), step, qn, qp, 1)}: BN_a followed by the per-channel LSQ
     * activation quantizer of a 1x1 unit (SPEC 2), fused where the backend can.
     */
    public static Tensor batchNormLsq(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
            boolean training, float momentum, float eps, Tensor step, int qn, int qp) {
        Backend b = x.backend();
        boolean grad = Node.needed(x, gamma, beta, step);
        if (!fused(b, training ? Backend.Fused.BN_QUANT_TRAIN : Backend.Fused.BN_QUANT_EVAL) || (!training && grad)) {
            return lsq(batchNorm(x, gamma, beta, runningMean, runningVar, training, momentum, eps), step, qn, qp, 1);
        }
        int c = checkBatchNorm("batch_norm_lsq", x, gamma, beta, runningMean, runningVar);
        if (training) {
            requireBatchValues("batch_norm_lsq", x);
        }
        requireF32("batch_norm_lsq", step);
        if (step.numel() != c) {
            throw new IllegalArgumentException("lsq: " + step.numel() + " steps for " + c + " channels of "
                    + x.shape());
        }
        if (qn > qp) {
            throw new IllegalArgumentException("lsq: range [" + qn + ", " + qp + "]");
        }
        Tensor y = like(x);
        if (!training) {
            b.batchNormEvalLsq(x, gamma, beta, runningMean, runningVar, y, eps, step, qn, qp);
            return y;
        }
        Tensor mean = empty(x, c);
        Tensor invstd = empty(x, c);
        b.batchNormTrainLsq(x, gamma, beta, y, mean, invstd, runningMean, runningVar, eps, momentum, step, qn, qp);
        float gscale = (float) (1.0 / Math.sqrt((double) x.numel() * qp));
        Node.record(y, "batch_norm_lsq", new Tensor[] {x, gamma, beta, step}, (g, n) -> {
            Tensor dx = like(x);
            Tensor dg = like(gamma);
            Tensor db = like(beta);
            Tensor ds = like(step);
            b.batchNormLsqBackward(x, g, gamma, beta, mean, invstd, step, dx, dg, db, ds, qn, qp, gscale);
            return new Tensor[] {dx, dg, db, ds};
        }, mean, invstd);
        return y;
    }

    /**
     * The tail of a BASQ unit (SPEC 2):
     * {@code batchNorm2(add(relu(batchNorm1(z)), flexSkip(skip, C, 1)))}, plus {@code res} when
     * not null, with z [N, C, H, W] (the convolution's output) and skip [N, Cskip, H, W]. One
     * fused kernel where the backend can (in training the residual, if any, is a separate add).
     * Parameters: {gamma, beta, runningMean, runningVar} of each batch norm.
     */
    public static Tensor unitTail(Tensor z, Tensor[] bn1, Tensor skip, Tensor[] bn2, Tensor res, boolean training,
            float momentum, float eps) {
        Backend b = z.backend();
        Tensor g1 = bn1[0], b1 = bn1[1], rm1 = bn1[2], rv1 = bn1[3];
        Tensor g2 = bn2[0], b2 = bn2[1], rm2 = bn2[2], rv2 = bn2[3];
        boolean grad = Node.needed(z, g1, b1, skip, g2, b2);
        require4d("unit_tail", z);
        require4d("unit_tail", skip);
        boolean fuse = fused(b, training ? Backend.Fused.UNIT_TAIL_TRAIN : Backend.Fused.UNIT_TAIL_EVAL)
                && !(!training && grad) && skip.dim(0) == z.dim(0) && skip.dim(2) == z.dim(2)
                && skip.dim(3) == z.dim(3);
        if (!fuse) {
            Tensor a = relu(batchNorm(z, g1, b1, rm1, rv1, training, momentum, eps));
            Tensor y = batchNorm(add(a, flexSkip(skip, z.dim(1), 1)), g2, b2, rm2, rv2, training, momentum, eps);
            return res == null ? y : add(y, res);
        }
        int c = checkBatchNorm("unit_tail", z, g1, b1, rm1, rv1);
        if (training) {
            requireBatchValues("unit_tail", z);
        }
        checkBatchNorm("unit_tail", z, g2, b2, rm2, rv2);
        requireF32("unit_tail", skip, res);
        if (res != null) {
            sameShape("unit_tail", z, res);
        }
        Tensor y = like(z);
        if (!training) {
            b.unitTailEval(z, g1, b1, rm1, rv1, skip, g2, b2, rm2, rv2, res, y, eps);
            return y;
        }
        Tensor s = like(z);
        Tensor m1 = empty(z, c), i1 = empty(z, c), m2 = empty(z, c), i2 = empty(z, c);
        b.unitTailTrain(z, g1, b1, m1, i1, rm1, rv1, skip, g2, b2, m2, i2, rm2, rv2, s, y, eps, momentum);
        int[] skipShape = skip.shape().dims();
        Node rec = Node.record(y, "unit_tail", new Tensor[] {z, g1, b1, skip, g2, b2}, (g, n) -> {
            Tensor ds = like(z);
            Tensor dz = like(z);
            Tensor dg1 = like(g1), db1 = like(b1), dg2 = like(g2), db2 = like(b2);
            b.unitTailBackward(z, s, g, g1, b1, m1, i1, g2, m2, i2, ds, dz, dg1, db1, dg2, db2);
            Tensor dskip = null;
            if (n.needs(3)) {
                if (skipShape[1] == c) {
                    dskip = ds;
                } else {
                    dskip = Tensor.empty(Shape.of(skipShape), DType.F32, g.device());
                    b.flexSkipBackward(ds, dskip);
                }
            }
            if (dskip != ds) {
                ds.close();
            }
            return new Tensor[] {dz, dg1, db1, dskip, dg2, db2};
        }, s, m1, i1, m2, i2);
        if (rec == null) {
            s.close();
        }
        return res == null ? y : add(y, res);
    }

    // ------------------------------------------------------------------ pooling, skip

    /** k x k average pooling with stride s (no padding, floor). */
    public static Tensor avgPool(Tensor x, int k, int s) {
        requireF32("avg_pool", x);
        require4d("avg_pool", x);
        int ho = (x.dim(2) - k) / s + 1;
        int wo = (x.dim(3) - k) / s + 1;
        if (ho < 1 || wo < 1) {
            throw new IllegalArgumentException("avg_pool " + k + "x" + k + " on " + x.shape());
        }
        Backend b = x.backend();
        Tensor y = empty(x, x.dim(0), x.dim(1), ho, wo);
        b.avgPool(x, y, k, s);
        int[] xs = x.shape().dims();
        Node.record(y, "avg_pool", new Tensor[] {x}, (g, n) -> {
            Tensor dx = Tensor.empty(Shape.of(xs), DType.F32, g.device());
            b.avgPoolBackward(g, dx, k, s);
            return new Tensor[] {dx};
        });
        return y;
    }

    /** Mean over H and W: [N, C, H, W] to [N, C]. */
    public static Tensor globalAvgPool(Tensor x) {
        requireF32("global_avg_pool", x);
        require4d("global_avg_pool", x);
        Backend b = x.backend();
        Tensor y = empty(x, x.dim(0), x.dim(1));
        b.globalAvgPool(x, y);
        int[] xs = x.shape().dims();
        Node.record(y, "global_avg_pool", new Tensor[] {x}, (g, n) -> {
            Tensor dx = Tensor.empty(Shape.of(xs), DType.F32, g.device());
            b.globalAvgPoolBackward(g, dx);
            return new Tensor[] {dx};
        });
        return y;
    }

    /** k x k max pooling, stride s, padding p. */
    public static Tensor maxPool(Tensor x, int k, int s, int p) {
        requireF32("max_pool", x);
        require4d("max_pool", x);
        int ho = (x.dim(2) + 2 * p - k) / s + 1;
        int wo = (x.dim(3) + 2 * p - k) / s + 1;
        if (ho < 1 || wo < 1) {
            throw new IllegalArgumentException("max_pool " + k + "x" + k + " on " + x.shape());
        }
        Backend b = x.backend();
        Tensor y = empty(x, x.dim(0), x.dim(1), ho, wo);
        Tensor idx = Tensor.empty(y.shape(), DType.I32, x.device());
        b.maxPool(x, y, idx, k, s, p);
        int[] xs = x.shape().dims();
        Node rec = Node.record(y, "max_pool", new Tensor[] {x}, (g, n) -> {
            Tensor dx = Tensor.empty(Shape.of(xs), DType.F32, g.device());
            b.maxPoolBackward(g, idx, dx, k, s, p);
            return new Tensor[] {dx};
        }, idx);
        if (rec == null) {
            idx.close();
        }
        return y;
    }

    /**
     * The flexible skip F(cin -> cout) of SPEC 2 (identity, tiling or folding of channels),
     * followed by s x s average pooling when stride s > 1.
     */
    public static Tensor flexSkip(Tensor x, int cout, int stride) {
        requireF32("flex_skip", x);
        require4d("flex_skip", x);
        Tensor y;
        if (cout == x.dim(1)) {
            y = x;
        } else {
            Backend b = x.backend();
            y = empty(x, x.dim(0), cout, x.dim(2), x.dim(3));
            b.flexSkip(x, y);
            int[] xs = x.shape().dims();
            Node.record(y, "flex_skip", new Tensor[] {x}, (g, n) -> {
                Tensor dx = Tensor.empty(Shape.of(xs), DType.F32, g.device());
                b.flexSkipBackward(g, dx);
                return new Tensor[] {dx};
            });
        }
        return stride > 1 ? avgPool(y, stride, stride) : y;
    }

    // ------------------------------------------------------------------ losses

    /** Mean cross-entropy of logits [N, K] against int64 targets [N]; a one-element tensor. */
    public static Tensor crossEntropy(Tensor logits, Tensor target) {
        requireF32("cross_entropy", logits);
        if (logits.rank() != 2 || target.dtype() != DType.I64 || target.numel() != logits.dim(0)) {
            throw new IllegalArgumentException("cross_entropy: logits " + logits.shape() + " and "
                    + target.dtype() + " targets " + target.shape());
        }
        Backend b = logits.backend();
        Tensor loss = empty(logits, 1);
        Tensor prob = like(logits);
        b.softmaxCrossEntropy(logits, target, loss, prob);
        Node rec = Node.record(loss, "cross_entropy", new Tensor[] {logits}, (g, n) -> {
            Tensor dl = like(logits);
            b.softmaxCrossEntropyBackward(prob, target, g, dl);
            return new Tensor[] {dl};
        }, prob);
        if (rec == null) {
            prob.close();
        }
        return loss;
    }

    /** Distillation loss (SPEC 5) of student logits against (constant) teacher logits. */
    public static Tensor kdLoss(Tensor student, Tensor teacher) {
        requireF32("kd_loss", student, teacher);
        if (student.rank() != 2) {
            throw new IllegalArgumentException("kd_loss: expected [N, K] logits, got " + student.shape());
        }
        sameShape("kd_loss", student, teacher);
        Backend b = student.backend();
        Tensor loss = empty(student, 1);
        Tensor ps = like(student);
        Tensor pt = like(student);
        b.kdLoss(student, teacher, loss, ps, pt);
        Node rec = Node.record(loss, "kd_loss", new Tensor[] {student}, (g, n) -> {
            Tensor ds = like(student);
            b.kdLossBackward(ps, pt, g, ds);
            return new Tensor[] {ds};
        }, ps, pt);
        if (rec == null) {
            ps.close();
            pt.close();
        }
        return loss;
    }
}
