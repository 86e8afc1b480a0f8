package io.basq4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.tensor.Backends;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The two per-step reads of a training loop that a GPU must not wait for: the loss (kept on the
 * device until a log line, {@link LossMeter}) and the gradient norm (all gradients in one
 * reduction, {@link GradClip}). Both must give what reading every value at once gave.
 */
class LossMeterTest {

    @Test
    void theMeanIsThatOfTheStepLossesInDouble() {
        Random r = new Random(3);
        long before = Backends.cpu().allocator().bytesInUse();
        try (LossMeter m = new LossMeter()) {
            double expected = 0;
            float[] vals = new float[7];
            for (int i = 0; i < vals.length; i++) {
                vals[i] = (float) (r.nextDouble() * 3);
                try (Scope s = Scope.open()) {
                    Tensor loss = Tensor.scalar(Device.CPU, vals[i]);
                    m.add(loss, i); // the step's scope closes the loss itself
                }
                expected += vals[i];
            }
            assertEquals(7, m.count());
            assertEquals(expected / 7, m.mean(null), 0.0, "summed in double, in step order");
            assertEquals(0, m.count(), "a new window");
            assertTrue(Double.isNaN(m.mean(null)), "no losses: NaN, never a made-up value");
        }
        assertEquals(before, Backends.cpu().allocator().bytesInUse(), "the kept copies are freed");
    }

    @Test
    void aNonFiniteLossIsReportedWithItsStep() {
        try (LossMeter m = new LossMeter()) {
            for (int i = 0; i < 5; i++) {
                try (Scope s = Scope.open()) {
                    m.add(Tensor.scalar(Device.CPU, i == 3 ? Float.NaN : 1f), 100 + i);
                }
            }
            m.check(null); // read, not judged
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> m.check(step -> "phase a iteration " + step));
            assertTrue(e.getMessage().contains("became NaN at phase a iteration 103"), e.getMessage());
            assertTrue(Double.isNaN(m.mean(null)), "without a check the mean shows the NaN");
        }
    }

    @Test
    void gradientNormOfManyParametersAtOnce() {
        Random r = new Random(4);
        List<Tensor> params = new ArrayList<>();
        double sq = 0;
        try {
            for (int k = 0; k < 9; k++) {
                int n = 1 + r.nextInt(3000);
                float[] g = new float[n];
                double part = 0;
                for (int i = 0; i < n; i++) {
                    g[i] = (float) r.nextGaussian();
                    part += (double) g[i] * g[i];
                }
                sq += part;
                Tensor p = Tensor.zeros(Device.CPU, n).setRequiresGrad(true);
                if (k != 4) { // a parameter without a gradient is left out
                    p.setGrad(Tensor.of(Device.CPU, g, n).detach());
                } else {
                    sq -= part;
                }
                params.add(p);
            }
            double max = Math.sqrt(sq) / 2;
            float g0 = params.get(0).grad().toFloatArray()[0];
            double norm = GradClip.clipNorm(params, max);
            assertEquals(Math.sqrt(sq), norm, 1e-6 * norm);
            double coef = max / (norm + 1e-6);
            assertEquals((float) (g0 * (float) coef), params.get(0).grad().toFloatArray()[0], 0f,
                    "scaled by the coefficient");
            assertEquals(max, GradClip.clipNorm(params, 1e9), 1e-5 * max, "after clipping: the bound");
        } finally {
            params.forEach(Tensor::close);
        }
    }
}
