package io.basq4j.chart;

import io.basq4j.io.AtomicFiles;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.Rectangle;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.jfree.chart.JFreeChart;

/** PNG output of JFreeChart charts: several charts side by side in one image, written atomically. */
public final class Charts {
    static {
        // charts are drawn off-screen; no display is needed (or used)
        if (System.getProperty("java.awt.headless") == null) {
            System.setProperty("java.awt.headless", "true");
        }
    }

    private Charts() {
    }

    /** Draws {@code charts} left to right, each {@code width x height} pixels, into one image. */
    public static BufferedImage render(int width, int height, JFreeChart... charts) {
        BufferedImage img = new BufferedImage(width * charts.length, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, img.getWidth(), img.getHeight());
            for (int i = 0; i < charts.length; i++) {
                charts[i].draw(g, new Rectangle(i * width, 0, width, height));
            }
        } finally {
            g.dispose();
        }
        return img;
    }

    /** {@link #render} written to {@code file} as PNG, through a temporary file and a rename. */
    public static void writePng(Path file, int width, int height, JFreeChart... charts) {
        BufferedImage img = render(width, height, charts);
        AtomicFiles.write(file, out -> {
            if (!ImageIO.write(img, "png", out)) {
                throw new IOException("no PNG writer");
            }
        });
    }
}
