package io.basq4j.models;

import io.basq4j.tensor.Device;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;

/** What the models' stride-2 skip does on a 3x3 input (for tests outside this package). */
public final class SkipPoolProbe {
    private SkipPoolProbe() {
    }

    /**
     * Whether the skip gives SPEC 2's broadcast on a 3x3 input: the mean of the top-left 2x2
     * window at every position of the 2x2 output (directly, or as a 1x1 map that the addition
     * broadcasts), rather than zero-padded windows.
     */
    public static boolean broadcastsOnThreeByThree() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(Device.CPU, new float[] {1, 2, 3, 4, 5, 6, 7, 8, 9}, 1, 1, 3, 3);
            float[] y = SkipPool.pool(x, 2).toFloatArray();
            return y.length == 1 || (y.length == 4 && y[0] == y[1] && y[0] == y[2] && y[0] == y[3]);
        }
    }
}
