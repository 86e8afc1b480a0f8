package io.basq4j.deploy.onnx;

import io.basq4j.autograd.Autograd;
import io.basq4j.autograd.F;
import io.basq4j.autograd.GradMode;
import io.basq4j.data.Dataset;
import io.basq4j.models.ModelConfig;
import io.basq4j.models.Models;
import io.basq4j.models.Supernet;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import io.basq4j.train.Adam;
import io.basq4j.train.GradClip;
import io.basq4j.train.Training;
import java.util.List;
import java.util.Random;

/**
 * A network with a realistic state for the export tests, in seconds: a supernet trained on real
 * data with one fixed selection through both phases of SPEC 5 (activations quantized, then the
 * weights too, their steps initialized from the weights), so that the selected branches' BN
 * statistics, clip bounds and LSQ steps come from data.
 */
final class QuickTraining {
    private QuickTraining() {
    }

    /**
     * Trains on batches of {@code batch} drawn from {@code data}: {@code iterations} in phase (a) at
     * Adam 2e-3, half as many in phase (b) at 5e-4 (phase b starts from small weight steps,
     * 2 mean|w| / sqrt(Qp), about 0.005, which a large rate throws across zero in a few Adam steps
     * that so short a run does not undo); each phase with a cosine schedule. Then the BN running
     * statistics settle on the final weights (in so short a run they lag the weights far enough to
     * make the evaluation network useless), and the network is returned in eval mode.
     */
    static Supernet train(String arch, ModelConfig cfg, int[] selection, Dataset data, int iterations, int batch,
            long seed) {
        Supernet net = Models.create(arch, cfg);
        try {
            Random r = new Random(seed);
            net.train();
            try (Scope s = Scope.open()) {
                net.initActivationSteps(images(data, batch, r, null), selection);
            }
            for (int phase = 0; phase < 2; phase++) {
                net.setWeightQuantization(phase == 1);
                int n = phase == 0 ? iterations : iterations / 2;
                double lr = phase == 0 ? 2e-3 : 5e-4;
                List<Tensor> params = Training.trainable(net);
                try (Adam adam = new Adam(Training.supernetGroups(net, ModelConfig.DEFAULT_L2, 5e-6))) {
                    for (int it = 0; it < n; it++) {
                        try (Scope s = Scope.open()) {
                            long[] labels = new long[batch];
                            Tensor x = images(data, batch, r, labels);
                            Tensor loss = F.crossEntropy(net.forward(x, selection), Tensor.ofLongs(Device.CPU, labels, batch));
                            Autograd.backward(loss);
                        }
                        GradClip.clipNorm(params, 10);
                        adam.step(lr * 0.5 * (1 + Math.cos(Math.PI * it / n)));
                        adam.zeroGrad();
                    }
                }
            }
            try (GradMode off = GradMode.off()) {
                for (int i = 0; i < 30; i++) {
                    try (Scope s = Scope.open()) {
                        net.forward(images(data, batch, r, null), selection);
                    }
                }
            }
            net.eval();
            return net;
        } catch (RuntimeException e) {
            net.close();
            throw e;
        }
    }

    private static Tensor images(Dataset data, int n, Random r, long[] labels) {
        int size = data.exampleSize();
        float[] x = new float[n * size];
        for (int i = 0; i < n; i++) {
            long label = data.load(r.nextInt(data.size()), x, i * size, null);
            if (labels != null) {
                labels[i] = label;
            }
        }
        return Tensor.of(Device.CPU, x, n, data.channels(), data.height(), data.width());
    }
}
