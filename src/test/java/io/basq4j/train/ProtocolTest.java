package io.basq4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.data.Dataset;
import io.basq4j.data.FashionMnist;
import io.basq4j.data.ImageFolder;
import io.basq4j.data.Subset;
import io.basq4j.data.SyntheticFiles;
import io.basq4j.data.SyntheticImages;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The holdout protocol's data: a fixed, stratified validation split that training never sees; the test set apart. */
class ProtocolTest {
    @TempDir
    Path dir;

    private RunConfig fashion(Path data) {
        RunConfig c = RunConfig.preset("smoke");
        c.dataset = "fashion";
        c.dataDir = data.toString();
        c.trainLimit = 0;
        c.valLimit = 0;
        c.valSplit = 100;
        return c;
    }

    private static Set<Integer> baseIndices(Dataset d) {
        Subset s = (Subset) d;
        Set<Integer> out = new HashSet<>();
        for (int i = 0; i < s.size(); i++) {
            out.add(s.baseIndex(i));
        }
        assertEquals(s.size(), out.size(), "no index twice");
        return out;
    }

    @Test
    void fashionValidationSplitIsHeldOutOfTrainingStratifiedAndFixed() {
        Path data = dir.resolve("fm");
        SyntheticFiles.writeFashionMnist(data, 400, 160, 5, true);
        RunConfig c = fashion(data);
        Dataset train = DataSources.train(c);
        Dataset val = DataSources.val(c);
        Dataset test = DataSources.test(c);
        Set<Integer> t = baseIndices(train);
        Set<Integer> v = baseIndices(val);
        assertEquals(300, t.size());
        assertEquals(100, v.size());
        Set<Integer> both = new HashSet<>(t);
        both.retainAll(v);
        assertTrue(both.isEmpty(), "training and validation share " + both);
        Set<Integer> all = new HashSet<>(t);
        all.addAll(v);
        assertEquals(400, all.size(), "together they are the training file");
        // both views read the training file; the validation split without augmentation
        FashionMnist trainBase = (FashionMnist) ((Subset) train).base();
        FashionMnist valBase = (FashionMnist) ((Subset) val).base();
        assertEquals(FashionMnist.Split.TRAIN, trainBase.split());
        assertEquals(FashionMnist.Split.TRAIN, valBase.split());
        assertTrue(trainBase.hflip());
        assertFalse(valBase.hflip());
        // stratified: the 400 training labels are 40 per class, so 10 per class are held out
        int[] perClass = new int[10];
        for (int i = 0; i < val.size(); i++) {
            perClass[(int) val.label(i)]++;
        }
        int[] ten = new int[10];
        Arrays.fill(ten, 10);
        assertEquals(Arrays.toString(ten), Arrays.toString(perClass));
        // fixed: the run's seed and the training limit do not move it
        RunConfig other = fashion(data);
        other.seed = 77;
        other.trainLimit = 120;
        assertEquals(v, baseIndices(DataSources.val(other)));
        Set<Integer> limited = baseIndices(DataSources.train(other));
        assertEquals(120, limited.size());
        assertTrue(t.containsAll(limited), "a training limit draws from the rest only");
        // the test set is the other file, whole
        assertEquals(FashionMnist.Split.TEST, ((FashionMnist) test).split());
        assertEquals(160, test.size());
    }

    @Test
    void referenceProtocolValidatesOnTheTestSet() {
        Path data = dir.resolve("fm");
        SyntheticFiles.writeFashionMnist(data, 400, 160, 5, true);
        RunConfig c = fashion(data);
        c.protocol = "reference";
        Dataset val = DataSources.val(c);
        assertEquals(FashionMnist.Split.TEST, ((FashionMnist) val).split());
        assertEquals(160, val.size());
        assertEquals(400, DataSources.train(c).size());
        c.valLimit = 64;
        assertEquals(64, DataSources.val(c).size());
        assertEquals(64, DataSources.test(c).size());
    }

    @Test
    void imageFolderSplitIsCarvedOutOfTrain() throws Exception {
        SyntheticFiles.ImageFolderFiles f = SyntheticFiles.writeImageFolder(dir.resolve("if"), 3, 10, 2, 4, false);
        RunConfig c = RunConfig.preset("smoke");
        c.dataset = "imagefolder";
        c.dataDir = f.root().toString();
        c.inChannels = 3;
        c.trainLimit = 0;
        c.valLimit = 0;
        c.valSplit = 6;
        Subset train = (Subset) DataSources.train(c);
        Subset val = (Subset) DataSources.val(c);
        Set<Path> trainFiles = new HashSet<>();
        for (int i = 0; i < train.size(); i++) {
            trainFiles.add(((ImageFolder) train.base()).path(train.baseIndex(i)));
        }
        Set<Path> valFiles = new HashSet<>();
        for (int i = 0; i < val.size(); i++) {
            Path p = ((ImageFolder) val.base()).path(val.baseIndex(i));
            assertTrue(p.startsWith(f.root().resolve("train")), p.toString());
            valFiles.add(p);
        }
        assertEquals(24, trainFiles.size());
        assertEquals(6, valFiles.size());
        trainFiles.retainAll(valFiles);
        assertTrue(trainFiles.isEmpty(), "shared files " + trainFiles);
        assertTrue(((ImageFolder) train.base()).training());
        assertFalse(((ImageFolder) val.base()).training());
        ImageFolder test = (ImageFolder) DataSources.test(c);
        assertEquals("val", test.split());
        assertEquals(6, test.size());
    }

    @Test
    void syntheticSplitIsCarvedOutOfTheTrainingSet() {
        RunConfig c = RunConfig.preset("smoke"); // synthetic, 256 training examples, split of 128
        Subset train = (Subset) DataSources.train(c);
        Subset val = (Subset) DataSources.val(c);
        assertEquals(256, train.size());
        assertEquals(128, val.size());
        Set<Integer> t = baseIndices(train);
        t.retainAll(baseIndices(val));
        assertTrue(t.isEmpty());
        assertEquals(384, train.base().size());
        Dataset test = DataSources.test(c);
        assertTrue(test.describe().contains("seed " + (c.seed + 7919)), test.describe());
        // the test examples are other images than the training pool's
        float[] a = new float[test.exampleSize()];
        float[] b = new float[test.exampleSize()];
        test.load(0, a, 0, null);
        ((SyntheticImages) train.base()).load(0, b, 0, null);
        assertFalse(Arrays.equals(a, b));
    }

    @Test
    void badSettingsAreClearErrors() {
        Path data = dir.resolve("fm");
        SyntheticFiles.writeFashionMnist(data, 400, 160, 5, true);
        RunConfig c = fashion(data);
        c.valSplit = 400;
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DataSources.train(c));
        assertEquals("--val-split 400 is outside [1, 399] (the training data has 400 examples)", e.getMessage());
        c.valSplit = 0;
        e = assertThrows(IllegalArgumentException.class, c::validate);
        assertTrue(e.getMessage().startsWith("--val-split 0 is outside"), e.getMessage());
        c.protocol = "reference";
        c.validate(); // no split needed
        c.protocol = "paper";
        e = assertThrows(IllegalArgumentException.class, c::validate);
        assertEquals("unknown protocol 'paper' (valid: holdout, reference)", e.getMessage());
    }

    @Test
    void holdoutNeverOpensTheTestFiles() throws Exception {
        Path data = dir.resolve("fm");
        SyntheticFiles.writeFashionMnist(data, 400, 160, 5, true);
        Files.delete(data.resolve("t10k-images-idx3-ubyte.gz"));
        RunConfig c = fashion(data);
        assertEquals(300, DataSources.train(c).size());
        assertEquals(100, DataSources.val(c).size());
        assertThrows(io.basq4j.data.DataException.class, () -> DataSources.test(c));
        c.protocol = "reference";
        assertThrows(io.basq4j.data.DataException.class, () -> DataSources.val(c));
    }

    @Test
    void aSupernetTrainedWithoutTheSplitHeldOutIsRefused() throws Exception {
        RunConfig trained = RunConfig.preset("smoke");
        trained.protocol = "reference";
        Path run = dir.resolve("run");
        Files.createDirectories(run);
        try (io.basq4j.models.Supernet m = io.basq4j.models.Models.create(trained.arch, trained.modelConfig())) {
            Checkpoint.save(run.resolve(SupernetTraining.FINAL), m, null, java.util.Map.of("kind", "supernet-final",
                    "config", io.basq4j.io.JsonFiles.MAPPER.writeValueAsString(trained)));
        }
        RunConfig now = RunConfig.preset("smoke");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> io.basq4j.search.KFoldSearch.loadSupernet(now, run));
        assertTrue(e.getMessage().contains("was not trained with this validation split held out")
                && e.getMessage().contains("protocol reference"), e.getMessage());
        now.protocol = "reference";
        io.basq4j.search.KFoldSearch.loadSupernet(now, run).close(); // the reference protocol may use it
        trained.protocol = "holdout";
        trained.valSplit = 64; // another split
        try (io.basq4j.models.Supernet m = io.basq4j.models.Models.create(trained.arch, trained.modelConfig())) {
            Checkpoint.save(run.resolve(SupernetTraining.FINAL), m, null, java.util.Map.of("kind", "supernet-final",
                    "config", io.basq4j.io.JsonFiles.MAPPER.writeValueAsString(trained)));
        }
        now.protocol = "holdout";
        e = assertThrows(IllegalArgumentException.class, () -> io.basq4j.search.KFoldSearch.loadSupernet(now, run));
        assertTrue(e.getMessage().contains("--val-split 64"), e.getMessage());
        now.valSplit = 64;
        io.basq4j.search.KFoldSearch.loadSupernet(now, run).close();
    }
}
