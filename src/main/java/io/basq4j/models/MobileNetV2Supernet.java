package io.basq4j.models;

import io.basq4j.autograd.F;
import io.basq4j.nn.BatchNorm2d;
import io.basq4j.nn.Conv2d;
import io.basq4j.nn.Init;
import io.basq4j.nn.ModuleList;
import io.basq4j.nn.ReLU;
import io.basq4j.nn.Sequential;
import io.basq4j.nn.quant.QConv2d;
import io.basq4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * The MobileNet-v2 supernet of SPEC 3 with the reference's parameter names.
 *
 * <pre>
 * feature.0            stem: conv1 (3x3, stride s0, full precision), bn1, ReLU
 * feature.1 .. 17      inverted residual blocks (17 searched 3x3 units)
 *   bn_qconv_bn_relu_0, bn0_last      U1(in -> hidden)   (absent when t == 1)
 *   branch_bn_q_1.{j}, conv1, branch_bn_1.{j}, bn1_last.{j}   U3[j](hidden, stride)
 *   bn_qconv_bn_relu_2, bn2_last      U1(hidden -> out)
 * feature.18           last unit U1(c_last -> 1280): bn_qconv_bn_relu_0, bn0_last
 * classifier.1         Linear(1280 -> classes) after global pooling and dropout (classifier.0)
 * </pre>
 *
 * The last width is 1280 whatever the width multiplier (SPEC 3).
 */
public final class MobileNetV2Supernet extends Supernet {
    /** (t, c, n, s) per stage; the first is the stem. */
    public static final int[][] STAGES = {
        {1, 32, 1, 2}, {1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2}, {6, 96, 3, 1}, {6, 160, 3, 2},
        {6, 320, 1, 1}};
    public static final int LAST_CHANNELS = 1280;

    public MobileNetV2Supernet(ModelConfig config) {
        super(config);
        Init init = init();
        List<SupernetBlock> blocks = new ArrayList<>();
        int c0 = config.scaled(STAGES[0][1]);
        Stem stem = new Stem(init, config.inChannels(), c0, STAGES[0][3], config.resolution());
        blocks.add(stem);
        int cin = c0;
        int size = stem.outSize;
        int index = 1;
        for (int st = 1; st < STAGES.length; st++) {
            int t = STAGES[st][0];
            int cout = config.scaled(STAGES[st][1]);
            for (int k = 0; k < STAGES[st][2]; k++) {
                int stride = k == 0 ? STAGES[st][3] : 1;
                InvertedResidual b = new InvertedResidual(init, index++, cin, cout, stride, t, size, config);
                blocks.add(b);
                size = b.info().outSize();
                cin = cout;
            }
        }
        blocks.add(new LastUnit(init, index, cin, LAST_CHANNELS, size, config.bits()));
        build(blocks, LAST_CHANNELS);
    }

    @Override
    public String arch() {
        return "mobilenetv2";
    }

    /** Feature 0: {@code ReLU(BN(Conv3x3(in -> c0, stride, pad 1)))}, full precision. */
    static final class Stem extends SupernetBlock {
        private final Conv2d conv;
        private final BatchNorm2d bn;
        private final ReLU relu;
        private final BlockInfo info;
        final int outSize;

        Stem(Init init, int cin, int cout, int stride, int inSize) {
            conv = register("conv1", new Conv2d(init, cin, cout, 3, stride, 1, 1));
            bn = register("bn1", new BatchNorm2d(init, cout));
            relu = register("relu", new ReLU());
            outSize = conv.outSize(inSize);
            info = new BlockInfo(0, "stem", cin, cout, stride, 1, cout, parameterCount(), 0, outSize);
        }

        @Override
        public Tensor forward(Tensor x, int[] selection, int offset) {
            return relu.forward(bn.forward(conv.forward(x)));
        }

        @Override
        public <T> T describe(GraphWriter<T> g, T x, int[] selection, int offset) {
            return g.relu(g.batchNorm(g.conv(x, conv), bn));
        }

        @Override
        public int searchedUnits() {
            return 0;
        }

        @Override
        public BlockInfo info() {
            return info;
        }
    }

    /**
     * SPEC 2: {@code h0 = t == 1 ? x : U1(in -> hidden)(x)}, {@code h1 = U3[j](hidden, stride)(h0)},
     * {@code h2 = U1(hidden -> out)(h1)}; output {@code h2 + x} when stride 1 and in == out.
     */
    static final class InvertedResidual extends SupernetBlock {
        private final PointwiseUnit expand;
        private final BranchUnit branch;
        private final PointwiseUnit project;
        private final boolean residual;
        private final BlockInfo info;

        InvertedResidual(Init init, int index, int cin, int cout, int stride, int t, int inSize, ModelConfig cfg) {
            int bits = cfg.bits();
            int l = cfg.branches();
            int hidden = (int) Math.rint(cin * (double) t);
            if (t != 1) {
                Sequential s0 = register("bn_qconv_bn_relu_0", PointwiseUnit.sequence(init, cin, hidden, bits));
                BatchNorm2d c0 = register("bn0_last", new BatchNorm2d(init, hidden));
                expand = new PointwiseUnit(s0, c0);
            } else {
                if (hidden != cin) {
                    throw new IllegalStateException("t == 1 needs hidden == in");
                }
                expand = null;
            }
            ModuleList<Sequential> bq = register("branch_bn_q_1", BranchUnit.bnQuant(init, hidden, bits, l));
            QConv2d dw = register("conv1", new QConv2d(init, hidden, hidden, 3, stride, 1, hidden, bits));
            ModuleList<Sequential> br = register("branch_bn_1", BranchUnit.bnRelu(init, hidden, l));
            ModuleList<BatchNorm2d> bl = register("bn1_last", BranchUnit.last(init, hidden, l));
            branch = new BranchUnit(bq, dw, br, bl);
            Sequential s2 = register("bn_qconv_bn_relu_2", PointwiseUnit.sequence(init, hidden, cout, bits));
            BatchNorm2d c2 = register("bn2_last", new BatchNorm2d(init, cout));
            project = new PointwiseUnit(s2, c2);
            residual = stride == 1 && cin == cout;
            int outSize = dw.outSize(inSize);
            SkipPool.outSize(inSize, stride); // rejects sizes the skip cannot follow
            info = new BlockInfo(index, "inverted-residual", cin, cout, stride, t, hidden, parameterCount(), 1,
                    outSize);
        }

        @Override
        public Tensor forward(Tensor x, int[] selection, int offset) {
            Tensor h0 = expand == null ? x : expand.forward(x);
            Tensor h1 = branch.forward(h0, selection[offset]);
            return project.forward(h1, residual ? x : null);
        }

        @Override
        public <T> T describe(GraphWriter<T> g, T x, int[] selection, int offset) {
            T h0 = expand == null ? x : expand.describe(g, x, null);
            T h1 = branch.describe(g, h0, selection[offset], null);
            return project.describe(g, h1, residual ? x : null);
        }

        @Override
        public int searchedUnits() {
            return 1;
        }

        @Override
        public BlockInfo info() {
            return info;
        }
    }

    /** Feature 18: U1(c_last -> 1280), named {@code bn_qconv_bn_relu_0} and {@code bn0_last}. */
    static final class LastUnit extends SupernetBlock {
        private final PointwiseUnit unit;
        private final BlockInfo info;

        LastUnit(Init init, int index, int cin, int cout, int size, int bits) {
            Sequential s0 = register("bn_qconv_bn_relu_0", PointwiseUnit.sequence(init, cin, cout, bits));
            BatchNorm2d c0 = register("bn0_last", new BatchNorm2d(init, cout));
            unit = new PointwiseUnit(s0, c0);
            info = new BlockInfo(index, "last-unit", cin, cout, 1, 1, cout, parameterCount(), 0, size);
        }

        @Override
        public Tensor forward(Tensor x, int[] selection, int offset) {
            return unit.forward(x);
        }

        @Override
        public <T> T describe(GraphWriter<T> g, T x, int[] selection, int offset) {
            return unit.describe(g, x, null);
        }

        @Override
        public int searchedUnits() {
            return 0;
        }

        @Override
        public BlockInfo info() {
            return info;
        }
    }
}
