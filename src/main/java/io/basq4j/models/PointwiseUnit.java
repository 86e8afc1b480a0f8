package io.basq4j.models;

import io.basq4j.autograd.F;
import io.basq4j.nn.BatchNorm2d;
import io.basq4j.nn.Init;
import io.basq4j.nn.ReLU;
import io.basq4j.nn.Sequential;
import io.basq4j.nn.quant.LsqActQuantizer;
import io.basq4j.nn.quant.QConv2d;
import io.basq4j.nn.quant.QuantBits;
import io.basq4j.tensor.Tensor;

/**
 * The 1x1 unit U1(cin -> cout) of SPEC 2:
 * {@code y = BN_c(ReLU(BN_b(QConv1x1(Q_lsq(BN_a(x))))) + F(cin -> cout)(x))}.
 *
 * <p>Not a module itself: its modules live in the owning block under the reference names
 * {@code bn_qconv_bn_relu_k} (a sequence 0: BN_a, 1: Q_lsq, 2: QConv, 3: BN_b, 4: ReLU) and
 * {@code bnk_last} (BN_c); {@link #sequence} builds the first.
 */
final class PointwiseUnit {
    private final Sequential body;
    private final BatchNorm2d last;
    private final int cout;

    PointwiseUnit(Sequential body, BatchNorm2d last) {
        this.body = body;
        this.last = last;
        QConv2d conv = body.get(2);
        this.cout = conv.outChannels();
    }

    /** BN_a, Q_lsq, QConv1x1, BN_b, ReLU. */
    static Sequential sequence(Init init, int cin, int cout, int bits) {
        return new Sequential(new BatchNorm2d(init, cin), new LsqActQuantizer(init, cin, bits),
                new QConv2d(init, cin, cout, 1, 1, 0, 1, bits), new BatchNorm2d(init, cout), new ReLU());
    }

    Tensor forward(Tensor x) {
        return forward(x, null);
    }

    /** What {@link #forward(Tensor, Tensor)} computes in evaluation mode, layer by layer. */
    <T> T describe(GraphWriter<T> g, T x, T res) {
        T h = g.lsqActivation(g.batchNorm(x, body.get(0)), body.get(1));
        T a = g.relu(g.batchNorm(g.quantizedConv(h, body.get(2)), body.get(3)));
        T y = g.batchNorm(g.add(a, g.flexSkip(x, cout)), last);
        return res == null ? y : g.add(y, res);
    }

    /**
     * The unit's output, plus {@code res} when not null (the block's residual). Runs as two fused
     * operations around the convolution (BN_a + Q_lsq, then BN_b + ReLU + skip + add + BN_c; see
     * {@link F#batchNormLsq} and {@link F#unitTail}), which compute the same values as the layers
     * one by one; the layers run one by one while the quantizer still has to initialize its steps
     * from its input or the ReLU shows its inputs to a probe.
     */
    Tensor forward(Tensor x, Tensor res) {
        BatchNorm2d bnA = body.get(0);
        LsqActQuantizer q = body.get(1);
        QConv2d conv = body.get(2);
        BatchNorm2d bnB = body.get(3);
        ReLU relu = body.get(4);
        if (q.initPending() || relu.hasProbe()) {
            Tensor a = body.forward(x);
            Tensor y = last.forward(F.add(a, F.flexSkip(x, cout, 1)));
            return res == null ? y : F.add(y, res);
        }
        boolean training = bnA.isTraining();
        Tensor[] pa = bnA.tensors();
        Tensor h = F.batchNormLsq(x, pa[0], pa[1], pa[2], pa[3], training, BatchNorm2d.MOMENTUM, BatchNorm2d.EPS,
                q.step().tensor(), 0, QuantBits.activationQp(q.bits()));
        bnA.countForward();
        Tensor z = conv.forward(h);
        Tensor y = F.unitTail(z, bnB.tensors(), x, last.tensors(), res, bnB.isTraining(), BatchNorm2d.MOMENTUM,
                BatchNorm2d.EPS);
        bnB.countForward();
        last.countForward();
        return y;
    }
}
