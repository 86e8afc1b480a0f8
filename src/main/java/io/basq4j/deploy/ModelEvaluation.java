package io.basq4j.deploy;

import io.basq4j.chart.Charts;
import io.basq4j.data.DataException;
import io.basq4j.data.Dataset;
import io.basq4j.io.JsonFiles;
import io.basq4j.train.Accuracy;
import java.awt.Color;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.IntStream;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.AxisLocation;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.axis.SymbolAxis;
import org.jfree.chart.plot.CategoryPlot;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.LookupPaintScale;
import org.jfree.chart.renderer.category.BarRenderer;
import org.jfree.chart.renderer.category.StandardBarPainter;
import org.jfree.chart.renderer.xy.XYBlockRenderer;
import org.jfree.chart.title.PaintScaleLegend;
import org.jfree.chart.ui.RectangleEdge;
import org.jfree.data.category.DefaultCategoryDataset;
import org.jfree.data.xy.DefaultXYZDataset;

/**
 * A classifier measured on labelled data: top-1 and top-5 accuracy, per-class accuracy and the
 * confusion matrix, through {@link Classifier#logits(float[], int)} (so through the same executor
 * as every prediction). Written as {@code evaluation.json} and {@code evaluation.png}.
 *
 * <p>Accuracy is {@code 100 * correct / examples}; a prediction is the first class of the largest
 * logit (ties count against the label, as in the search and finetuning). Examples whose image
 * cannot be read are left out and listed.
 */
public final class ModelEvaluation {
    public static final String JSON_FILE = "evaluation.json";
    public static final String CHART_FILE = "evaluation.png";

    /**
     * What an evaluation measured. {@code confusion[t][p]} counts examples of label {@code t}
     * predicted as {@code p}; {@code topK} is the k of the top-k count (5, or the class count when
     * smaller).
     */
    public record Report(String model, String data, List<String> classNames, long examples, long top1Correct,
            int topK, long topKCorrect, long[][] confusion, List<String> unreadable) {

        /** Top-1 accuracy in percent. */
        public double top1() {
            return percent(top1Correct, examples);
        }

        /** Top-k accuracy (k = {@link #topK()}) in percent. */
        public double top5() {
            return percent(topKCorrect, examples);
        }

        /** Examples of each label. */
        public long[] perClassCount() {
            long[] n = new long[confusion.length];
            for (int t = 0; t < n.length; t++) {
                for (long v : confusion[t]) {
                    n[t] += v;
                }
            }
            return n;
        }

        /** Accuracy of each label in percent (NaN for a label without examples). */
        public double[] perClassAccuracy() {
            long[] n = perClassCount();
            double[] a = new double[n.length];
            for (int t = 0; t < n.length; t++) {
                a[t] = n[t] == 0 ? Double.NaN : percent(confusion[t][t], n[t]);
            }
            return a;
        }
    }

    private ModelEvaluation() {
    }

    static double percent(long correct, long total) {
        return 100.0 * correct / Math.max(1, total);
    }

    /**
     * Evaluates {@code c} on every example of {@code data} (in order, batches of {@code batch},
     * images decoded in parallel); {@code progress} gets a line per tenth of the data and one per
     * unreadable image.
     */
    public static Report run(Classifier c, Dataset data, int batch, Consumer<String> progress) {
        if (batch < 1) {
            throw new IllegalArgumentException("batch " + batch + " is outside [1, 2147483647]");
        }
        int[] shape = c.inputShape();
        if (data.channels() != shape[0] || data.height() != shape[1] || data.width() != shape[2]) {
            throw new IllegalArgumentException("the data gives " + data.channels() + "x" + data.height() + "x"
                    + data.width() + " inputs but the model takes " + shape[0] + "x" + shape[1] + "x" + shape[2]);
        }
        int classes = c.classes();
        int k = Math.min(5, classes);
        int per = data.exampleSize();
        long[][] confusion = new long[classes][classes];
        long top1 = 0;
        long topk = 0;
        long total = 0;
        List<String> unreadable = Collections.synchronizedList(new ArrayList<>());
        int n = data.size();
        int nextReport = 1;
        for (int start = 0; start < n; start += batch) {
            int m = Math.min(batch, n - start);
            float[] x = new float[m * per];
            long[] labels = new long[m];
            boolean[] ok = new boolean[m];
            int first = start;
            IntStream.range(0, m).parallel().forEach(i -> {
                try {
                    labels[i] = data.load(first + i, x, i * per, null);
                    ok[i] = true;
                } catch (DataException e) {
                    unreadable.add(e.getMessage());
                    progress.accept(e.getMessage() + " (left out)");
                }
            });
            int kept = 0;
            for (int i = 0; i < m; i++) {
                if (ok[i]) {
                    if (kept != i) {
                        System.arraycopy(x, i * per, x, kept * per, per);
                        labels[kept] = labels[i];
                    }
                    kept++;
                }
            }
            if (kept == 0) {
                continue;
            }
            float[] xs = kept == m ? x : java.util.Arrays.copyOf(x, kept * per);
            long[] ls = kept == m ? labels : java.util.Arrays.copyOf(labels, kept);
            for (long t : ls) {
                if (t < 0 || t >= classes) {
                    throw new IllegalArgumentException("label " + t + " outside the model's " + classes + " classes");
                }
            }
            float[] logits = c.logits(xs, kept);
            top1 += Accuracy.correctTopK(logits, ls, kept, classes, 1);
            topk += Accuracy.correctTopK(logits, ls, kept, classes, k);
            for (int i = 0; i < kept; i++) {
                confusion[(int) ls[i]][argmax(logits, i * classes, classes)]++;
            }
            total += kept;
            if ((long) (start + m) * 10 >= (long) nextReport * n && start + m < n) {
                progress.accept(String.format(java.util.Locale.ROOT, "evaluated %d/%d  top-1 so far %.2f%%",
                        start + m, n, percent(top1, total)));
                nextReport = (int) ((long) (start + m) * 10 / n) + 1;
            }
        }
        return new Report(c.model().path().toString(), data.describe(), c.classNames(), total, top1, k, topk,
                confusion, List.copyOf(unreadable));
    }

    /** The first index of the largest value of a row (the prediction; consistent with {@link Accuracy}). */
    public static int argmax(float[] logits, int offset, int classes) {
        int best = 0;
        for (int j = 1; j < classes; j++) {
            if (logits[offset + j] > logits[offset + best]) {
                best = j;
            }
        }
        return best;
    }

    /** The JSON form of a report. */
    public static Map<String, Object> toJson(Report r) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", r.model());
        m.put("data", r.data());
        m.put("examples", r.examples());
        m.put("top1", r.top1());
        m.put("top" + r.topK(), r.top5());
        List<Map<String, Object>> pc = new ArrayList<>();
        long[] counts = r.perClassCount();
        double[] acc = r.perClassAccuracy();
        for (int t = 0; t < counts.length; t++) {
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("class", t);
            e.put("name", r.classNames().get(t));
            e.put("examples", counts[t]);
            e.put("accuracy", Double.isNaN(acc[t]) ? null : acc[t]);
            pc.add(e);
        }
        m.put("per_class", pc);
        m.put("confusion_matrix_note", "rows: true class, columns: predicted class, in class order");
        m.put("confusion_matrix", r.confusion());
        m.put("unreadable", r.unreadable());
        return m;
    }

    /**
     * Writes {@code evaluation.json} and {@code evaluation.png} into {@code dir} (created when
     * missing); each is written whole or not at all.
     */
    public static void write(Report r, Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + dir + ": " + e.getMessage(), e);
        }
        JFreeChart[] charts = {confusionChart(r), perClassChart(r)};
        Charts.writePng(dir.resolve(CHART_FILE), 720, 600, charts);
        JsonFiles.writeAtomically(dir.resolve(JSON_FILE), toJson(r));
    }

    static JFreeChart confusionChart(Report r) {
        int k = r.classNames().size();
        long[] counts = r.perClassCount();
        double[] xs = new double[k * k];
        double[] ys = new double[k * k];
        double[] zs = new double[k * k];
        for (int t = 0; t < k; t++) {
            for (int p = 0; p < k; p++) {
                int i = t * k + p;
                xs[i] = p;
                ys[i] = t;
                zs[i] = counts[t] == 0 ? 0 : 100.0 * r.confusion()[t][p] / counts[t];
            }
        }
        DefaultXYZDataset d = new DefaultXYZDataset();
        d.addSeries("share of the true class (%)", new double[][] {xs, ys, zs});
        String[] names = r.classNames().toArray(new String[0]);
        SymbolAxis x = new SymbolAxis("predicted class", names);
        SymbolAxis y = new SymbolAxis("true class", names);
        x.setVerticalTickLabels(true);
        y.setInverted(true);
        XYBlockRenderer renderer = new XYBlockRenderer();
        LookupPaintScale scale = new LookupPaintScale(0, 100.0001, Color.WHITE);
        for (int s = 0; s < 20; s++) {
            double v = s * 5.0;
            // white through blue, by share of the class
            float f = (float) Math.pow(s / 19.0, 0.6);
            scale.add(v, new Color(1f - 0.85f * f, 1f - 0.6f * f, 1f - 0.2f * f));
        }
        renderer.setPaintScale(scale);
        XYPlot plot = new XYPlot(d, x, y, renderer);
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinesVisible(false);
        plot.setRangeGridlinesVisible(false);
        JFreeChart chart = new JFreeChart(String.format(java.util.Locale.ROOT,
                "Confusion matrix (%d examples, top-1 %.2f%%)", r.examples(), r.top1()), JFreeChart.DEFAULT_TITLE_FONT,
                plot, false);
        NumberAxis legendAxis = new NumberAxis("share of the true class (%)");
        legendAxis.setRange(0, 100);
        PaintScaleLegend legend = new PaintScaleLegend(scale, legendAxis);
        legend.setPosition(RectangleEdge.RIGHT);
        legend.setAxisLocation(AxisLocation.TOP_OR_RIGHT);
        legend.setMargin(4, 4, 40, 4);
        legend.setStripWidth(14);
        chart.addSubtitle(legend);
        chart.setBackgroundPaint(Color.WHITE);
        return chart;
    }

    static JFreeChart perClassChart(Report r) {
        DefaultCategoryDataset d = new DefaultCategoryDataset();
        double[] acc = r.perClassAccuracy();
        for (int t = 0; t < acc.length; t++) {
            d.addValue(Double.isNaN(acc[t]) ? null : acc[t], "top-1 accuracy of the class",
                    t + " " + r.classNames().get(t));
        }
        JFreeChart chart = ChartFactory.createBarChart(String.format(java.util.Locale.ROOT,
                "Per-class accuracy (top-1 %.2f%%, top-%d %.2f%%)", r.top1(), r.topK(), r.top5()), "class",
                "accuracy (%)", d, PlotOrientation.HORIZONTAL, true, false, false);
        CategoryPlot plot = chart.getCategoryPlot();
        plot.setBackgroundPaint(Color.WHITE);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        ((NumberAxis) plot.getRangeAxis()).setRange(0, 100);
        BarRenderer br = (BarRenderer) plot.getRenderer();
        br.setBarPainter(new StandardBarPainter());
        br.setShadowVisible(false);
        br.setSeriesPaint(0, new Color(30, 90, 200));
        chart.setBackgroundPaint(Color.WHITE);
        return chart;
    }
}
