package io.basq4j.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.util.Arrays;

/**
 * How an image of any size becomes a network's input: the evaluation transform of the data a
 * network was trained on, written down so that a saved model carries it.
 *
 * <ol>
 *   <li>colour: the image decoded as {@link RgbImage} (grey replicated, alpha dropped, palettes
 *       looked up); with {@code channels == 1} converted to grey by Pillow's {@code convert("L")}
 *       (ITU-R 601-2 luma, {@code L = (19595 R + 38470 G + 7471 B + 2^15) >> 16}, exact for grey
 *       pixels); with {@code channels == 3} kept as RGB;
 *   <li>{@code resize > 0}: the shorter side resized to {@code resize} pixels, the longer side in
 *       proportion (torchvision's {@code Resize(int)}, Pillow's antialiased bilinear filter);
 *   <li>a centred {@code crop x crop} window (torchvision's {@code CenterCrop}, zero where the
 *       image is smaller);
 *   <li>{@code pad} zero pixels on every side;
 *   <li>{@code (v / 255 - mean[c]) / std[c]} per channel.
 * </ol>
 *
 * The input is {@code channels x size() x size()} with {@code size() = crop + 2 * pad}.
 * Fashion-MNIST's rule is grey, resize 28, crop 28, pad 2, its mean and std: an image of 28 x 28
 * gives exactly the tensor the training data loader gives. An image folder's rule is RGB, resize
 * {@code round(crop * 256 / 224)}, crop, pad 0, ImageNet's mean and std.
 */
public final class Preprocessing {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final int channels;
    private final int resize;
    private final int crop;
    private final int pad;
    private final float[] mean;
    private final float[] std;
    private final float[][] lut; // lookup(mean, std), computed once per rule

    public Preprocessing(int channels, int resize, int crop, int pad, float[] mean, float[] std) {
        if (channels != 1 && channels != 3) {
            throw new IllegalArgumentException("preprocessing makes 1-channel (grey) or 3-channel (RGB) input, not "
                    + channels);
        }
        if (resize < 0 || crop < 1 || pad < 0) {
            throw new IllegalArgumentException("preprocessing sizes must satisfy resize >= 0, crop >= 1, pad >= 0 (got "
                    + resize + ", " + crop + ", " + pad + ")");
        }
        if (mean == null || std == null || mean.length != channels || std.length != channels) {
            throw new IllegalArgumentException("preprocessing needs " + channels + " mean and std values");
        }
        for (int c = 0; c < channels; c++) {
            if (!Float.isFinite(mean[c]) || !(std[c] > 0) || !Float.isFinite(std[c])) {
                throw new IllegalArgumentException("preprocessing mean " + mean[c] + " / std " + std[c]
                        + " must be finite with std > 0");
            }
        }
        this.channels = channels;
        this.resize = resize;
        this.crop = crop;
        this.pad = pad;
        this.mean = mean.clone();
        this.std = std.clone();
        this.lut = lookup(this.mean, this.std);
    }

    /** 1 (grey) or 3 (RGB). */
    public int channels() {
        return channels;
    }

    /** The shorter side before the centre crop; 0: no resize. */
    public int resize() {
        return resize;
    }

    /** The side of the centred window. */
    public int crop() {
        return crop;
    }

    /** Zero pixels added on every side of the window. */
    public int pad() {
        return pad;
    }

    /** The side of the square input: {@code crop + 2 * pad}. */
    public int size() {
        return crop + 2 * pad;
    }

    /** Floats per preprocessed image: {@code channels * size * size}. */
    public int inputSize() {
        return channels * size() * size();
    }

    /** "grey" or "rgb". */
    public String color() {
        return channels == 1 ? "grey" : "rgb";
    }

    /** Per-channel mean (a copy). */
    public float[] mean() {
        return mean.clone();
    }

    /** Per-channel standard deviation (a copy). */
    public float[] std() {
        return std.clone();
    }

    /**
     * The normalized value {@code (v / 255 - mean[k]) / std[k]} of each 8-bit level {@code v}, for
     * the channels {@code c = 0, 1, 2} with {@code k = min(c, mean.length - 1)} (a grey rule's
     * value in all three): the tables the data sets and {@link Resample} use.
     */
    static float[][] lookup(float[] mean, float[] std) {
        float[][] lut = new float[3][256];
        for (int c = 0; c < 3; c++) {
            int k = Math.min(c, mean.length - 1);
            for (int v = 0; v < 256; v++) {
                lut[c][v] = (v / 255f - mean[k]) / std[k];
            }
        }
        return lut;
    }

    /** Preprocesses {@code img} into {@code dst[offset .. offset + inputSize())}, CHW. */
    public void apply(RgbImage img, float[] dst, int offset) {
        // grey: the luma comes before the resize (Pillow converts, then resizes with 8-bit rounding
        // after each pass); Resample reads RGB, so the luma is replicated into three channels
        RgbImage src = channels == 1 ? greyAsRgb(img) : img;
        int side = size();
        if (channels == 3 && pad == 0) {
            ImageFolder.evalWindow(src, resize, crop, lut, dst, offset);
            return;
        }
        float[] window = new float[3 * crop * crop];
        ImageFolder.evalWindow(src, resize, crop, lut, window, 0);
        int plane = crop * crop;
        for (int c = 0; c < channels; c++) {
            int o = offset + c * side * side;
            float border = lut[c][0];
            for (int y = 0; y < side; y++) {
                int sy = y - pad;
                for (int x = 0; x < side; x++) {
                    int sx = x - pad;
                    dst[o++] = sy < 0 || sy >= crop || sx < 0 || sx >= crop ? border
                            : window[c * plane + sy * crop + sx];
                }
            }
        }
    }

    /** {@link #apply(RgbImage, float[], int)} into a new array. */
    public float[] apply(RgbImage img) {
        float[] out = new float[inputSize()];
        apply(img, out, 0);
        return out;
    }

    /** Pillow's {@code convert("L")}, kept as an RGB image with three equal channels. */
    static RgbImage greyAsRgb(RgbImage img) {
        byte[] rgb = img.rgb();
        byte[] out = new byte[rgb.length];
        for (int i = 0; i < rgb.length; i += 3) {
            int l = ((rgb[i] & 0xFF) * 19595 + (rgb[i + 1] & 0xFF) * 38470 + (rgb[i + 2] & 0xFF) * 7471 + 0x8000) >> 16;
            out[i] = (byte) l;
            out[i + 1] = (byte) l;
            out[i + 2] = (byte) l;
        }
        return new RgbImage(img.width(), img.height(), out);
    }

    // ------------------------------------------------------------------ as JSON (model metadata)

    /** {@code {"color": "grey", "resize": 28, "crop": 28, "pad": 2, "mean": [...], "std": [...]}}. */
    public String toJson() {
        ObjectNode o = JSON.createObjectNode();
        o.put("color", color());
        o.put("resize", resize);
        o.put("crop", crop);
        o.put("pad", pad);
        ArrayNode m = o.putArray("mean");
        ArrayNode s = o.putArray("std");
        for (int c = 0; c < channels; c++) {
            m.add(mean[c]);
            s.add(std[c]);
        }
        return o.toString();
    }

    /** Parses {@link #toJson()}; throws IllegalArgumentException saying what is wrong. */
    public static Preprocessing fromJson(String json) {
        JsonNode o;
        try {
            o = JSON.readTree(json == null ? "" : json);
        } catch (IOException e) {
            throw new IllegalArgumentException("preprocessing is not JSON: " + json);
        }
        if (o == null || !o.isObject()) {
            throw new IllegalArgumentException("preprocessing is not a JSON object: " + json);
        }
        String color = o.path("color").asText("");
        int channels = switch (color) {
            case "grey" -> 1;
            case "rgb" -> 3;
            default -> throw new IllegalArgumentException("preprocessing color '" + color + "' (valid: grey, rgb)");
        };
        return new Preprocessing(channels, intField(o, "resize"), intField(o, "crop"), intField(o, "pad"),
                floats(o, "mean"), floats(o, "std"));
    }

    private static int intField(JsonNode o, String name) {
        JsonNode v = o.get(name);
        if (v == null || !v.canConvertToInt() || !v.isIntegralNumber()) {
            throw new IllegalArgumentException("preprocessing " + name + " is not an integer: " + v);
        }
        return v.intValue();
    }

    private static float[] floats(JsonNode o, String name) {
        JsonNode v = o.get(name);
        if (v == null || !v.isArray()) {
            throw new IllegalArgumentException("preprocessing " + name + " is not an array: " + v);
        }
        float[] out = new float[v.size()];
        for (int i = 0; i < out.length; i++) {
            if (!v.get(i).isNumber()) {
                throw new IllegalArgumentException("preprocessing " + name + " holds a non-number: " + v);
            }
            out[i] = v.get(i).floatValue();
        }
        return out;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Preprocessing p && p.channels == channels && p.resize == resize && p.crop == crop
                && p.pad == pad && Arrays.equals(p.mean, mean) && Arrays.equals(p.std, std);
    }

    @Override
    public int hashCode() {
        return toJson().hashCode();
    }

    @Override
    public String toString() {
        return "Preprocessing" + toJson();
    }
}
