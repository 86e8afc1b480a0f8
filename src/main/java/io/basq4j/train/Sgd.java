package io.basq4j.train;

import io.basq4j.tensor.Tensor;
import java.util.List;

/** SGD with momentum (optionally Nesterov) and L2 decay added to the gradient (torch.optim.SGD). */
public final class Sgd extends Optimizer {
    private final double momentum;
    private final boolean nesterov;

    public Sgd(List<ParamGroup> groups, double momentum, boolean nesterov) {
        super(groups);
        this.momentum = momentum;
        this.nesterov = nesterov;
    }

    @Override
    protected int stateSlots() {
        return 1;
    }

    @Override
    protected String[] stateNames() {
        return new String[] {"momentum_buffer"};
    }

    @Override
    protected void update(Tensor p, Tensor grad, Tensor[] st, long step, double lr, double wd) {
        p.backend().sgdStep(p, grad, st[0], (float) lr, (float) momentum, (float) wd, nesterov);
    }
}
