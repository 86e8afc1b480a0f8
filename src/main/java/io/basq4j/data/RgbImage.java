package io.basq4j.data;

import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.DataBufferByte;
import java.awt.image.PixelInterleavedSampleModel;
import java.awt.image.Raster;
import java.awt.image.SampleModel;
import java.awt.color.ColorSpace;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;

/**
 * An 8-bit RGB image, pixels interleaved row-major ({@code rgb[(y*width + x)*3 + c]}), as PIL's
 * {@code Image.convert("RGB")} gives it: grayscale is replicated (not gamma-converted), alpha is
 * dropped, palettes are looked up, CMYK is converted by Pillow's formula, embedded color
 * profiles are not applied.
 */
public record RgbImage(int width, int height, byte[] rgb) {
    /** Most pixels decoded from one file (twice Pillow's decompression-bomb warning size, where Pillow refuses). */
    public static final long MAX_PIXELS = 2L * 89_478_485;

    public RgbImage {
        if (width <= 0 || height <= 0 || rgb.length != width * height * 3) {
            throw new IllegalArgumentException("invalid RGB image " + width + "x" + height + " with " + rgb.length
                    + " bytes");
        }
    }

    /** A grey image ({@code grey[y*width + x]}) with its value replicated into R, G and B. */
    public static RgbImage grey(int width, int height, byte[] grey) {
        if (grey.length != width * height) {
            throw new IllegalArgumentException("grey image " + width + "x" + height + " with " + grey.length + " bytes");
        }
        byte[] rgb = new byte[grey.length * 3];
        for (int i = 0, o = 0; i < grey.length; i++) {
            rgb[o++] = grey[i];
            rgb[o++] = grey[i];
            rgb[o++] = grey[i];
        }
        return new RgbImage(width, height, rgb);
    }

    /** The sample of channel {@code c} at (x, y), 0..255. */
    public int get(int x, int y, int c) {
        return rgb[(y * width + x) * 3 + c] & 0xFF;
    }

    /**
     * Decodes a JPEG or PNG (any format javax.imageio reads) to RGB.
     *
     * @throws IOException if the file cannot be read or decoded (no reader, corrupt data)
     */
    public static RgbImage read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new IOException("not a file: " + file);
        }
        try (ImageInputStream in = ImageIO.createImageInputStream(file.toFile())) {
            if (in == null) {
                throw new IOException("cannot open " + file);
            }
            Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
            if (!readers.hasNext()) {
                throw new IOException("no image decoder recognizes " + file);
            }
            ImageReader reader = readers.next();
            try {
                reader.setInput(in, true, true);
                long pixels = (long) reader.getWidth(0) * reader.getHeight(0);
                if (pixels > MAX_PIXELS) {
                    throw new IOException("image " + file + " declares " + reader.getWidth(0) + " x "
                            + reader.getHeight(0) + " pixels, more than the " + MAX_PIXELS
                            + " accepted (a decompression bomb?)");
                }
                List<String> warnings = new ArrayList<>();
                reader.addIIOReadWarningListener((source, message) -> warnings.add(message));
                BufferedImage img = reader.read(0, reader.getDefaultReadParam());
                for (String w : warnings) {
                    String lw = w.toLowerCase(java.util.Locale.ROOT);
                    // Pillow refuses truncated files too ("image file is truncated"); other decoder
                    // warnings (extraneous bytes before a marker, ...) are tolerated as Pillow does
                    if (lw.contains("truncated") || lw.contains("premature end")) {
                        throw new IOException("truncated image " + file + ": " + w);
                    }
                }
                return of(img);
            } catch (RuntimeException e) {
                // some decoders throw unchecked exceptions on corrupt data
                throw new IOException("cannot decode " + file + ": " + e, e);
            } finally {
                reader.dispose();
            }
        }
    }

    /** Converts a decoded image to RGB (see the class comment for the conversion rules). */
    public static RgbImage of(BufferedImage img) {
        int w = img.getWidth();
        int h = img.getHeight();
        byte[] out = new byte[w * h * 3];
        Raster raster = img.getRaster();
        ColorModel cm = img.getColorModel();
        SampleModel sm = raster.getSampleModel();
        int csType = cm.getColorSpace().getType();
        if (cm instanceof ComponentColorModel && (csType == ColorSpace.TYPE_RGB || csType == ColorSpace.TYPE_GRAY)) {
            int colorBands = csType == ColorSpace.TYPE_RGB ? 3 : 1;
            if (raster.getDataBuffer() instanceof DataBufferByte db && sm instanceof PixelInterleavedSampleModel pism
                    && db.getNumBanks() == 1 && raster.getMinX() == 0 && raster.getMinY() == 0) {
                copyInterleavedBytes(db, pism, raster, colorBands, w, h, out);
            } else {
                copySamples(raster, sm, colorBands, w, h, out);
            }
        } else if (csType == ColorSpace.TYPE_CMYK && raster.getNumBands() == 4 && sm.getSampleSize(0) == 8) {
            copyCmyk(raster, w, h, out);
        } else {
            int[] argb = img.getRGB(0, 0, w, h, null, 0, w);
            for (int i = 0, o = 0; i < argb.length; i++) {
                int p = argb[i];
                out[o++] = (byte) (p >>> 16);
                out[o++] = (byte) (p >>> 8);
                out[o++] = (byte) p;
            }
        }
        return new RgbImage(w, h, out);
    }

    private static void copyInterleavedBytes(DataBufferByte db, PixelInterleavedSampleModel sm, Raster raster,
            int colorBands, int w, int h, byte[] out) {
        byte[] data = db.getData(0);
        int[] bandOffsets = sm.getBandOffsets();
        int pixelStride = sm.getPixelStride();
        int scanline = sm.getScanlineStride();
        int base = db.getOffset() - raster.getSampleModelTranslateY() * scanline
                - raster.getSampleModelTranslateX() * pixelStride;
        int o = 0;
        if (colorBands == 1) {
            int b0 = bandOffsets[0];
            for (int y = 0; y < h; y++) {
                int p = base + y * scanline + b0;
                for (int x = 0; x < w; x++, p += pixelStride) {
                    byte v = data[p];
                    out[o++] = v;
                    out[o++] = v;
                    out[o++] = v;
                }
            }
        } else {
            int r = bandOffsets[0];
            int g = bandOffsets[1];
            int b = bandOffsets[2];
            for (int y = 0; y < h; y++) {
                int p = base + y * scanline;
                for (int x = 0; x < w; x++, p += pixelStride) {
                    out[o++] = data[p + r];
                    out[o++] = data[p + g];
                    out[o++] = data[p + b];
                }
            }
        }
    }

    /**
     * CMYK (as javax.imageio decodes CMYK JPEGs: samples not inverted) converted as Pillow's
     * {@code cmyk2rgb}: {@code R = (255-K) - C*(255-K)/255}, no color profile.
     */
    private static void copyCmyk(Raster raster, int w, int h, byte[] out) {
        int[] row = new int[w * 4];
        int o = 0;
        for (int y = 0; y < h; y++) {
            raster.getPixels(raster.getMinX(), raster.getMinY() + y, w, 1, row);
            for (int x = 0; x < w; x++) {
                int nk = 255 - row[x * 4 + 3];
                for (int c = 0; c < 3; c++) {
                    int tmp = row[x * 4 + c] * nk + 128;
                    out[o++] = (byte) (nk - ((tmp + (tmp >> 8)) >> 8));
                }
            }
        }
    }

    /** Any other component layout (16-bit samples, banded rasters): samples scaled to 8 bits. */
    private static void copySamples(Raster raster, SampleModel sm, int colorBands, int w, int h, byte[] out) {
        int[] row = new int[w];
        int x0 = raster.getMinX();
        int y0 = raster.getMinY();
        for (int c = 0; c < 3; c++) {
            int band = colorBands == 1 ? 0 : c;
            int bits = sm.getSampleSize(band);
            int shift = Math.max(0, bits - 8);
            boolean floatType = sm.getDataType() == DataBuffer.TYPE_FLOAT || sm.getDataType() == DataBuffer.TYPE_DOUBLE;
            for (int y = 0; y < h; y++) {
                if (floatType) {
                    float[] f = raster.getSamples(x0, y0 + y, w, 1, band, (float[]) null);
                    for (int x = 0; x < w; x++) {
                        row[x] = Math.round(Math.max(0f, Math.min(1f, f[x])) * 255f);
                    }
                } else {
                    raster.getSamples(x0, y0 + y, w, 1, band, row);
                    if (shift > 0) {
                        for (int x = 0; x < w; x++) {
                            row[x] >>>= shift;
                        }
                    } else if (bits < 8) {
                        int max = (1 << bits) - 1;
                        for (int x = 0; x < w; x++) {
                            row[x] = (row[x] * 255 + max / 2) / max;
                        }
                    }
                }
                int o = y * w * 3 + c;
                for (int x = 0; x < w; x++, o += 3) {
                    out[o] = (byte) row[x];
                }
            }
        }
    }
}
