package io.basq4j.train;

import io.basq4j.tensor.Tensor;
import java.util.List;

/** Gradient-norm clipping over all parameters together (torch.nn.utils.clip_grad_norm_). */
public final class GradClip {
    private GradClip() {
    }

    /** Scales every gradient by min(1, maxNorm / (norm + 1e-6)); returns the norm before clipping. */
    public static double clipNorm(List<Tensor> params, double maxNorm) {
        double sq = 0;
        for (Tensor p : params) {
            if (p.grad() != null) {
                sq += p.grad().backend().sumSquares(p.grad());
            }
        }
        double norm = Math.sqrt(sq);
        double coef = maxNorm / (norm + 1e-6);
        if (coef < 1) {
            for (Tensor p : params) {
                if (p.grad() != null) {
                    p.grad().backend().scale(p.grad(), (float) coef);
                }
            }
        }
        return norm;
    }
}
