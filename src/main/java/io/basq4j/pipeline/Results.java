package io.basq4j.pipeline;

import io.basq4j.io.AtomicFiles;
import io.basq4j.io.JsonFiles;
import io.basq4j.search.KFoldSearch;
import io.basq4j.train.Finetuning;
import io.basq4j.train.RunConfig;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import javax.imageio.ImageIO;

/** The run's machine-readable results ({@code results.json}) and its chart ({@code results.png}). */
public final class Results {
    public static final String JSON_FILE = "results.json";
    public static final String CHART_FILE = "results.png";

    private Results() {
    }

    /** Writes results.json; any part may be null when its step did not run in this process. */
    public static Map<String, Object> write(Path runDir, RunConfig c, List<double[]> curve,
            KFoldSearch.Result search, FinetuneStep.Result finetune, Map<String, Double> timings) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("configuration", c);
        List<Map<String, Object>> folds = new ArrayList<>();
        if (search != null) {
            for (int f = 0; f < search.archs().size(); f++) {
                Map<String, Object> fm = new LinkedHashMap<>();
                fm.put("fold", f);
                fm.put("architecture", search.archs().get(f));
                fm.put("fold_acc", search.foldAccs().get(f));
                fm.put("full_acc", search.fullAccs().get(f));
                if (finetune != null && f < finetune.folds().size()) {
                    Finetuning.FoldResult r = finetune.folds().get(f);
                    fm.put("full_acc_before_finetune", r.before());
                    fm.put("full_acc_per_epoch", r.perEpoch());
                    fm.put("finetuned_acc", r.best());
                }
                folds.add(fm);
            }
        }
        m.put("folds", folds);
        if (finetune != null) {
            m.put("mean_finetuned_acc", finetune.mean());
        }
        if (search != null) {
            m.put("mean_full_acc", search.fullAccs().stream().mapToDouble(Double::doubleValue).average().orElse(0));
        }
        m.put("timings_seconds", timings);
        if (curve != null) {
            List<Map<String, Double>> pts = new ArrayList<>();
            for (double[] p : curve) {
                pts.add(Map.of("step", p[0], "loss", p[1], "lr", p[2]));
            }
            m.put("training_curve", pts);
        }
        JsonFiles.writeAtomically(runDir.resolve(JSON_FILE), m);
        return m;
    }

    /** Draws the training curve and the per-fold accuracies into results.png. */
    public static void chart(Path runDir, List<double[]> curve, KFoldSearch.Result search,
            FinetuneStep.Result finetune) {
        int w = 1200;
        int h = 450;
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, w, h);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
        drawCurve(g, curve, 60, 40, 500, 350);
        drawFolds(g, search, finetune, 660, 40, 500, 350);
        g.dispose();
        Path file = runDir.resolve(CHART_FILE);
        AtomicFiles.write(file, out -> {
            if (!ImageIO.write(img, "png", out)) {
                throw new IOException("no PNG writer");
            }
        });
    }

    private static void axes(Graphics2D g, int x, int y, int w, int h, String title) {
        g.setColor(Color.BLACK);
        g.drawRect(x, y, w, h);
        g.drawString(title, x, y - 10);
    }

    private static void drawCurve(Graphics2D g, List<double[]> curve, int x, int y, int w, int h) {
        axes(g, x, y, w, h, "supernet training loss (phase a, then b)");
        if (curve == null || curve.size() < 2) {
            g.drawString("no training curve in this run", x + 20, y + h / 2);
            return;
        }
        double maxStep = curve.get(curve.size() - 1)[0];
        double lo = Double.MAX_VALUE;
        double hi = -Double.MAX_VALUE;
        for (double[] p : curve) {
            lo = Math.min(lo, p[1]);
            hi = Math.max(hi, p[1]);
        }
        if (hi - lo < 1e-9) {
            hi = lo + 1;
        }
        g.setColor(new Color(30, 90, 200));
        g.setStroke(new BasicStroke(2f));
        for (int i = 1; i < curve.size(); i++) {
            double[] a = curve.get(i - 1);
            double[] b = curve.get(i);
            g.drawLine(x + (int) (a[0] / maxStep * w), y + h - (int) ((a[1] - lo) / (hi - lo) * h),
                    x + (int) (b[0] / maxStep * w), y + h - (int) ((b[1] - lo) / (hi - lo) * h));
        }
        g.setColor(Color.BLACK);
        g.drawString(String.format(Locale.ROOT, "%.3f", hi), x - 50, y + 12);
        g.drawString(String.format(Locale.ROOT, "%.3f", lo), x - 50, y + h);
        g.drawString("step " + (long) maxStep, x + w - 80, y + h + 18);
    }

    private static void drawFolds(Graphics2D g, KFoldSearch.Result s, FinetuneStep.Result ft, int x, int y, int w,
            int h) {
        axes(g, x, y, w, h, "per fold: fold acc (grey), full acc (blue), finetuned (green)");
        if (s == null || s.archs().isEmpty()) {
            g.drawString("no search result in this run", x + 20, y + h / 2);
            return;
        }
        int k = s.archs().size();
        double lo = 100;
        double hi = 0;
        for (int f = 0; f < k; f++) {
            lo = Math.min(lo, Math.min(s.foldAccs().get(f), s.fullAccs().get(f)));
            hi = Math.max(hi, Math.max(s.foldAccs().get(f), s.fullAccs().get(f)));
            if (ft != null && f < ft.folds().size()) {
                hi = Math.max(hi, ft.folds().get(f).best());
            }
        }
        lo = Math.max(0, Math.floor(lo - 2));
        hi = Math.min(100, Math.ceil(hi + 1));
        double span = Math.max(1e-9, hi - lo);
        int slot = w / k;
        int bar = Math.max(2, slot / 4);
        for (int f = 0; f < k; f++) {
            double[] vals = {s.foldAccs().get(f), s.fullAccs().get(f),
                ft != null && f < ft.folds().size() ? ft.folds().get(f).best() : Double.NaN};
            Color[] cols = {Color.GRAY, new Color(30, 90, 200), new Color(40, 160, 60)};
            for (int j = 0; j < 3; j++) {
                if (Double.isNaN(vals[j])) {
                    continue;
                }
                int bh = (int) ((vals[j] - lo) / span * h);
                g.setColor(cols[j]);
                g.fillRect(x + f * slot + slot / 8 + j * bar, y + h - bh, bar - 1, bh);
            }
            g.setColor(Color.BLACK);
            g.drawString(Integer.toString(f), x + f * slot + slot / 2 - 4, y + h + 16);
        }
        g.drawString(String.format(Locale.ROOT, "%.1f%%", hi), x - 55, y + 12);
        g.drawString(String.format(Locale.ROOT, "%.1f%%", lo), x - 55, y + h);
    }
}
