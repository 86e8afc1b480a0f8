package io.basq4j.models;

import io.basq4j.autograd.F;
import io.basq4j.nn.BatchNorm2d;
import io.basq4j.nn.Init;
import io.basq4j.nn.ModuleList;
import io.basq4j.nn.ReLU;
import io.basq4j.nn.Sequential;
import io.basq4j.nn.quant.ClipQuantizer;
import io.basq4j.nn.quant.QConv2d;
import io.basq4j.tensor.Tensor;

/**
 * The searched 3x3 unit U3[j] of SPEC 2:
 * {@code y = BN_c[j](ReLU(BN_b[j](QConv3x3_s(Q_clip[j](BN_a[j](x))))) + skip(x))}, with the
 * convolution weights shared by all branches. The convolution is depthwise in MobileNet-v2
 * (cin == cout, skip = identity or s x s pooling) and full in the ResNets (SPEC 4: skip =
 * F(cin -> cout) with the unit's stride).
 *
 * <p>Not a module itself: its modules live in the owning block under the reference names
 * {@code branch_bn_q_k.{j}} (0: BN_a[j], 1: Q_clip[j]), {@code convk}, {@code branch_bn_k.{j}}
 * (0: BN_b[j], 1: ReLU) and {@code bnk_last.{j}} (BN_c[j]); the static factories build them.
 */
final class BranchUnit {
    private final ModuleList<Sequential> bnQuant;
    private final QConv2d conv;
    private final ModuleList<Sequential> bnRelu;
    private final ModuleList<BatchNorm2d> last;
    private final int cin;
    private final int cout;
    private final int stride;

    BranchUnit(ModuleList<Sequential> bnQuant, QConv2d conv, ModuleList<Sequential> bnRelu,
            ModuleList<BatchNorm2d> last) {
        this.bnQuant = bnQuant;
        this.conv = conv;
        this.bnRelu = bnRelu;
        this.last = last;
        this.cin = conv.inChannels();
        this.cout = conv.outChannels();
        this.stride = conv.stride();
    }

    /** Per branch: BN_a[j], Q_clip[j]. */
    static ModuleList<Sequential> bnQuant(Init init, int channels, int bits, int branches) {
        ModuleList<Sequential> l = new ModuleList<>();
        for (int j = 0; j < branches; j++) {
            l.add(new Sequential(new BatchNorm2d(init, channels), new ClipQuantizer(init, bits, j)));
        }
        return l;
    }

    /** Per branch: BN_b[j], ReLU. */
    static ModuleList<Sequential> bnRelu(Init init, int channels, int branches) {
        ModuleList<Sequential> l = new ModuleList<>();
        for (int j = 0; j < branches; j++) {
            l.add(new Sequential(new BatchNorm2d(init, channels), new ReLU()));
        }
        return l;
    }

    /** Per branch: BN_c[j]. */
    static ModuleList<BatchNorm2d> last(Init init, int channels, int branches) {
        ModuleList<BatchNorm2d> l = new ModuleList<>();
        for (int j = 0; j < branches; j++) {
            l.add(new BatchNorm2d(init, channels));
        }
        return l;
    }

    int outSize(int h) {
        return conv.outSize(h);
    }

    /** The skip: F(cin -> cout) and s x s pooling, on whichever side keeps the tensor smaller. */
    private Tensor skip(Tensor x) {
        if (cout > cin) {
            return F.flexSkip(SkipPool.pool(x, stride), cout, 1);
        }
        return SkipPool.pool(F.flexSkip(x, cout, 1), stride);
    }

    Tensor forward(Tensor x, int branch) {
        return forward(x, branch, null);
    }

    /** What {@link #forward(Tensor, int, Tensor)} computes in evaluation mode, layer by layer. */
    <T> T describe(GraphWriter<T> g, T x, int branch, T res) {
        Sequential bq = bnQuant.get(branch);
        Sequential br = bnRelu.get(branch);
        T h = g.clipQuant(g.batchNorm(x, bq.get(0)), bq.get(1));
        T a = g.relu(g.batchNorm(g.quantizedConv(h, conv), br.get(0)));
        T skip = cout > cin ? g.flexSkip(SkipPool.describe(g, x, stride), cout)
                : SkipPool.describe(g, g.flexSkip(x, cout), stride);
        T y = g.batchNorm(g.add(a, skip), last.get(branch));
        return res == null ? y : g.add(y, res);
    }

    /**
     * Branch {@code branch}'s output, plus {@code res} when not null. Runs as two fused operations
     * around the convolution (BN_a[j] + Q_clip[j], then BN_b[j] + ReLU + skip + add + BN_c[j]; see
     * {@link F#batchNormClipQuant} and {@link F#unitTail}), which compute the same values as the
     * layers one by one; the layers run one by one while the ReLU shows its inputs to a probe.
     */
    Tensor forward(Tensor x, int branch, Tensor res) {
        Sequential bq = bnQuant.get(branch);
        Sequential br = bnRelu.get(branch);
        BatchNorm2d bnC = last.get(branch);
        ReLU relu = br.get(1);
        if (relu.hasProbe()) {
            Tensor a = bq.forward(x);
            a = conv.forward(a);
            a = br.forward(a);
            Tensor y = bnC.forward(F.add(a, skip(x)));
            return res == null ? y : F.add(y, res);
        }
        BatchNorm2d bnA = bq.get(0);
        ClipQuantizer q = bq.get(1);
        BatchNorm2d bnB = br.get(0);
        Tensor[] pa = bnA.tensors();
        Tensor h = F.batchNormClipQuant(x, pa[0], pa[1], pa[2], pa[3], bnA.isTraining(), BatchNorm2d.MOMENTUM,
                BatchNorm2d.EPS, q.upperBound().tensor(), q.bin().tensor());
        bnA.countForward();
        Tensor z = conv.forward(h);
        // The skip's flexible channel mapping runs inside the tail at stride 1; with pooling,
        // the skip is computed as before and passed with the unit's channels.
        Tensor src = stride == 1 ? x : skip(x);
        Tensor y = F.unitTail(z, bnB.tensors(), src, bnC.tensors(), res, bnB.isTraining(), BatchNorm2d.MOMENTUM,
                BatchNorm2d.EPS);
        bnB.countForward();
        bnC.countForward();
        return y;
    }
}
