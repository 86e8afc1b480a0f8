package io.basq4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The rule a saved model records against the data sets' own evaluation transforms (the inputs
 * the network was trained and measured on) and against values computed here.
 */
class PreprocessingTest {
    @TempDir
    Path dir;

    @Test
    void fashionRuleOnItsImagesGivesExactlyTheDataLoadersInput() {
        SyntheticFiles.writeFashionMnist(dir, 30, 20, 3, false);
        FashionMnist test = FashionMnist.test(dir);
        Preprocessing rule = test.preprocessing();
        assertEquals(new Preprocessing(1, 28, 28, 2, new float[] {FashionMnist.DEFAULT_MEAN},
                new float[] {FashionMnist.DEFAULT_STD}), rule);
        float[] want = new float[test.exampleSize()];
        for (int i = 0; i < test.size(); i++) {
            test.load(i, want, 0, null);
            assertArrayEquals(want, rule.apply(test.image(i)), "example " + i);
        }
    }

    @Test
    void imageFolderRuleOnItsFilesGivesExactlyItsEvaluationTransform() throws Exception {
        SyntheticFiles.ImageFolderFiles f = SyntheticFiles.writeImageFolder(dir.resolve("f"), 3, 6, 2, 5, false);
        ImageFolder val = ImageFolder.builder(f.root()).split("train").training(false).crop(24).resize(27)
                .log(new PrintStream(new ByteArrayOutputStream())).build();
        Preprocessing rule = val.preprocessing();
        assertEquals(3, rule.channels());
        assertEquals(24, rule.size());
        float[] want = new float[val.exampleSize()];
        for (int i = 0; i < val.size(); i++) { // RGB, grey, palette and RGBA files of odd sizes
            val.load(i, want, 0, null);
            assertArrayEquals(want, rule.apply(RgbImage.read(val.path(i))), val.path(i).toString());
        }
    }

    /** Pillow's convert("L") and the normalization, computed here in integers and doubles. */
    @Test
    void colourBecomesGreyByTheLumaFormulaThenIsPaddedAndNormalized() {
        Random r = new Random(8);
        int w = 28;
        int h = 28;
        byte[] rgb = new byte[w * h * 3];
        r.nextBytes(rgb);
        float mean = 0.3f;
        float std = 0.4f;
        Preprocessing rule = new Preprocessing(1, 28, 28, 3, new float[] {mean}, new float[] {std});
        float[] out = rule.apply(new RgbImage(w, h, rgb));
        assertEquals(34 * 34, out.length);
        for (int y = 0; y < 34; y++) {
            for (int x = 0; x < 34; x++) {
                int v = 0;
                if (y >= 3 && y < 31 && x >= 3 && x < 31) {
                    int p = ((y - 3) * w + (x - 3)) * 3;
                    double l = 0.299 * (rgb[p] & 0xFF) + 0.587 * (rgb[p + 1] & 0xFF) + 0.114 * (rgb[p + 2] & 0xFF);
                    int fixed = ((rgb[p] & 0xFF) * 19595 + (rgb[p + 1] & 0xFF) * 38470 + (rgb[p + 2] & 0xFF) * 7471
                            + 0x8000) >> 16;
                    assertTrue(Math.abs(fixed - l) <= 0.51, "luma " + fixed + " vs " + l);
                    v = fixed;
                }
                assertEquals((v / 255f - mean) / std, out[y * 34 + x], 0f, "(" + x + "," + y + ")");
            }
        }
    }

    @Test
    void anImageOfAnySizeBecomesTheModelsInput() {
        // a constant image stays constant whatever the resize; the crop window and the padding are where they belong
        for (int[] size : new int[][] {{45, 31}, {17, 90}, {300, 200}, {5, 7}}) {
            byte[] rgb = new byte[size[0] * size[1] * 3];
            java.util.Arrays.fill(rgb, (byte) 200);
            Preprocessing rule = new Preprocessing(1, 28, 28, 2, new float[] {0.5f}, new float[] {0.25f});
            float[] out = rule.apply(new RgbImage(size[0], size[1], rgb));
            float in = (200 / 255f - 0.5f) / 0.25f;
            float pad = (0 - 0.5f) / 0.25f;
            for (int y = 0; y < 32; y++) {
                for (int x = 0; x < 32; x++) {
                    boolean inside = y >= 2 && y < 30 && x >= 2 && x < 30;
                    assertEquals(inside ? in : pad, out[y * 32 + x], 0f, size[0] + "x" + size[1] + " (" + x + "," + y
                            + ")");
                }
            }
        }
        // a wide image: the shorter side already fits, so the centre crop takes columns 14..41 unchanged
        int w = 56;
        int h = 28;
        byte[] rgb = new byte[w * h * 3];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                for (int c = 0; c < 3; c++) {
                    rgb[(y * w + x) * 3 + c] = (byte) (x * 4 + c * 10 + y);
                }
            }
        }
        Preprocessing rgbRule = new Preprocessing(3, 28, 28, 0, new float[] {0, 0, 0}, new float[] {1, 1, 1});
        float[] out = rgbRule.apply(new RgbImage(w, h, rgb));
        for (int c = 0; c < 3; c++) {
            for (int y = 0; y < 28; y++) {
                for (int x = 0; x < 28; x++) {
                    assertEquals(((x + 14) * 4 + c * 10 + y & 0xFF) / 255f, out[c * 784 + y * 28 + x], 0f);
                }
            }
        }
    }

    @Test
    void jsonRoundTripAndClearErrors() {
        Preprocessing p = new Preprocessing(3, 37, 32, 1, new float[] {0.485f, 0.456f, 0.406f},
                new float[] {0.229f, 0.224f, 0.225f});
        assertEquals(p, Preprocessing.fromJson(p.toJson()));
        Preprocessing g = new Preprocessing(1, 28, 28, 2, new float[] {0.2860f}, new float[] {0.3530f});
        assertEquals(g, Preprocessing.fromJson(g.toJson()));
        assertEquals(34, p.size());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Preprocessing.fromJson("{\"color\":\"cmyk\",\"resize\":1,\"crop\":1,\"pad\":0}"));
        assertTrue(e.getMessage().contains("valid: grey, rgb"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Preprocessing.fromJson("[1, 2]"));
        assertThrows(IllegalArgumentException.class, () -> Preprocessing.fromJson("not json"));
        assertThrows(IllegalArgumentException.class,
                () -> new Preprocessing(2, 28, 28, 0, new float[] {0, 0}, new float[] {1, 1}));
        assertThrows(IllegalArgumentException.class,
                () -> new Preprocessing(1, 28, 28, 0, new float[] {0}, new float[] {0}));
    }
}
