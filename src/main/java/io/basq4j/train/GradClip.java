package io.basq4j.train;

import io.basq4j.tensor.Backend;
import io.basq4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Gradient-norm clipping over all parameters together (torch.nn.utils.clip_grad_norm_). */
public final class GradClip {
    private GradClip() {
    }

    /**
     * Scales every gradient by min(1, maxNorm / (norm + 1e-6)); returns the norm before clipping.
     * The squared norms of all gradients of a device are summed there at once
     * ({@link Backend#sumSquares(List)}): one read-back per step, not one per parameter.
     */
    public static double clipNorm(List<Tensor> params, double maxNorm) {
        Map<Backend, List<Tensor>> grads = new LinkedHashMap<>();
        for (Tensor p : params) {
            if (p.grad() != null) {
                grads.computeIfAbsent(p.grad().backend(), b -> new ArrayList<>()).add(p.grad());
            }
        }
        double sq = 0;
        for (Map.Entry<Backend, List<Tensor>> e : grads.entrySet()) {
            sq += e.getKey().sumSquares(e.getValue());
        }
        double norm = Math.sqrt(sq);
        double coef = maxNorm / (norm + 1e-6);
        if (coef < 1) {
            for (List<Tensor> gs : grads.values()) {
                for (Tensor g : gs) {
                    g.backend().scale(g, (float) coef);
                }
            }
        }
        return norm;
    }
}
