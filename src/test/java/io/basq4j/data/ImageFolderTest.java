package io.basq4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageFolderTest {
    @TempDir
    static Path shared;

    static SyntheticFiles.ImageFolderFiles layout;

    @BeforeAll
    static void write() {
        layout = SyntheticFiles.writeImageFolder(shared.resolve("imagenet"), 3, 6, 2, 11, true);
    }

    private static ImageFolder.Builder small(String split) {
        return ImageFolder.builder(layout.root()).split(split).crop(32).resize(36)
                .log(new PrintStream(new ByteArrayOutputStream()));
    }

    @Test
    void classMappingAndFileList() {
        ImageFolder train = small("train").build();
        ImageFolder val = small("val").build();
        assertEquals(layout.classes(), train.classNames());
        assertEquals(layout.classes(), val.classNames());
        assertEquals(3, train.classes());
        assertEquals(layout.trainImages(), train.size()); // 18 + the corrupt one; notes.txt is not listed
        assertEquals(6, val.size());
        for (int i = 0; i < train.size(); i++) {
            Path p = train.path(i);
            assertEquals(layout.classes().get((int) train.label(i)), p.getParent().getFileName().toString());
        }
        // the upper-case .JPEG extension is accepted
        boolean upper = false;
        for (int i = 0; i < train.size(); i++) {
            upper |= train.path(i).toString().endsWith(".JPEG");
        }
        assertTrue(upper);
        assertTrue(train.training());
        assertTrue(!val.training());
    }

    @Test
    void valClassMissingFromTrainIsAnError(@TempDir Path tmp) throws IOException {
        SyntheticFiles.writeImageFolder(tmp, 2, 1, 1, 1, false);
        Path extra = tmp.resolve("val").resolve("zzz_unknown");
        Files.createDirectories(extra);
        DataException e = assertThrows(DataException.class,
                () -> ImageFolder.builder(tmp).split("val").build());
        assertTrue(e.getMessage().contains(extra.toString()), e.getMessage());
    }

    @Test
    void missingFoldersAreErrors(@TempDir Path tmp) {
        DataException e = assertThrows(DataException.class, () -> ImageFolder.builder(tmp.resolve("x")).build());
        assertTrue(e.getMessage().contains(tmp.resolve("x").toString()));
        DataException e2 = assertThrows(DataException.class, () -> ImageFolder.builder(tmp).split("val").build());
        assertTrue(e2.getMessage().contains(tmp.resolve("val").toString()));
    }

    @Test
    void evalTransformHasExactSizeAndIsDeterministic() {
        ImageFolder val = small("val").build();
        float[] a = new float[val.exampleSize()];
        float[] b = new float[val.exampleSize()];
        for (int i = 0; i < val.size(); i++) {
            val.load(i, a, 0, new Random(1));
            val.load(i, b, 0, null);
            assertArrayEquals(a, b, "evaluation ignores the random source");
        }
        assertEquals(3 * 32 * 32, val.exampleSize());
    }

    @Test
    void evalTransformIsResizeThenCenterCrop(@TempDir Path tmp) throws IOException {
        // a 50x40 PNG: Resize(36) -> 45x36, CenterCrop(32) -> left rint(6.5)=6, top 2
        RgbImage img = ResamplePillowGoldenTest.image(50, 40);
        writePng(img, tmp.resolve("train/a/x.png"));
        ImageFolder ds = ImageFolder.builder(tmp).split("train").training(false).crop(32).resize(36).build();
        assertEquals(List.of(45, 36), List.of(ImageFolder.resizedSize(50, 40, 36)[0], ImageFolder.resizedSize(50, 40, 36)[1]));
        float[] got = new float[ds.exampleSize()];
        ds.load(0, got, 0, null);
        float[][] lut = lut();
        float[] want = new float[ds.exampleSize()];
        Resample.resizeWindow(img, 0, 0, 50, 40, 45, 36, 6, 2, 32, 32, false, lut, want, 0);
        assertArrayEquals(want, got);
        // resize 0: a plain center crop of the original pixels
        ImageFolder crop = ImageFolder.builder(tmp).split("train").training(false).crop(32).resize(0).build();
        crop.load(0, got, 0, null);
        int left = 9;
        int top = 4;
        for (int c = 0; c < 3; c++) {
            float expect = (img.get(left, top, c) / 255f - ImageFolder.IMAGENET_MEAN[c]) / ImageFolder.IMAGENET_STD[c];
            assertEquals(expect, got[c * 1024], 1e-6f);
        }
        // crop larger than the image: zero padding, as torchvision's CenterCrop
        ImageFolder big = ImageFolder.builder(tmp).split("train").training(false).crop(64).resize(0).build();
        float[] g = new float[big.exampleSize()];
        big.load(0, g, 0, null);
        assertEquals(lut[0][0], g[0], 0f);
        // image 50x40 in 64x64: left (64-50)/2 = 7, top (64-40)/2 = 12
        assertEquals(lut[0][img.get(0, 0, 0)], g[12 * 64 + 7], 0f);
        assertEquals(lut[0][0], g[12 * 64 + 6], 0f);
    }

    private static float[][] lut() {
        float[][] lut = new float[3][256];
        for (int c = 0; c < 3; c++) {
            for (int v = 0; v < 256; v++) {
                lut[c][v] = (v / 255f - ImageFolder.IMAGENET_MEAN[c]) / ImageFolder.IMAGENET_STD[c];
            }
        }
        return lut;
    }

    private static void writePng(RgbImage img, Path file) throws IOException {
        Files.createDirectories(file.getParent());
        BufferedImage b = new BufferedImage(img.width(), img.height(), BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < img.height(); y++) {
            for (int x = 0; x < img.width(); x++) {
                b.setRGB(x, y, (img.get(x, y, 0) << 16) | (img.get(x, y, 1) << 8) | img.get(x, y, 2));
            }
        }
        ImageIO.write(b, "png", file.toFile());
    }

    @Test
    void decodesEveryKindToTheSamePixels(@TempDir Path tmp) throws IOException {
        RgbImage img = ResamplePillowGoldenTest.image(9, 7);
        writePng(img, tmp.resolve("rgb.png"));
        assertArrayEquals(img.rgb(), RgbImage.read(tmp.resolve("rgb.png")).rgb());
        // grayscale is replicated as is (no gamma conversion)
        BufferedImage gray = new BufferedImage(4, 3, BufferedImage.TYPE_BYTE_GRAY);
        gray.getRaster().setSample(1, 2, 0, 200);
        gray.getRaster().setSample(2, 2, 0, 17);
        ImageIO.write(gray, "png", tmp.resolve("g.png").toFile());
        RgbImage g = RgbImage.read(tmp.resolve("g.png"));
        assertEquals(200, g.get(1, 2, 0));
        assertEquals(200, g.get(1, 2, 1));
        assertEquals(200, g.get(1, 2, 2));
        assertEquals(17, g.get(2, 2, 1));
        // 16-bit grayscale: the high byte
        BufferedImage g16 = new BufferedImage(2, 2, BufferedImage.TYPE_USHORT_GRAY);
        g16.getRaster().setSample(1, 1, 0, 0xABCD);
        ImageIO.write(g16, "png", tmp.resolve("g16.png").toFile());
        assertEquals(0xAB, RgbImage.read(tmp.resolve("g16.png")).get(1, 1, 2));
        // JPEG (lossy): close to the original for a smooth image
        BufferedImage smooth = new BufferedImage(16, 16, BufferedImage.TYPE_3BYTE_BGR);
        for (int y = 0; y < 16; y++) {
            for (int x = 0; x < 16; x++) {
                smooth.setRGB(x, y, (200 << 16) | (100 << 8) | 30);
            }
        }
        ImageIO.write(smooth, "jpg", tmp.resolve("s.jpg").toFile());
        RgbImage s = RgbImage.read(tmp.resolve("s.jpg"));
        assertTrue(Math.abs(s.get(5, 5, 0) - 200) <= 3 && Math.abs(s.get(5, 5, 1) - 100) <= 3
                && Math.abs(s.get(5, 5, 2) - 30) <= 3, "jpeg pixel " + s.get(5, 5, 0) + "," + s.get(5, 5, 1) + "," + s.get(5, 5, 2));
        // all the kinds the synthetic writer makes decode
        ImageFolder train = small("train").build();
        for (int i = 0; i < train.size(); i++) {
            Path p = train.path(i);
            if (!layout.corruptFiles().contains(p)) {
                RgbImage.read(p);
            }
        }
    }

    @Test
    void truncatedFilesAreUnreadable(@TempDir Path tmp) throws IOException {
        BufferedImage noisy = new BufferedImage(64, 48, BufferedImage.TYPE_3BYTE_BGR);
        Random r = new Random(1);
        for (int y = 0; y < 48; y++) {
            for (int x = 0; x < 64; x++) {
                noisy.setRGB(x, y, r.nextInt(1 << 24));
            }
        }
        for (String format : new String[] {"jpg", "png"}) {
            Path f = tmp.resolve("t." + format);
            ImageIO.write(noisy, format, f.toFile());
            RgbImage.read(f);
            byte[] all = Files.readAllBytes(f);
            Files.write(f, java.util.Arrays.copyOf(all, all.length / 2));
            assertThrows(IOException.class, () -> RgbImage.read(f), format);
        }
    }

    @Test
    void strictModeNamesTheCorruptFile() {
        ImageFolder strict = small("train").strict(true).build();
        Path bad = layout.corruptFiles().get(0);
        int badIndex = indexOf(strict, bad);
        float[] x = new float[strict.exampleSize()];
        DataException e = assertThrows(DataException.class, () -> strict.load(badIndex, x, 0, new Random(0)));
        assertTrue(e.getMessage().contains(bad.toString()), e.getMessage());
    }

    @Test
    void skipModeReplacesTheCorruptFileWithTheNextAndReportsIt() {
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        ImageFolder ds = ImageFolder.builder(layout.root()).split("train").crop(32).resize(36).training(false)
                .log(new PrintStream(log, true, StandardCharsets.UTF_8)).build();
        Path bad = layout.corruptFiles().get(0);
        int badIndex = indexOf(ds, bad);
        float[] x = new float[ds.exampleSize()];
        float[] y = new float[ds.exampleSize()];
        long label = ds.load(badIndex, x, 0, null);
        long nextLabel = ds.load(badIndex + 1, y, 0, null);
        assertEquals(nextLabel, label);
        assertArrayEquals(y, x);
        assertNotEquals(ds.label(badIndex), label, "the corrupt file ends class 0; its replacement is class 1");
        ds.load(badIndex, x, 0, null);
        assertEquals(1, ds.skippedCount());
        assertEquals(List.of(bad), ds.skippedFiles());
        String logged = log.toString(StandardCharsets.UTF_8);
        assertEquals(1, logged.lines().count(), logged);
        assertTrue(logged.contains(bad.toString()), logged);
    }

    private static int indexOf(ImageFolder ds, Path p) {
        for (int i = 0; i < ds.size(); i++) {
            if (ds.path(i).equals(p)) {
                return i;
            }
        }
        throw new AssertionError(p + " not listed");
    }

    @Test
    void randomResizedCropBounds() {
        Random rng = new Random(3);
        int[][] sizes = {{375, 500}, {500, 375}, {32, 32}, {40, 200}, {7, 3}};
        for (int[] s : sizes) {
            int h = s[0];
            int w = s[1];
            for (int t = 0; t < 2000; t++) {
                ImageFolder.CropBox b = ImageFolder.randomResizedCropParams(h, w, 0.08, 1.0, 0.75, 4.0 / 3, rng);
                assertTrue(b.top() >= 0 && b.left() >= 0 && b.height() > 0 && b.width() > 0, b.toString());
                assertTrue(b.top() + b.height() <= h && b.left() + b.width() <= w, b + " in " + h + "x" + w);
                if (h >= 32 && w >= 32 && (double) w / h <= 4.0 / 3 && (double) w / h >= 0.75) {
                    double area = (double) b.height() * b.width() / (h * w);
                    assertTrue(area >= 0.06 && area <= 1.0 + 1e-9, "area fraction " + area);
                    double ratio = (double) b.width() / b.height();
                    assertTrue(ratio >= 0.7 && ratio <= 1.45, "ratio " + ratio);
                }
            }
        }
    }

    @Test
    void randomResizedCropFallsBackToTheCenter() {
        // scale range (1, 1) on a very wide image: no try fits, so the center crop clamped to ratio 4/3
        Random rng = new Random(0);
        ImageFolder.CropBox b = ImageFolder.randomResizedCropParams(30, 300, 1.0, 1.0, 0.75, 4.0 / 3, rng);
        assertEquals(new ImageFolder.CropBox(0, 130, 30, 40), b);
        ImageFolder.CropBox tall = ImageFolder.randomResizedCropParams(300, 30, 1.0, 1.0, 0.75, 4.0 / 3, rng);
        assertEquals(new ImageFolder.CropBox(130, 0, 40, 30), tall);
        // ratio range (1.5, 2): a 30x31 image is too narrow: full width, height rint(31 / 1.5) = 21
        ImageFolder.CropBox narrow = ImageFolder.randomResizedCropParams(30, 31, 1.0, 1.0, 1.5, 2.0, rng);
        assertEquals(new ImageFolder.CropBox(4, 0, 21, 31), narrow);
    }

    @Test
    void trainingTransformIsSeededAndVaries() {
        ImageFolder train = small("train").strict(true).build();
        float[] a = new float[train.exampleSize()];
        float[] b = new float[train.exampleSize()];
        train.load(1, a, 0, new Random(5));
        train.load(1, b, 0, new Random(5));
        assertArrayEquals(a, b);
        train.load(1, b, 0, new Random(6));
        assertTrue(!java.util.Arrays.equals(a, b));
        for (float v : a) {
            assertTrue(v >= -2.2f && v <= 2.7f, "normalized value " + v);
        }
    }

    /** A 20x10 CMYK JPEG of (C, M, Y, K) = (10, 200, 30, 40) written by Pillow 9.4; Pillow reads it as RGB (207, 46, 190). */
    private static final String CMYK_JPEG =
            "ffd8ffee000e41646f626500640000000000ffdb004300080606070605080707070909080a0c140d0c0b0b0c1912130f" +
            "141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ffc0001408000a0014" +
            "044311004d11005911004b1100ffc4001f0000010501010101010100000000000000000102030405060708090a0bffc4" +
            "00b5100002010303020403050504040000017d01020300041105122131410613516107227114328191a1082342b1c115" +
            "52d1f02433627282090a161718191a25262728292a3435363738393a434445464748494a535455565758595a63646566" +
            "6768696a737475767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2" +
            "c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffda000e0443004d005900" +
            "4b00003f00f75af36af61af57a28a28a28a28a28a28a28a28a28a28affd9";

    @Test
    void cmykJpegConvertsAsPillowDoes(@TempDir Path tmp) throws IOException {
        Path f = tmp.resolve("cmyk.jpg");
        Files.write(f, java.util.HexFormat.of().parseHex(CMYK_JPEG));
        RgbImage img = RgbImage.read(f);
        assertEquals(20, img.width());
        assertEquals(10, img.height());
        int[] want = {207, 46, 190};
        for (int c = 0; c < 3; c++) {
            assertTrue(Math.abs(img.get(3, 3, c) - want[c]) <= 1, "channel " + c + ": " + img.get(3, 3, c));
        }
    }

    @Test
    void resizedSizeFollowsTorchvision() {
        assertArrayEquals(new int[] {256, 341}, ImageFolder.resizedSize(375, 500, 256));
        assertArrayEquals(new int[] {341, 256}, ImageFolder.resizedSize(500, 375, 256));
        assertArrayEquals(new int[] {256, 256}, ImageFolder.resizedSize(100, 100, 256));
    }
}
