package io.basq4j.data;

import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import javax.imageio.ImageIO;

/**
 * Writes small synthetic data sets in the real on-disk formats, so that end-to-end tests and the
 * smoke preset exercise the real readers: Fashion-MNIST IDX files and an ImageNet-style folder of
 * PNG and JPEG files.
 */
public final class SyntheticFiles {
    private SyntheticFiles() {}

    /**
     * Writes {@code train-images-idx3-ubyte[.gz]}, {@code train-labels-idx1-ubyte[.gz]}, {@code
     * t10k-images-idx3-ubyte[.gz]}, {@code t10k-labels-idx1-ubyte[.gz]} into {@code dir}: 28x28
     * grayscale {@link SyntheticImages} of 10 classes ({@code seed} for train, {@code seed + 1} for
     * test).
     */
    public static void writeFashionMnist(Path dir, int trainCount, int testCount, long seed, boolean gzip) {
        String ext = gzip ? ".gz" : "";
        writeIdxPair(dir.resolve("train-images-idx3-ubyte" + ext), dir.resolve("train-labels-idx1-ubyte" + ext),
                new SyntheticImages(trainCount, 10, 1, 28, 28, seed));
        writeIdxPair(dir.resolve("t10k-images-idx3-ubyte" + ext), dir.resolve("t10k-labels-idx1-ubyte" + ext),
                new SyntheticImages(testCount, 10, 1, 28, 28, seed + 1));
    }

    private static void writeIdxPair(Path images, Path labels, SyntheticImages data) {
        int n = data.size();
        int sz = data.height() * data.width();
        byte[] pixels = new byte[n * sz];
        byte[] lab = new byte[n];
        for (int i = 0; i < n; i++) {
            System.arraycopy(data.renderBytes(i), 0, pixels, i * sz, sz);
            lab[i] = (byte) data.label(i);
        }
        Idx.writeImages(images, pixels, n, data.height(), data.width());
        Idx.writeLabels(labels, lab);
    }

    /** What {@link #writeImageFolder} wrote. */
    public record ImageFolderFiles(Path root, List<String> classes, int trainImages, int valImages,
            List<Path> corruptFiles) {}

    /**
     * Writes {@code root/train/<class>/} and {@code root/val/<class>/} with {@code trainPerClass}
     * and {@code valPerClass} images per class, of assorted sizes (between 24 and 80 pixels a side)
     * and kinds: RGB PNG, RGB JPEG (some named {@code .JPEG}), grayscale PNG and JPEG, RGBA PNG,
     * palette PNG; plus a {@code notes.txt} that is not an image and, with {@code corrupt}, one
     * file {@code train/<first class>/zz_corrupt.jpg} that is not an image.
     */
    public static ImageFolderFiles writeImageFolder(Path root, int classes, int trainPerClass, int valPerClass,
            long seed, boolean corrupt) {
        List<String> names = new ArrayList<>();
        for (int k = 0; k < classes; k++) {
            names.add(String.format("n%08d", 1000 + k * 7));
        }
        List<Path> corruptFiles = new ArrayList<>();
        try {
            int counter = 0;
            for (String split : List.of("train", "val")) {
                int per = split.equals("train") ? trainPerClass : valPerClass;
                for (int k = 0; k < classes; k++) {
                    Path dir = root.resolve(split).resolve(names.get(k));
                    Files.createDirectories(dir);
                    for (int j = 0; j < per; j++) {
                        Random r = new Random(Seeds.mix(seed, counter, 77));
                        int w = 24 + r.nextInt(57);
                        int h = 24 + r.nextInt(57);
                        SyntheticImages pattern = new SyntheticImages(classes, classes, 3, h, w,
                                Seeds.mix(seed, counter));
                        float[] px = new float[3 * h * w];
                        pattern.renderUnit(k, px, 0);
                        int kind = counter % 6;
                        counter++;
                        writeImage(dir, String.format("%s_%04d", names.get(k), j), kind, px, w, h);
                    }
                }
            }
            Files.writeString(root.resolve("train").resolve(names.get(0)).resolve("notes.txt"),
                    "not an image\n", StandardCharsets.UTF_8);
            if (corrupt) {
                Path bad = root.resolve("train").resolve(names.get(0)).resolve("zz_corrupt.jpg");
                Files.write(bad, "this is not a JPEG file, only text pretending to be one\n"
                        .getBytes(StandardCharsets.US_ASCII));
                corruptFiles.add(bad);
            }
        } catch (IOException e) {
            throw new DataException("cannot write synthetic image folder " + root + ": " + e, e);
        }
        return new ImageFolderFiles(root, names, classes * trainPerClass + corruptFiles.size(), classes * valPerClass,
                corruptFiles);
    }

    private static void writeImage(Path dir, String stem, int kind, float[] px, int w, int h) throws IOException {
        int plane = w * h;
        BufferedImage img;
        String format;
        String ext;
        switch (kind) {
            case 0, 1, 4 -> {
                boolean alpha = kind == 4;
                img = new BufferedImage(w, h, alpha ? BufferedImage.TYPE_INT_ARGB : BufferedImage.TYPE_INT_RGB);
                for (int y = 0; y < h; y++) {
                    for (int x = 0; x < w; x++) {
                        int i = y * w + x;
                        int rgb = (b(px[i]) << 16) | (b(px[plane + i]) << 8) | b(px[2 * plane + i]);
                        img.setRGB(x, y, alpha ? (0x80 << 24) | rgb : rgb);
                    }
                }
                format = kind == 1 ? "jpg" : "png";
                ext = kind == 1 ? ((w % 2 == 0) ? ".JPEG" : ".jpg") : ".png";
                if (kind == 1) {
                    BufferedImage bgr = new BufferedImage(w, h, BufferedImage.TYPE_3BYTE_BGR);
                    bgr.getGraphics().drawImage(img, 0, 0, null);
                    img = bgr;
                }
            }
            case 2, 3 -> {
                img = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_GRAY);
                byte[] data = ((java.awt.image.DataBufferByte) img.getRaster().getDataBuffer()).getData();
                for (int i = 0; i < plane; i++) {
                    data[i] = (byte) b((px[i] + px[plane + i] + px[2 * plane + i]) / 3f);
                }
                format = kind == 2 ? "png" : "jpg";
                ext = kind == 2 ? ".png" : ".jpeg";
            }
            default -> {
                byte[] r = new byte[16];
                byte[] g = new byte[16];
                byte[] bl = new byte[16];
                for (int i = 0; i < 16; i++) {
                    r[i] = (byte) (i * 17);
                    g[i] = (byte) (255 - i * 17);
                    bl[i] = (byte) ((i * 53) & 0xFF);
                }
                img = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_INDEXED, new IndexColorModel(8, 16, r, g, bl));
                byte[] data = ((java.awt.image.DataBufferByte) img.getRaster().getDataBuffer()).getData();
                for (int i = 0; i < plane; i++) {
                    data[i] = (byte) Math.min(15, (int) (px[i] * 16));
                }
                format = "png";
                ext = ".png";
            }
        }
        Path file = dir.resolve(stem + ext);
        if (!ImageIO.write(img, format, file.toFile())) {
            throw new IOException("no ImageIO writer for " + format);
        }
    }

    private static int b(float v) {
        return Math.max(0, Math.min(255, Math.round(v * 255f)));
    }
}
