package io.basq4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FashionMnistTest {
    @TempDir
    Path tmp;

    @Test
    void idxRoundTripThroughTheWriter() {
        byte[] pixels = new byte[3 * 4 * 5];
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] = (byte) (i * 7);
        }
        for (String name : new String[] {"a-images.gz", "b-images"}) {
            Path f = tmp.resolve(name);
            Idx.writeImages(f, pixels, 3, 4, 5);
            Idx.Images back = Idx.readImages(f);
            assertEquals(3, back.count());
            assertEquals(4, back.rows());
            assertEquals(5, back.cols());
            assertArrayEquals(pixels, back.pixels());
        }
        byte[] labels = {0, 9, 3};
        Idx.writeLabels(tmp.resolve("l.gz"), labels);
        assertArrayEquals(labels, Idx.readLabels(tmp.resolve("l.gz")));
    }

    @Test
    void readsSyntheticSetInFashionMnistFormat() {
        SyntheticFiles.writeFashionMnist(tmp, 50, 20, 3, true);
        FashionMnist train = FashionMnist.builder().dir(tmp).build();
        FashionMnist test = FashionMnist.builder().dir(tmp).split(FashionMnist.Split.TEST).build();
        assertEquals(50, train.size());
        assertEquals(20, test.size());
        assertEquals(1, train.channels());
        assertEquals(32, train.height());
        assertEquals(32, train.width());
        assertEquals(10, train.classes());
        SyntheticImages expected = new SyntheticImages(50, 10, 1, 28, 28, 3);
        for (int i = 0; i < 50; i++) {
            assertEquals(expected.label(i), train.label(i));
            assertArrayEquals(expected.renderBytes(i), train.rawImage(i));
        }
        // the same data un-gzipped is read the same way
        Path plain = tmp.resolve("plain");
        SyntheticFiles.writeFashionMnist(plain, 50, 20, 3, false);
        FashionMnist p = FashionMnist.builder().dir(plain).build();
        float[] a = new float[train.exampleSize()];
        float[] b = new float[train.exampleSize()];
        for (int i = 0; i < 50; i++) {
            train.load(i, a, 0, null);
            p.load(i, b, 0, null);
            assertArrayEquals(a, b);
        }
    }

    @Test
    void paddingAndNormalization() {
        SyntheticFiles.writeFashionMnist(tmp, 10, 10, 1, true);
        FashionMnist ds = FashionMnist.builder().dir(tmp).build();
        float zero = (0f - 0.2860f) / 0.3530f;
        assertEquals(zero, ds.paddingValue(), 1e-7f);
        float[] x = new float[2 + ds.exampleSize()];
        long label = ds.load(4, x, 1, null);
        assertEquals(ds.label(4), label);
        byte[] raw = ds.rawImage(4);
        for (int y = 0; y < 32; y++) {
            for (int c = 0; c < 32; c++) {
                float v = x[1 + y * 32 + c];
                if (y < 2 || y >= 30 || c < 2 || c >= 30) {
                    assertEquals(zero, v, 0f, "border pixel " + y + "," + c);
                } else {
                    float want = ((raw[(y - 2) * 28 + (c - 2)] & 0xFF) / 255f - 0.2860f) / 0.3530f;
                    assertEquals(want, v, 1e-6f);
                }
            }
        }
        assertEquals(0f, x[0]);
        assertEquals(0f, x[x.length - 1]);
        // custom normalization and no padding
        FashionMnist custom = FashionMnist.builder().dir(tmp).pad(0).mean(0.5f).std(0.5f).build();
        assertEquals(28, custom.height());
        float[] y = new float[custom.exampleSize()];
        custom.load(4, y, 0, null);
        assertEquals(((raw[0] & 0xFF) / 255f - 0.5f) / 0.5f, y[0], 1e-6f);
    }

    @Test
    void horizontalFlipIsAMirrorAndSeeded() {
        SyntheticFiles.writeFashionMnist(tmp, 10, 10, 1, true);
        FashionMnist plain = FashionMnist.builder().dir(tmp).build();
        FashionMnist flip = FashionMnist.builder().dir(tmp).hflip(true).build();
        float[] a = new float[plain.exampleSize()];
        float[] b = new float[plain.exampleSize()];
        plain.load(3, a, 0, null);
        int flipped = 0;
        for (long s = 0; s < 20; s++) {
            flip.load(3, b, 0, new Random(Seeds.mix(s)));
            boolean mirrored = new Random(Seeds.mix(s)).nextFloat() < 0.5f;
            for (int y = 0; y < 32; y++) {
                for (int x = 0; x < 32; x++) {
                    assertEquals(a[y * 32 + (mirrored ? 31 - x : x)], b[y * 32 + x]);
                }
            }
            flipped += mirrored ? 1 : 0;
        }
        assertTrue(flipped > 0 && flipped < 20);
    }

    @Test
    void subsets() {
        SyntheticFiles.writeFashionMnist(tmp, 100, 10, 1, true);
        FashionMnist first = FashionMnist.builder().dir(tmp).first(7).build();
        assertEquals(7, first.size());
        FashionMnist all = FashionMnist.builder().dir(tmp).build();
        assertArrayEquals(all.rawImage(6), first.rawImage(6));

        FashionMnist s1 = FashionMnist.builder().dir(tmp).stratified(30, 42).build();
        FashionMnist s2 = FashionMnist.builder().dir(tmp).stratified(30, 42).build();
        FashionMnist s3 = FashionMnist.builder().dir(tmp).stratified(30, 43).build();
        assertEquals(30, s1.size());
        int[] perClass = new int[10];
        boolean differs = false;
        for (int i = 0; i < 30; i++) {
            perClass[(int) s1.label(i)]++;
            assertArrayEquals(s1.rawImage(i), s2.rawImage(i));
            differs |= !java.util.Arrays.equals(s1.rawImage(i), s3.rawImage(i));
        }
        for (int c = 0; c < 10; c++) {
            assertEquals(3, perClass[c], "class " + c);
        }
        assertTrue(differs, "another seed picks other examples");
        assertEquals(100, FashionMnist.builder().dir(tmp).first(1000).build().size());
    }

    @Test
    void stratifiedIndicesAreProportional() {
        long[] labels = new long[100];
        for (int i = 0; i < 100; i++) {
            labels[i] = i < 70 ? 0 : (i < 90 ? 1 : 2); // 70 / 20 / 10
        }
        int[] idx = Subset.stratifiedIndices(labels, 3, 11, 5);
        assertEquals(11, idx.length);
        int[] count = new int[3];
        for (int i = 0; i < idx.length; i++) {
            count[(int) labels[idx[i]]]++;
            if (i > 0) {
                assertTrue(idx[i] > idx[i - 1], "sorted and distinct");
            }
        }
        // 7.7 / 2.2 / 1.1 -> 7 / 2 / 1 + the largest remainder (0.7) to class 0
        assertArrayEquals(new int[] {8, 2, 1}, count);
    }

    @Test
    void missingDirectoryNamesPathAndRemedy() {
        Path missing = tmp.resolve("nowhere");
        DataException e = assertThrows(DataException.class, () -> FashionMnist.builder().dir(missing).build());
        assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("--data DIR"), e.getMessage());
        assertTrue(e.getMessage().contains("sudo apt-get install dataset-fashion-mnist"), e.getMessage());
    }

    @Test
    void defaultDirectoryMessage() {
        String m = FashionMnist.missingMessage(Path.of("/no/such/dir"), "train-images-idx3-ubyte", true);
        assertTrue(m.contains("/no/such/dir"), m);
        assertTrue(m.contains("`sudo apt-get install dataset-fashion-mnist`"), m);
        assertTrue(m.contains("pass --data DIR"), m);
    }

    @Test
    void missingFileNamesIt() throws IOException {
        SyntheticFiles.writeFashionMnist(tmp, 10, 10, 1, true);
        Files.delete(tmp.resolve("train-labels-idx1-ubyte.gz"));
        DataException e = assertThrows(DataException.class, () -> FashionMnist.builder().dir(tmp).build());
        assertTrue(e.getMessage().contains(tmp.resolve("train-labels-idx1-ubyte.gz").toString()), e.getMessage());
        // the test split is still there
        assertEquals(10, FashionMnist.builder().dir(tmp).split(FashionMnist.Split.TEST).build().size());
    }

    @Test
    void badMagicNamesTheFile() throws IOException {
        SyntheticFiles.writeFashionMnist(tmp, 10, 10, 1, true);
        Path images = tmp.resolve("train-images-idx3-ubyte.gz");
        // a label file where the image file should be
        Files.copy(tmp.resolve("train-labels-idx1-ubyte.gz"), images, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        DataException e = assertThrows(DataException.class, () -> FashionMnist.builder().dir(tmp).build());
        assertTrue(e.getMessage().contains(images.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("magic"), e.getMessage());
    }

    @Test
    void truncatedFileNamesTheFile() throws IOException {
        SyntheticFiles.writeFashionMnist(tmp, 10, 10, 1, false);
        Path images = tmp.resolve("train-images-idx3-ubyte");
        byte[] all = Files.readAllBytes(images);
        Files.write(images, java.util.Arrays.copyOf(all, all.length - 100));
        DataException e = assertThrows(DataException.class, () -> FashionMnist.builder().dir(tmp).build());
        assertTrue(e.getMessage().contains(images.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());

        // a truncated gzip stream
        Path gz = tmp.resolve("gz");
        SyntheticFiles.writeFashionMnist(gz, 10, 10, 1, true);
        Path gzImages = gz.resolve("train-images-idx3-ubyte.gz");
        byte[] g = Files.readAllBytes(gzImages);
        Files.write(gzImages, java.util.Arrays.copyOf(g, g.length / 2));
        DataException e2 = assertThrows(DataException.class, () -> FashionMnist.builder().dir(gz).build());
        assertTrue(e2.getMessage().contains(gzImages.toString()), e2.getMessage());

        // not gzip at all, under a .gz name
        Files.writeString(gzImages, "hello");
        DataException e3 = assertThrows(DataException.class, () -> FashionMnist.builder().dir(gz).build());
        assertTrue(e3.getMessage().contains(gzImages.toString()), e3.getMessage());
    }

    @Test
    void countMismatchAndBadLabel() throws IOException {
        SyntheticFiles.writeFashionMnist(tmp, 10, 10, 1, true);
        Idx.writeLabels(tmp.resolve("train-labels-idx1-ubyte.gz"), new byte[9]);
        DataException e = assertThrows(DataException.class, () -> FashionMnist.builder().dir(tmp).build());
        assertTrue(e.getMessage().contains("9 labels"), e.getMessage());
        byte[] bad = new byte[10];
        bad[3] = 10;
        Idx.writeLabels(tmp.resolve("train-labels-idx1-ubyte.gz"), bad);
        e = assertThrows(DataException.class, () -> FashionMnist.builder().dir(tmp).build());
        assertTrue(e.getMessage().contains("train-labels-idx1-ubyte.gz"), e.getMessage());
    }

    @Test
    void trailingDataIsCorrupt() throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(new GZIPOutputStream(bytes))) {
            out.writeInt(Idx.LABELS_MAGIC);
            out.writeInt(2);
            out.write(new byte[] {1, 2, 3});
        }
        Path f = tmp.resolve("x.gz");
        Files.write(f, bytes.toByteArray());
        DataException e = assertThrows(DataException.class, () -> Idx.readLabels(f));
        assertTrue(e.getMessage().contains(f.toString()));
    }

    @Test
    void realFashionMnistWhenInstalled() {
        assumeTrue(FashionMnist.present(FashionMnist.DEFAULT_DIR, FashionMnist.Split.TRAIN)
                && FashionMnist.present(FashionMnist.DEFAULT_DIR, FashionMnist.Split.TEST),
                "Fashion-MNIST not installed in " + FashionMnist.DEFAULT_DIR);
        FashionMnist train = FashionMnist.builder().build();
        FashionMnist test = FashionMnist.builder().split(FashionMnist.Split.TEST).build();
        assertEquals(60000, train.size());
        assertEquals(10000, test.size());
        int[] count = new int[10];
        for (int i = 0; i < train.size(); i++) {
            long l = train.label(i);
            assertTrue(l >= 0 && l < 10);
            count[(int) l]++;
        }
        for (int c : count) {
            assertEquals(6000, c);
        }
        // the first training example of the published set is an ankle boot (label 9)
        assertEquals(9, train.label(0));
        float[] x = new float[train.exampleSize()];
        float zero = train.paddingValue();
        double sum = 0;
        int inner = 0;
        for (int i = 0; i < 200; i++) {
            train.load(i, x, 0, null);
            for (int y = 0; y < 32; y++) {
                for (int c = 0; c < 32; c++) {
                    float v = x[y * 32 + c];
                    if (y < 2 || y >= 30 || c < 2 || c >= 30) {
                        assertEquals(zero, v, 0f);
                    } else {
                        assertTrue(v >= zero - 1e-6f && v <= (1 - 0.2860f) / 0.3530f + 1e-5f);
                        sum += v * 0.3530 + 0.2860;
                        inner++;
                    }
                }
            }
        }
        double mean = sum / inner;
        assertTrue(Math.abs(mean - 0.286) < 0.03, "mean pixel of the first 200 images " + mean);
        assertFalse(train.hflip());
    }
}
