package io.basq4j.models;

import io.basq4j.autograd.F;
import io.basq4j.autograd.GradMode;
import io.basq4j.io.TensorData;
import io.basq4j.nn.BatchNorm2d;
import io.basq4j.nn.Conv2d;
import io.basq4j.nn.Init;
import io.basq4j.nn.Layer;
import io.basq4j.nn.Linear;
import io.basq4j.nn.Module;
import io.basq4j.nn.ModuleList;
import io.basq4j.nn.Sequential;
import io.basq4j.nn.StateDictException;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * torchvision's {@code ResNet} (the distillation teacher of the BASQ reference, whose scripts take
 * {@code torchvision.models.resnet50(pretrained=True)}), full precision, for inference only: built
 * from a state dict as {@code torch.save(model.state_dict())} writes it, with torchvision's names
 * ({@code conv1}, {@code bn1}, {@code layer{s}.{i}.conv1/bn1/conv2/bn2[/conv3/bn3]},
 * {@code layer{s}.{i}.downsample.0/.1}, {@code fc}).
 *
 * <p>The layout is read from the names and shapes ({@link #layout}): the block type (Bottleneck
 * when {@code layer1.0.conv3.weight} exists, else BasicBlock), the number of stages and of blocks
 * per stage, every convolution's widths, the groups of a Bottleneck's 3x3 convolution (ResNeXt)
 * and the classes. So resnet18/34/50/101/152, wide_resnet50/101 and resnext load alike. What a
 * state dict cannot say is taken from torchvision's definition: the 7x7/2 stem convolution with
 * padding 3, the 3x3/2 max-pool with padding 1, stride 1 for the first stage and 2 for the first
 * block of every later one (on the Bottleneck's 3x3 convolution, "ResNet v1.5", and on the
 * BasicBlock's first), no dilation, ReLU after each block's sum. Batch norm uses eps 1e-5.
 *
 * <p>The model always runs in evaluation mode (running statistics) without recording gradients:
 * it is a frozen teacher. It runs through the same backend and convolution kernels as the
 * supernets.
 */
public final class TorchvisionResNet extends Module implements Layer {

    /** One residual block's shape: input, bottleneck width, output channels, stride, 3x3 groups, downsample. */
    public record BlockShape(int in, int width, int out, int stride, int groups, boolean downsample) {
    }

    /**
     * What a state dict determines: block type, per-stage blocks, the stem and classifier sizes.
     *
     * @param bottleneck Bottleneck blocks (1x1, 3x3, 1x1) rather than BasicBlocks (3x3, 3x3)
     * @param stages the blocks of each stage, in order
     */
    public record Layout(boolean bottleneck, int inChannels, int stemChannels, List<List<BlockShape>> stages,
            int features, int classes) {

        /** Blocks per stage, e.g. [3, 4, 6, 3] for ResNet-50. */
        public int[] blockCounts() {
            return stages.stream().mapToInt(List::size).toArray();
        }

        /** "ResNet-50" for torchvision's standard depths and widths, else a description of the shape. */
        public String name() {
            int[] n = blockCounts();
            boolean standard = stemChannels == 64 && stages.size() == 4 && stages.get(0).get(0).groups() == 1
                    && stages.get(0).get(0).width() == 64;
            if (standard) {
                if (!bottleneck && Arrays.equals(n, new int[] {2, 2, 2, 2})) {
                    return "ResNet-18";
                } else if (!bottleneck && Arrays.equals(n, new int[] {3, 4, 6, 3})) {
                    return "ResNet-34";
                } else if (bottleneck && Arrays.equals(n, new int[] {3, 4, 6, 3})) {
                    return "ResNet-50";
                } else if (bottleneck && Arrays.equals(n, new int[] {3, 4, 23, 3})) {
                    return "ResNet-101";
                } else if (bottleneck && Arrays.equals(n, new int[] {3, 8, 36, 3})) {
                    return "ResNet-152";
                }
            }
            BlockShape first = stages.get(0).get(0);
            return "ResNet(" + (bottleneck ? "Bottleneck" : "BasicBlock") + " " + Arrays.toString(n) + ", width "
                    + first.width() + (first.groups() > 1 ? ", " + first.groups() + " groups" : "") + ")";
        }

        @Override
        public String toString() {
            return name() + ", " + inChannels + " input channels, " + classes + " classes";
        }
    }

    private final Layout layout;
    private final Conv2d conv1;
    private final BatchNorm2d bn1;
    private final List<ModuleList<Block>> layers = new ArrayList<>();
    private final Linear fc;

    /** A model of this layout with placeholder weights (load a state into it). */
    public TorchvisionResNet(Layout layout, Device device) {
        this.layout = layout;
        Init init = new Init(device, 0);
        conv1 = register("conv1", new Conv2d(init, layout.inChannels(), layout.stemChannels(), 7, 2, 3, 1));
        bn1 = register("bn1", new BatchNorm2d(init, layout.stemChannels()));
        for (int s = 0; s < layout.stages().size(); s++) {
            ModuleList<Block> blocks = new ModuleList<>();
            for (BlockShape b : layout.stages().get(s)) {
                blocks.add(new Block(init, b, layout.bottleneck()));
            }
            layers.add(register("layer" + (s + 1), blocks));
        }
        fc = register("fc", new Linear(init, layout.features(), layout.classes()));
        eval();
    }

    /**
     * Builds the model a torchvision state dict describes and loads it.
     *
     * @throws IllegalArgumentException when the state is not a torchvision ResNet's (the message
     *     names what is wrong, briefly)
     */
    public static TorchvisionResNet fromStateDict(Map<String, TensorData> state, Device device) {
        Layout l = layout(state);
        TorchvisionResNet m = new TorchvisionResNet(l, device);
        try {
            m.loadStateDict(state);
        } catch (StateDictException e) {
            m.close();
            throw new IllegalArgumentException("not a torchvision " + l.name() + " state dict: "
                    + e.brief(), e);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
        m.eval();
        return m;
    }

    public Layout layout() {
        return layout;
    }

    /** Whether the names are torchvision ResNet's (stem, {@code layer1.0} and {@code fc}); shapes unchecked. */
    public static boolean looksLike(Map<String, TensorData> state) {
        return state.containsKey("conv1.weight") && state.containsKey("fc.weight")
                && state.containsKey("layer1.0.conv1.weight");
    }

    /**
     * Reads the layout from a state dict's names and shapes.
     *
     * @throws IllegalArgumentException when a name or shape torchvision's ResNet needs is missing
     *     or inconsistent
     */
    public static Layout layout(Map<String, TensorData> state) {
        if (!looksLike(state)) {
            throw new IllegalArgumentException("not a torchvision ResNet state dict (no conv1.weight, layer1.0.conv1"
                    + ".weight and fc.weight; " + state.size() + " tensors, e.g. " + firstNames(state, 3) + ")");
        }
        int[] stem = shape(state, "conv1.weight", 4);
        if (stem[2] != 7 || stem[3] != 7) {
            throw new IllegalArgumentException("conv1.weight is " + Arrays.toString(stem)
                    + ": torchvision's ResNet stem is a 7x7 convolution");
        }
        boolean bottleneck = state.containsKey("layer1.0.conv3.weight");
        List<List<BlockShape>> stages = new ArrayList<>();
        int cin = stem[0];
        for (int s = 1; state.containsKey("layer" + s + ".0.conv1.weight"); s++) {
            List<BlockShape> blocks = new ArrayList<>();
            for (int i = 0; state.containsKey("layer" + s + "." + i + ".conv1.weight"); i++) {
                String p = "layer" + s + "." + i + ".";
                int stride = s > 1 && i == 0 ? 2 : 1;
                int[] c1 = shape(state, p + "conv1.weight", 4);
                int[] c2 = shape(state, p + "conv2.weight", 4);
                int width;
                int out;
                int groups = 1;
                if (bottleneck) {
                    int[] c3 = shape(state, p + "conv3.weight", 4);
                    width = c1[0];
                    out = c3[0];
                    requireKernel(p + "conv1.weight", c1, 1);
                    requireKernel(p + "conv2.weight", c2, 3);
                    requireKernel(p + "conv3.weight", c3, 1);
                    if (c2[1] < 1 || width % c2[1] != 0 || c2[0] != width || c3[1] != width) {
                        throw inconsistent(p, c1, c2, c3);
                    }
                    groups = width / c2[1];
                } else {
                    width = c1[0];
                    out = c2[0];
                    requireKernel(p + "conv1.weight", c1, 3);
                    requireKernel(p + "conv2.weight", c2, 3);
                    if (c2[1] != width || out != width) {
                        throw inconsistent(p, c1, c2, null);
                    }
                }
                if (c1[1] != cin) {
                    throw new IllegalArgumentException(p + "conv1.weight takes " + c1[1] + " channels but the layer"
                            + " before gives " + cin);
                }
                boolean down = state.containsKey(p + "downsample.0.weight");
                if (down) {
                    int[] d = shape(state, p + "downsample.0.weight", 4);
                    requireKernel(p + "downsample.0.weight", d, 1);
                    if (d[0] != out || d[1] != cin) {
                        throw new IllegalArgumentException(p + "downsample.0.weight is " + Arrays.toString(d)
                                + ", expected [" + out + ", " + cin + ", 1, 1]");
                    }
                } else if (stride != 1 || cin != out) {
                    throw new IllegalArgumentException(p + " changes " + cin + " to " + out + " channels with stride "
                            + stride + " but has no downsample");
                }
                blocks.add(new BlockShape(cin, width, out, stride, groups, down));
                cin = out;
            }
            stages.add(blocks);
        }
        int[] fcw = shape(state, "fc.weight", 2);
        if (fcw[1] != cin) {
            throw new IllegalArgumentException("fc.weight is " + Arrays.toString(fcw) + " but the last stage gives "
                    + cin + " features");
        }
        return new Layout(bottleneck, stem[1], stem[0], stages, cin, fcw[0]);
    }

    private static IllegalArgumentException inconsistent(String p, int[] c1, int[] c2, int[] c3) {
        return new IllegalArgumentException(p + " convolutions do not chain: conv1 " + Arrays.toString(c1) + ", conv2 "
                + Arrays.toString(c2) + (c3 == null ? "" : ", conv3 " + Arrays.toString(c3)));
    }

    private static void requireKernel(String name, int[] s, int k) {
        if (s[2] != k || s[3] != k) {
            throw new IllegalArgumentException(name + " is " + Arrays.toString(s) + ", expected a " + k + "x" + k
                    + " kernel (torchvision's " + (k == 1 ? "Bottleneck" : "ResNet") + " layout)");
        }
    }

    private static int[] shape(Map<String, TensorData> state, String name, int rank) {
        TensorData t = state.get(name);
        if (t == null) {
            throw new IllegalArgumentException("no tensor " + name + " (torchvision's ResNet layout needs it)");
        }
        if (t.rank() != rank) {
            throw new IllegalArgumentException(name + " has shape " + t.shapeString() + ", expected rank " + rank);
        }
        return t.shape();
    }

    private static String firstNames(Map<String, TensorData> state, int n) {
        List<String> names = new ArrayList<>();
        for (String k : state.keySet()) {
            if (names.size() == n) {
                names.add("...");
                break;
            }
            names.add(k);
        }
        return String.join(", ", names);
    }

    // ------------------------------------------------------------------ forward

    /** Logits [N, classes] of an input [N, inChannels, H, W] as the teacher sees it (already normalized). */
    @Override
    public Tensor forward(Tensor x) {
        return forward(x, null);
    }

    /**
     * As {@link #forward(Tensor)}, showing each stage's output ({@code layer1} as 1, ...) to
     * {@code hook} (may be null).
     */
    public Tensor forward(Tensor x, FeatureHook hook) {
        if (x.rank() != 4 || x.dim(1) != layout.inChannels()) {
            throw new IllegalArgumentException("input " + x.shape() + " must be [N, " + layout.inChannels()
                    + ", H, W]");
        }
        try (GradMode off = GradMode.off()) {
            Tensor h = F.maxPool(F.relu(bn1.forward(conv1.forward(x))), 3, 2, 1);
            for (int s = 0; s < layers.size(); s++) {
                for (Block b : layers.get(s).items()) {
                    h = b.forward(h);
                }
                if (hook != null) {
                    hook.accept(s + 1, h);
                }
            }
            return fc.forward(F.globalAvgPool(h));
        }
    }

    /** Stays in evaluation mode: a frozen teacher has no training mode. */
    @Override
    public Module train(boolean on) {
        return super.train(false);
    }

    /** torchvision's BasicBlock or Bottleneck with its names. */
    static final class Block extends Module implements Layer {
        private final Conv2d conv1;
        private final BatchNorm2d bn1;
        private final Conv2d conv2;
        private final BatchNorm2d bn2;
        private final Conv2d conv3;
        private final BatchNorm2d bn3;
        private final Sequential downsample;

        Block(Init init, BlockShape b, boolean bottleneck) {
            if (bottleneck) {
                conv1 = register("conv1", new Conv2d(init, b.in(), b.width(), 1, 1, 0, 1));
                bn1 = register("bn1", new BatchNorm2d(init, b.width()));
                conv2 = register("conv2", new Conv2d(init, b.width(), b.width(), 3, b.stride(), 1, b.groups()));
                bn2 = register("bn2", new BatchNorm2d(init, b.width()));
                conv3 = register("conv3", new Conv2d(init, b.width(), b.out(), 1, 1, 0, 1));
                bn3 = register("bn3", new BatchNorm2d(init, b.out()));
            } else {
                conv1 = register("conv1", new Conv2d(init, b.in(), b.out(), 3, b.stride(), 1, 1));
                bn1 = register("bn1", new BatchNorm2d(init, b.out()));
                conv2 = register("conv2", new Conv2d(init, b.out(), b.out(), 3, 1, 1, 1));
                bn2 = register("bn2", new BatchNorm2d(init, b.out()));
                conv3 = null;
                bn3 = null;
            }
            downsample = b.downsample() ? register("downsample", new Sequential(
                    new Conv2d(init, b.in(), b.out(), 1, b.stride(), 0, 1), new BatchNorm2d(init, b.out()))) : null;
        }

        @Override
        public Tensor forward(Tensor x) {
            Tensor h = F.relu(bn1.forward(conv1.forward(x)));
            h = bn2.forward(conv2.forward(h));
            if (conv3 != null) {
                h = bn3.forward(conv3.forward(F.relu(h)));
            }
            Tensor identity = downsample == null ? x : downsample.forward(x);
            return F.relu(F.add(h, identity));
        }
    }
}
