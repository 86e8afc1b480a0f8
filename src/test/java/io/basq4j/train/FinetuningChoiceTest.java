package io.basq4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.basq4j.data.DataLoader;
import io.basq4j.io.TensorData;
import io.basq4j.models.Models;
import io.basq4j.models.Supernet;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Step 3's choice of epoch, with scripted accuracies: the fold's result is the best of before and
 * each epoch (the first to reach it), and the listener sees exactly the states that became best,
 * each as it was at that moment.
 */
class FinetuningChoiceTest {
    @TempDir
    Path dir;

    @Test
    void theListenerSeesTheStateOfEachEpochThatBecomesBest() {
        RunConfig c = RunConfig.preset("smoke");
        c.finetuneEpochs = 4;
        c.finetuneBatches = 2;
        c.finetuneLr = 0.05; // large enough that the states of the epochs differ in their learned values too
        double[] script = {40, 55, 50, 60, 60}; // before, then epochs 1..4: best at epoch 3 (epoch 4 only ties)
        List<Map<String, TensorData>> states = new ArrayList<>();
        List<int[]> seen = new ArrayList<>();
        List<Map<String, TensorData>> seenStates = new ArrayList<>();
        Finetuning.FoldResult r;
        try (Supernet m = Models.create(c.arch, c.modelConfig()); DataLoader train = loader(c);
                RunLog log = new RunLog(new PrintStream(new ByteArrayOutputStream()), dir.resolve("log.txt"))) {
            m.setWeightQuantization(true);
            int[] arch = new int[m.searchedUnits()];
            Arrays.fill(arch, 3);
            states.add(m.subnetState(arch));
            int[] epoch = {0};
            r = Finetuning.run(c, 0, arch, m, train, (mm, a) -> {
                states.add(mm.subnetState(a));
                return script[++epoch[0]];
            }, script[0], log, (mm, e, acc) -> {
                assertFalse(mm.isTraining(), "the listener sees the model in evaluation mode");
                seen.add(new int[] {e, (int) acc});
                seenStates.add(mm.subnetState(arch));
            });
        }
        assertEquals(60, r.best());
        assertEquals(3, r.chosenEpoch());
        assertEquals(List.of(55.0, 50.0, 60.0, 60.0), r.perEpoch());
        assertEquals(List.of("0:40", "1:55", "3:60"), seen.stream().map(s -> s[0] + ":" + s[1]).toList());
        int[] epochs = {0, 1, 3};
        for (int i = 0; i < epochs.length; i++) {
            for (int k = 0; k < states.size(); k++) {
                assertEquals(states.get(k).keySet(), seenStates.get(i).keySet());
                assertEquals(k == epochs[i], states.get(k).equals(seenStates.get(i)),
                        "listener call " + i + " vs the state after epoch " + k);
            }
        }
    }

    @Test
    void nothingBetterThanBeforeKeepsTheNetworkBeforeFinetuning() {
        RunConfig c = RunConfig.preset("smoke");
        c.finetuneEpochs = 2;
        c.finetuneBatches = 1;
        List<Integer> seen = new ArrayList<>();
        try (Supernet m = Models.create(c.arch, c.modelConfig()); DataLoader train = loader(c);
                RunLog log = new RunLog(new PrintStream(new ByteArrayOutputStream()), dir.resolve("log.txt"))) {
            int[] arch = new int[m.searchedUnits()];
            Finetuning.FoldResult r = Finetuning.run(c, 1, arch, m, train, (mm, a) -> 70.0, 70.0, log,
                    (mm, e, acc) -> seen.add(e));
            assertEquals(0, r.chosenEpoch());
            assertEquals(70.0, r.best());
        }
        assertEquals(List.of(0), seen);
    }

    private static DataLoader loader(RunConfig c) {
        return DataLoader.builder(DataSources.train(c)).batchSize(c.batch).shuffle(true).dropLast(true).seed(3)
                .workers(1).build();
    }
}
