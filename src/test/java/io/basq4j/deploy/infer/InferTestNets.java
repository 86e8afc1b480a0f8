package io.basq4j.deploy.infer;

import io.basq4j.autograd.GradMode;
import io.basq4j.models.ModelConfig;
import io.basq4j.models.Models;
import io.basq4j.models.Supernet;
import io.basq4j.tensor.DType;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import io.basq4j.train.SupernetTraining;
import java.util.Map;
import java.util.Random;

/**
 * Random supernets with realistic magnitudes for comparing the inference engine with the
 * evaluation path: LSQ activation steps initialized from data and weight steps from the
 * weights (as training starts), every branch's clip bound and BN affine drawn at random (so
 * that branches differ), then the running statistics of the selected branches measured by
 * training-mode forwards on random images (so that every batch norm normalizes, as after
 * training, instead of letting activations grow through the blocks).
 */
final class InferTestNets {
    private InferTestNets() {
    }

    static float[] images(Random r, int n, ModelConfig c) {
        float[] x = new float[n * c.inChannels() * c.resolution() * c.resolution()];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    static Tensor tensor(float[] x, int n, ModelConfig c) {
        return Tensor.of(Device.CPU, x, n, c.inChannels(), c.resolution(), c.resolution());
    }

    /** A supernet in evaluation mode and the selection its statistics were measured for. */
    record Net(Supernet net, int[] selection) implements AutoCloseable {
        @Override
        public void close() {
            net.close();
        }
    }

    static Net realistic(String arch, ModelConfig cfg, long seed) {
        Random r = new Random(seed);
        Supernet net = Models.create(arch, cfg);
        try {
            int[] selection = SupernetTraining.selection(seed, 2, net.searchedUnits(), net.branches());
            try (Scope s = Scope.open()) {
                net.initActivationSteps(tensor(images(r, 16, cfg), 16, cfg), selection);
            }
            net.setWeightQuantization(true);
            for (Map.Entry<String, Tensor> e : net.stateTensors().entrySet()) {
                String n = e.getKey();
                Tensor t = e.getValue();
                if (t.dtype() != DType.F32) {
                    continue;
                }
                float[] v = t.toFloatArray();
                boolean changed = false;
                for (int i = 0; i < v.length; i++) {
                    if (n.endsWith("upper_bound")) {
                        v[i] = 1f + 5f * r.nextFloat();
                        changed = true;
                    } else if (n.endsWith(".bias") && !n.startsWith("classifier")) {
                        v[i] = 0.2f * (float) r.nextGaussian();
                        changed = true;
                    } else if (n.contains("bn") && n.endsWith(".weight")) {
                        v[i] = 1f + 0.2f * (float) r.nextGaussian();
                        changed = true;
                    }
                }
                if (changed) {
                    t.copyFrom(v);
                }
            }
            net.train();
            for (int it = 0; it < 15; it++) {
                try (Scope s = Scope.open(); GradMode off = GradMode.off()) {
                    net.forward(tensor(images(r, 16, cfg), 16, cfg), selection);
                }
            }
            net.eval();
            return new Net(net, selection);
        } catch (RuntimeException e) {
            net.close();
            throw e;
        }
    }

    static float[] evalLogits(Supernet net, float[] x, int n, int[] selection) {
        ModelConfig c = net.config();
        try (Scope s = Scope.open()) {
            return net.forward(tensor(x, n, c), selection).toFloatArray();
        }
    }
}
