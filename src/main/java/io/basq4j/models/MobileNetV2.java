package io.basq4j.models;

import io.basq4j.autograd.F;
import io.basq4j.nn.BatchNorm2d;
import io.basq4j.nn.Conv2d;
import io.basq4j.nn.Dropout;
import io.basq4j.nn.Init;
import io.basq4j.nn.Layer;
import io.basq4j.nn.Linear;
import io.basq4j.nn.Module;
import io.basq4j.nn.ModuleList;
import io.basq4j.nn.ReLU;
import io.basq4j.nn.Sequential;
import io.basq4j.tensor.Tensor;

/**
 * The full-precision MobileNet-v2 (no quantizer, no branch): the teacher of supernet training
 * (SPEC 5) and the full-precision baseline. Same stages, width scaling and classifier as the
 * supernet (SPEC 3); inverted residual blocks are conv1x1-BN-ReLU, depthwise conv3x3-BN-ReLU,
 * conv1x1-BN, with the identity residual where shapes allow. ReLU stands where torchvision
 * uses ReLU6, as in the supernet's units.
 */
public final class MobileNetV2 extends Module implements Layer {
    private final Sequential stem;
    private final ModuleList<Block> blocks = new ModuleList<>();
    private final Sequential last;
    private final Dropout dropout;
    private final Linear fc;

    public MobileNetV2(ModelConfig c) {
        Init init = new Init(c.device(), c.seed() ^ 0x7EAC7E5L);
        int[][] stages = MobileNetV2Supernet.STAGES;
        int c0 = c.scaled(stages[0][1]);
        stem = register("stem", new Sequential(new Conv2d(init, c.inChannels(), c0, 3, stages[0][3], 1, 1),
                new BatchNorm2d(init, c0), new ReLU()));
        register("blocks", blocks);
        int cin = c0;
        for (int st = 1; st < stages.length; st++) {
            int cout = c.scaled(stages[st][1]);
            for (int k = 0; k < stages[st][2]; k++) {
                blocks.add(new Block(init, cin, cout, k == 0 ? stages[st][3] : 1, stages[st][0]));
                cin = cout;
            }
        }
        last = register("last", new Sequential(new Conv2d(init, cin, 1280, 1, 1, 0, 1), new BatchNorm2d(init, 1280),
                new ReLU()));
        dropout = register("dropout", new Dropout(c.dropout(), c.seed() ^ 0xD50L));
        fc = register("classifier", new Linear(init, 1280, c.classes()));
    }

    public Dropout dropout() {
        return dropout;
    }

    @Override
    public Tensor forward(Tensor x) {
        Tensor h = stem.forward(x);
        for (Block b : blocks.items()) {
            h = b.forward(h);
        }
        h = last.forward(h);
        return fc.forward(dropout.forward(F.globalAvgPool(h)));
    }

    /** One inverted residual block. */
    static final class Block extends Module implements Layer {
        private final Sequential body;
        private final boolean residual;

        Block(Init init, int cin, int cout, int stride, int t) {
            int hidden = (int) Math.round(cin * (double) t);
            Module[] layers;
            if (t == 1) {
                layers = new Module[] {new Conv2d(init, hidden, hidden, 3, stride, 1, hidden),
                    new BatchNorm2d(init, hidden), new ReLU(), new Conv2d(init, hidden, cout, 1, 1, 0, 1),
                    new BatchNorm2d(init, cout)};
            } else {
                layers = new Module[] {new Conv2d(init, cin, hidden, 1, 1, 0, 1), new BatchNorm2d(init, hidden),
                    new ReLU(), new Conv2d(init, hidden, hidden, 3, stride, 1, hidden), new BatchNorm2d(init, hidden),
                    new ReLU(), new Conv2d(init, hidden, cout, 1, 1, 0, 1), new BatchNorm2d(init, cout)};
            }
            body = register("conv", new Sequential(layers));
            residual = stride == 1 && cin == cout;
        }

        @Override
        public Tensor forward(Tensor x) {
            Tensor y = body.forward(x);
            return residual ? F.add(y, x) : y;
        }
    }
}
