package io.basq4j.train;

import io.basq4j.autograd.Autograd;
import io.basq4j.autograd.F;
import io.basq4j.data.Batch;
import io.basq4j.data.DataLoader;
import io.basq4j.models.Supernet;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.function.ToDoubleBiFunction;

/**
 * Step 3 (SPEC 7): for one fold's architecture, starting from the supernet: fixed selection,
 * training mode, cross-entropy, SGD with Nesterov momentum and a cosine schedule stepped per
 * epoch, gradient norm clipped; only biases and clip bounds learn. After each epoch the fold's
 * full accuracy is measured; the result is the best of the accuracy before finetuning and after
 * each epoch.
 *
 * <p>Loss: cross-entropy on labels, as SPEC 7 says and as the reference's {@code 03finetune.py}
 * computes ({@code loss = criterion(logits_student, target)}; the script loads its
 * {@code --teacher resnet50} and hands it to the training loop, which does not use it). Given a
 * teacher ({@code finetuneLoss = kd}), the distillation loss of SPEC 5 against it instead.
 */
public final class Finetuning {
    /**
     * One fold's finetuning: accuracy before, after each epoch, the best, and the epoch that
     * reached it first ({@code chosenEpoch}: 0 for the network before finetuning).
     */
    public record FoldResult(int fold, int[] arch, double before, List<Double> perEpoch, double best,
            int chosenEpoch) {
    }

    /** Told of every state that becomes the fold's best: before finetuning (epoch 0), then each improving epoch. */
    @FunctionalInterface
    public interface BestListener {
        void improved(Supernet model, int epoch, double accuracy);
    }

    private static final BestListener NO_LISTENER = (m, e, a) -> { };

    private Finetuning() {
    }

    /**
     * Finetunes {@code model} (already holding the supernet state) on {@code arch}.
     * {@code fullAccuracy} measures the fold's full accuracy of the model for an architecture.
     */
    public static FoldResult run(RunConfig c, int fold, int[] arch, Supernet model, DataLoader train,
            ToDoubleBiFunction<Supernet, int[]> fullAccuracy, double before, RunLog log) {
        return run(c, fold, arch, model, train, fullAccuracy, before, null, log, NO_LISTENER);
    }

    /**
     * As {@link #run(RunConfig, int, int[], Supernet, DataLoader, ToDoubleBiFunction, double, RunLog)},
     * distilling from {@code teacher} (SPEC 5's loss) when it is not null.
     */
    public static FoldResult run(RunConfig c, int fold, int[] arch, Supernet model, DataLoader train,
            ToDoubleBiFunction<Supernet, int[]> fullAccuracy, double before, Teacher teacher, RunLog log) {
        return run(c, fold, arch, model, train, fullAccuracy, before, teacher, log, NO_LISTENER);
    }

    /** As the first {@code run}, telling {@code onBest} of every state that becomes the best so far. */
    public static FoldResult run(RunConfig c, int fold, int[] arch, Supernet model, DataLoader train,
            ToDoubleBiFunction<Supernet, int[]> fullAccuracy, double before, RunLog log, BestListener onBest) {
        return run(c, fold, arch, model, train, fullAccuracy, before, null, log, onBest);
    }

    /**
     * Finetunes {@code model} on {@code arch}, distilling from {@code teacher} when it is not null;
     * {@code onBest} sees the model (in evaluation mode) at each state that becomes the best so
     * far, so that the state of the reported epoch can be kept.
     */
    public static FoldResult run(RunConfig c, int fold, int[] arch, Supernet model, DataLoader train,
            ToDoubleBiFunction<Supernet, int[]> fullAccuracy, double before, Teacher teacher, RunLog log,
            BestListener onBest) {
        Device dev = c.device();
        model.checkSelection(arch);
        int perEpoch = c.finetuneBatches > 0 ? c.finetuneBatches : train.batches();
        CosineSchedule lr = new CosineSchedule(c.finetuneLr, c.finetuneEpochs);
        List<Tensor> params = Training.trainable(model);
        List<Double> accs = new ArrayList<>();
        double best = before;
        int chosen = 0;
        model.eval();
        onBest.improved(model, 0, before);
        try (Sgd sgd = new Sgd(Training.finetuneGroups(model, c.l2), c.finetuneMomentum, true);
                LossMeter losses = new LossMeter()) {
            Training.BatchStream data = new Training.BatchStream(train, 0);
            for (int e = 0; e < c.finetuneEpochs; e++) {
                model.train();
                double rate = lr.at(e);
                for (int i = 0; i < perEpoch; i++) {
                    Batch b = data.next();
                    model.dropout().setOffset(((long) e * perEpoch + i) << 32);
                    try (Scope s = Scope.open()) {
                        Tensor x = Training.images(b, dev);
                        Tensor logits = model.forward(x, arch);
                        Tensor loss = teacher != null ? F.kdLoss(logits, teacher.logits(x))
                                : F.crossEntropy(logits, Training.labels(b, dev));
                        losses.add(loss, i); // read once per epoch, for the log line
                        Autograd.backward(loss);
                    }
                    double gradNorm = GradClip.clipNorm(params, c.gradClip);
                    NonFiniteException.check("finetuning", losses, gradNorm, "fold " + fold + " epoch " + (e + 1)
                            + " batch " + (i + 1), "a learning rate too large is the usual cause: lower --finetune-lr "
                            + "(now " + c.finetuneLr + ")");
                    sgd.step(rate);
                    sgd.zeroGrad();
                }
                model.eval();
                double acc = fullAccuracy.applyAsDouble(model, arch);
                accs.add(acc);
                if (acc > best) {
                    best = acc;
                    chosen = e + 1;
                    onBest.improved(model, chosen, acc);
                }
                log.info("finetune fold %d  epoch %d/%d  lr %.3g  loss %.4f  full acc %.2f%%", fold, e + 1,
                        c.finetuneEpochs, rate, losses.mean(null), acc);
            }
        }
        return new FoldResult(fold, arch, before, accs, best, chosen);
    }

    /** Mean of the folds' best accuracies. */
    public static double mean(List<FoldResult> rs) {
        return rs.stream().mapToDouble(FoldResult::best).average().orElse(Double.NaN);
    }

}
