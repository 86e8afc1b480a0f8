package io.basq4j.train;

import io.basq4j.tensor.Tensor;
import java.util.List;

/** Adam with L2 decay added to the gradient (torch.optim.Adam, amsgrad off). */
public final class Adam extends Optimizer {
    private final double beta1;
    private final double beta2;
    private final double eps;

    public Adam(List<ParamGroup> groups) {
        this(groups, 0.9, 0.999, 1e-8);
    }

    public Adam(List<ParamGroup> groups, double beta1, double beta2, double eps) {
        super(groups);
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
    }

    @Override
    protected int stateSlots() {
        return 2;
    }

    @Override
    protected String[] stateNames() {
        return new String[] {"exp_avg", "exp_avg_sq"};
    }

    @Override
    protected void update(Tensor p, Tensor grad, Tensor[] st, long step, double lr, double wd) {
        double bc1 = 1 - Math.pow(beta1, step);
        double bc2 = 1 - Math.pow(beta2, step);
        // in double, as torch computes them in Python; the kernel rounds each to float where torch does
        p.backend().adamStep(p, grad, st[0], st[1], lr / bc1, beta1, beta2, eps, wd, Math.sqrt(bc2));
    }
}
