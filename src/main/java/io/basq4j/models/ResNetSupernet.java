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
 * ResNet supernets with the BASQ block (SPEC 4, this project's extension; the reference ships
 * MobileNet-v2 only). Choices SPEC leaves open, made here:
 *
 * <ul>
 * <li>Naming mirrors the MobileNet-v2 layout so the same tooling applies: {@code feature.0} is the
 * stem ({@code conv1}, {@code bn1}), {@code feature.1..B} the basic blocks in order, and
 * {@code classifier.1} the linear layer (after global pooling and dropout {@code classifier.0},
 * as in MobileNet-v2; configure dropout 0 for a plain ResNet head).</li>
 * <li>A basic block's two 3x3 convolutions are branch units named like MobileNet-v2's:
 * unit k (1, 2) is {@code branch_bn_q_k.{j}} (BN_a[j], Q_clip[j]), {@code convk} (a full
 * quantized 3x3 convolution, pad 1), {@code branch_bn_k.{j}} (BN_b[j], ReLU) and
 * {@code bnk_last.{j}} (BN_c[j]). Unit 1 takes the block's stride and channel change, unit 2 is
 * stride 1, out -> out.</li>
 * <li>Every unit has its BN_a, the first unit of a block included, as in MobileNet-v2 where the
 * first unit after the (ReLU-ending) stem has one too.</li>
 * <li>Unit skips and the block residual combine as in SPEC 2's inverted residual: each unit adds
 * its own skip F(cin -> cout) (pooled by its stride) before its BN_c, and the block adds its
 * identity residual after the second unit's BN_c, only when stride is 1 and in == out. There is
 * no ReLU after the residual sum (the next unit's BN_a and clip quantizer follow).</li>
 * <li>Channel widths are scaled by the width multiplier and made divisible by the divisor, as in
 * MobileNet-v2; the stem is full precision, as is the classifier.</li>
 * <li>Each block consumes two selection entries (unit 1, then unit 2); ResNet-18 has 16 searched
 * units, ResNet-20 18.</li>
 * </ul>
 */
public final class ResNetSupernet extends Supernet {
    /** The two depths. */
    public enum Variant {
        /** ImageNet stem (7x7/2 conv, BN, ReLU, 3x3/2 max-pool); stages 64/128/256/512 of 2 blocks. */
        RESNET18("resnet18", new int[] {64, 128, 256, 512}, new int[] {2, 2, 2, 2}, new int[] {1, 2, 2, 2}, 64),
        /** CIFAR stem (3x3/1 conv, BN, ReLU); stages 16/32/64 of 3 blocks. */
        RESNET20("resnet20", new int[] {16, 32, 64}, new int[] {3, 3, 3}, new int[] {1, 2, 2}, 16);

        final String arch;
        final int[] widths;
        final int[] depths;
        final int[] strides;
        final int stem;

        Variant(String arch, int[] widths, int[] depths, int[] strides, int stem) {
            this.arch = arch;
            this.widths = widths;
            this.depths = depths;
            this.strides = strides;
            this.stem = stem;
        }
    }

    private final Variant variant;

    public ResNetSupernet(ModelConfig config, Variant variant) {
        super(config);
        this.variant = variant;
        Init init = init();
        List<SupernetBlock> blocks = new ArrayList<>();
        int c0 = config.scaled(variant.stem);
        Stem stem = new Stem(init, config.inChannels(), c0, variant == Variant.RESNET18, config.resolution());
        blocks.add(stem);
        int cin = c0;
        int size = stem.info().outSize();
        int index = 1;
        for (int s = 0; s < variant.widths.length; s++) {
            int cout = config.scaled(variant.widths[s]);
            for (int k = 0; k < variant.depths[s]; k++) {
                int stride = k == 0 ? variant.strides[s] : 1;
                BasicBlock b = new BasicBlock(init, index++, cin, cout, stride, size, config);
                blocks.add(b);
                size = b.info().outSize();
                cin = cout;
            }
        }
        build(blocks, cin);
    }

    public Variant variant() {
        return variant;
    }

    @Override
    public String arch() {
        return variant.arch;
    }

    /** Full-precision stem: conv1, bn1, ReLU (and the 3x3/2 max-pool for ImageNet). */
    static final class Stem extends SupernetBlock {
        private final Conv2d conv;
        private final BatchNorm2d bn;
        private final ReLU relu;
        private final boolean imagenet;
        private final BlockInfo info;

        Stem(Init init, int cin, int cout, boolean imagenet, int inSize) {
            this.imagenet = imagenet;
            conv = register("conv1", imagenet ? new Conv2d(init, cin, cout, 7, 2, 3, 1)
                    : new Conv2d(init, cin, cout, 3, 1, 1, 1));
            bn = register("bn1", new BatchNorm2d(init, cout));
            relu = register("relu", new ReLU());
            int size = conv.outSize(inSize);
            if (imagenet) {
                size = (size + 2 - 3) / 2 + 1;
            }
            info = new BlockInfo(0, "stem", cin, cout, imagenet ? 4 : 1, 1, cout, parameterCount(), 0, size);
        }

        @Override
        public Tensor forward(Tensor x, int[] selection, int offset) {
            Tensor h = relu.forward(bn.forward(conv.forward(x)));
            return imagenet ? F.maxPool(h, 3, 2, 1) : h;
        }

        @Override
        public <T> T describe(GraphWriter<T> g, T x, int[] selection, int offset) {
            T h = g.relu(g.batchNorm(g.conv(x, conv), bn));
            return imagenet ? g.maxPool(h, 3, 2, 1) : h;
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

    /** Two branch units (selection entries offset, offset + 1) and the identity residual. */
    static final class BasicBlock extends SupernetBlock {
        private final BranchUnit unit1;
        private final BranchUnit unit2;
        private final boolean residual;
        private final BlockInfo info;

        BasicBlock(Init init, int index, int cin, int cout, int stride, int inSize, ModelConfig cfg) {
            int bits = cfg.bits();
            int l = cfg.branches();
            unit1 = unit(init, 1, cin, cout, stride, bits, l);
            unit2 = unit(init, 2, cout, cout, 1, bits, l);
            residual = stride == 1 && cin == cout;
            SkipPool.outSize(inSize, stride); // rejects sizes the skip cannot follow
            int outSize = unit1.outSize(inSize);
            info = new BlockInfo(index, "basic", cin, cout, stride, 1, cout, parameterCount(), 2, outSize);
        }

        private BranchUnit unit(Init init, int k, int cin, int cout, int stride, int bits, int l) {
            ModuleList<Sequential> bq = register("branch_bn_q_" + k, BranchUnit.bnQuant(init, cin, bits, l));
            QConv2d conv = register("conv" + k, new QConv2d(init, cin, cout, 3, stride, 1, 1, bits));
            ModuleList<Sequential> br = register("branch_bn_" + k, BranchUnit.bnRelu(init, cout, l));
            ModuleList<BatchNorm2d> bl = register("bn" + k + "_last", BranchUnit.last(init, cout, l));
            return new BranchUnit(bq, conv, br, bl);
        }

        @Override
        public Tensor forward(Tensor x, int[] selection, int offset) {
            Tensor h1 = unit1.forward(x, selection[offset]);
            return unit2.forward(h1, selection[offset + 1], residual ? x : null);
        }

        @Override
        public <T> T describe(GraphWriter<T> g, T x, int[] selection, int offset) {
            T h1 = unit1.describe(g, x, selection[offset], null);
            return unit2.describe(g, h1, selection[offset + 1], residual ? x : null);
        }

        @Override
        public int searchedUnits() {
            return 2;
        }

        @Override
        public BlockInfo info() {
            return info;
        }
    }
}
