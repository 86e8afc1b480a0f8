package io.basq4j.data;

/**
 * Bilinear resizing as Pillow does it ({@code Image.resize(size, BILINEAR)}, which torchvision's
 * Resize/RandomResizedCrop use on PIL images): a separable triangle filter whose support widens
 * with the downscaling factor (antialiasing), 22-bit fixed-point weights, horizontal pass first,
 * each pass rounded and clamped to 8 bits. Works directly on the byte array of an {@link RgbImage},
 * computing only the output window that is asked for (a center crop of a resize costs only the
 * crop).
 */
final class Resample {
    private static final int PRECISION_BITS = 32 - 8 - 2;
    private static final int HALF = 1 << (PRECISION_BITS - 1);

    private Resample() {}

    /** Filter taps for the outputs {@code [from, from+count)} of an axis resized from inSize to outSize. */
    static final class Coeffs {
        final int[] start; // first input index of each output; -1: output outside [0, outSize) (zero)
        final int[] len;
        final int[] k; // count * ksize fixed-point weights
        final int ksize;

        Coeffs(int count, int ksize) {
            this.start = new int[count];
            this.len = new int[count];
            this.k = new int[count * ksize];
            this.ksize = ksize;
        }
    }

    /** Pillow's precompute_coeffs (box [0, inSize]) followed by normalize_coeffs_8bpc. */
    static Coeffs coeffs(int inSize, int outSize, int from, int count) {
        double scale = (double) inSize / outSize;
        double filterscale = Math.max(scale, 1.0);
        double support = 1.0 * filterscale; // bilinear filter support is 1
        int ksize = (int) Math.ceil(support) * 2 + 1;
        Coeffs c = new Coeffs(count, ksize);
        double[] w = new double[ksize];
        double ss = 1.0 / filterscale;
        for (int i = 0; i < count; i++) {
            int xx = from + i;
            if (xx < 0 || xx >= outSize) {
                c.start[i] = -1;
                c.len[i] = 0;
                continue;
            }
            double center = (xx + 0.5) * scale;
            int xmin = (int) (center - support + 0.5); // C cast: truncation toward zero
            if (xmin < 0) {
                xmin = 0;
            }
            int xmax = (int) (center + support + 0.5);
            if (xmax > inSize) {
                xmax = inSize;
            }
            xmax -= xmin;
            double ww = 0.0;
            for (int x = 0; x < xmax; x++) {
                double t = Math.abs((x + xmin - center + 0.5) * ss);
                double v = t < 1.0 ? 1.0 - t : 0.0;
                w[x] = v;
                ww += v;
            }
            for (int x = 0; x < xmax; x++) {
                double v = ww != 0.0 ? w[x] / ww : w[x];
                c.k[i * ksize + x] = v < 0 ? (int) (-0.5 + v * (1 << PRECISION_BITS))
                        : (int) (0.5 + v * (1 << PRECISION_BITS));
            }
            c.start[i] = xmin;
            c.len[i] = xmax;
        }
        return c;
    }

    private static int clip8(int ss) {
        int v = ss >> PRECISION_BITS;
        return v < 0 ? 0 : (v > 255 ? 255 : v);
    }

    /**
     * Takes the box {@code (bx, by, bw, bh)} of {@code img}, resizes it to {@code outW x outH}, and
     * writes the window {@code (wx, wy, ww, wh)} of that resized image into {@code dst} at
     * {@code offset} as CHW floats through the per-channel lookup tables {@code lut[c][0..255]}
     * (pixels of the window outside the resized image are 0 before the lookup, as torchvision's
     * zero padding in CenterCrop). With {@code flip} the window is mirrored left to right.
     */
    static void resizeWindow(RgbImage img, int bx, int by, int bw, int bh, int outW, int outH, int wx, int wy,
            int ww, int wh, boolean flip, float[][] lut, float[] dst, int offset) {
        if (bx < 0 || by < 0 || bw <= 0 || bh <= 0 || bx + bw > img.width() || by + bh > img.height()) {
            throw new IllegalArgumentException("box " + bx + "," + by + " " + bw + "x" + bh + " outside image "
                    + img.width() + "x" + img.height());
        }
        Coeffs ch = coeffs(bw, outW, wx, ww);
        Coeffs cv = coeffs(bh, outH, wy, wh);
        int yFirst = Integer.MAX_VALUE;
        int yLast = Integer.MIN_VALUE;
        for (int i = 0; i < wh; i++) {
            if (cv.start[i] >= 0) {
                yFirst = Math.min(yFirst, cv.start[i]);
                yLast = Math.max(yLast, cv.start[i] + cv.len[i]);
            }
        }
        int plane = ww * wh;
        if (yFirst > yLast) { // window entirely outside the image
            for (int c = 0; c < 3; c++) {
                java.util.Arrays.fill(dst, offset + c * plane, offset + (c + 1) * plane, lut[c][0]);
            }
            return;
        }
        byte[] src = img.rgb();
        int srcW = img.width();
        int rows = yLast - yFirst;
        int[] tmp = new int[rows * ww * 3];
        // horizontal pass over the source rows the vertical pass needs
        int ksH = ch.ksize;
        for (int r = 0; r < rows; r++) {
            int rowBase = ((by + yFirst + r) * srcW + bx) * 3;
            int t = r * ww * 3;
            for (int j = 0; j < ww; j++, t += 3) {
                int len = ch.len[j];
                if (ch.start[j] < 0) {
                    continue; // zero
                }
                int p = rowBase + ch.start[j] * 3;
                int kb = j * ksH;
                int s0 = HALF;
                int s1 = HALF;
                int s2 = HALF;
                for (int x = 0; x < len; x++, p += 3) {
                    int k = ch.k[kb + x];
                    s0 += (src[p] & 0xFF) * k;
                    s1 += (src[p + 1] & 0xFF) * k;
                    s2 += (src[p + 2] & 0xFF) * k;
                }
                tmp[t] = clip8(s0);
                tmp[t + 1] = clip8(s1);
                tmp[t + 2] = clip8(s2);
            }
        }
        // vertical pass
        int ksV = cv.ksize;
        float[] l0 = lut[0];
        float[] l1 = lut[1];
        float[] l2 = lut[2];
        int o0 = offset;
        int o1 = offset + plane;
        int o2 = offset + 2 * plane;
        for (int i = 0; i < wh; i++) {
            int rowOut = i * ww;
            if (cv.start[i] < 0) {
                for (int j = 0; j < ww; j++) {
                    dst[o0 + rowOut + j] = l0[0];
                    dst[o1 + rowOut + j] = l1[0];
                    dst[o2 + rowOut + j] = l2[0];
                }
                continue;
            }
            int len = cv.len[i];
            int kb = i * ksV;
            int r0 = cv.start[i] - yFirst;
            for (int j = 0; j < ww; j++) {
                int s0 = HALF;
                int s1 = HALF;
                int s2 = HALF;
                int t = (r0 * ww + j) * 3;
                int stride = ww * 3;
                for (int y = 0; y < len; y++, t += stride) {
                    int k = cv.k[kb + y];
                    s0 += tmp[t] * k;
                    s1 += tmp[t + 1] * k;
                    s2 += tmp[t + 2] * k;
                }
                int col = rowOut + (flip ? ww - 1 - j : j);
                dst[o0 + col] = l0[clip8(s0)];
                dst[o1 + col] = l1[clip8(s1)];
                dst[o2 + col] = l2[clip8(s2)];
            }
        }
    }
}
