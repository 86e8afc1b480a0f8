package io.basq4j.autograd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.tensor.Device;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

/** Training-mode batch norm over one value per channel is refused in one clear line (as PyTorch does). */
class BatchNormSingleValueTest {
    @Test
    void oneValuePerChannelIsRefusedInTrainingAndFineInEvaluation() {
        try (Scope s = Scope.open()) {
            int c = 4;
            Tensor gamma = Tensor.full(Device.CPU, 1f, c);
            Tensor beta = Tensor.zeros(Device.CPU, c);
            Tensor rm = Tensor.zeros(Device.CPU, c);
            Tensor rv = Tensor.full(Device.CPU, 1f, c);
            Tensor one = Tensor.of(Device.CPU, new float[] {1, 2, 3, 4}, 1, c, 1, 1);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> F.batchNorm(one, gamma, beta, rm, rv, true, 0.1f, 1e-5f));
            assertTrue(e.getMessage().contains("training-mode batch norm needs more than one value per channel"),
                    e.getMessage());
            // evaluation uses the running statistics: (x - 0) / sqrt(1 + eps)
            float[] y = F.batchNorm(one, gamma, beta, rm, rv, false, 0.1f, 1e-5f).toFloatArray();
            assertEquals(3 / Math.sqrt(1 + 1e-5), y[2], 1e-6);
            // two values per channel train
            Tensor two = Tensor.of(Device.CPU, new float[] {1, 2, 3, 4, 5, 6, 7, 8}, 2, c, 1, 1);
            float[] z = F.batchNorm(two, gamma, beta, rm, rv, true, 0.1f, 1e-5f).toFloatArray();
            assertEquals(-1, z[0], 1e-3); // (1 - 3) / 2 with the biased batch variance 4
        }
    }
}
