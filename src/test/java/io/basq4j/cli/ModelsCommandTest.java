package io.basq4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class ModelsCommandTest {
    @Test
    void resnet20Table() {
        Object[] r = CliRun.main("models", "--arch", "resnet20", "--width", "0.5", "--resolution", "32",
                "--classes", "10", "--branches", "3");
        assertEquals(0, r[0], (String) r[2]);
        List<String> lines = ((String) r[1]).lines().toList();
        assertTrue(lines.get(0).startsWith("resnet20 supernet: width 0.5"), lines.get(0));
        assertTrue(lines.get(1).matches("index\\s+kind\\s+in\\s+out\\s+stride\\s+expansion\\s+hidden\\s+parameters"
                + "\\s+searched\\s+size"), lines.get(1));
        // stem, 9 basic blocks, classifier, totals
        assertEquals(2 + 1 + 9 + 1 + 1, lines.size(), r[1].toString());
        long sum = 0;
        int searched = 0;
        for (String row : lines.subList(2, lines.size() - 1)) {
            String[] f = row.trim().split("\\s+");
            sum += Long.parseLong(f[7]);
            searched += Integer.parseInt(f[8]);
        }
        String total = lines.get(lines.size() - 1);
        assertTrue(total.startsWith("total: " + sum + " parameters"), total + " vs " + sum);
        assertEquals(18, searched);
        assertTrue(total.contains("18 searched units") && total.endsWith("output 8x8"), total);
        String[] block4 = lines.get(2 + 4).trim().split("\\s+");
        assertEquals(List.of("4", "basic", "8", "16", "2"), List.of(block4).subList(0, 5));
    }

    @Test
    void mobilenetDefaults() {
        Object[] r = CliRun.main("models");
        assertEquals(0, r[0], (String) r[2]);
        String out = (String) r[1];
        assertTrue(out.contains("mobilenetv2 supernet: width 1.0, divisor 8, input 3x224x224, 1000 classes, 2 bits, "
                + "7 branches"), out);
        assertTrue(out.contains("17 searched units, output 7x7"), out);
        String row2 = out.lines().filter(l -> l.startsWith("2 ")).findFirst().orElseThrow();
        assertEquals(List.of("2", "inverted-residual", "16", "24", "2", "6", "96"),
                List.of(row2.trim().split("\\s+")).subList(0, 7));
    }

    @Test
    void badOptionsAreOneLineErrors() {
        Object[] r = CliRun.main("models", "--arch", "vgg");
        assertEquals(2, r[0]);
        String err = ((String) r[2]).trim();
        assertTrue(err.contains("unknown architecture 'vgg' (valid: mobilenetv2, resnet18, resnet20)"), err);
        assertEquals(1, err.lines().count(), err);
        r = CliRun.main("models", "--bits", "1");
        assertEquals(2, r[0]);
        assertTrue(((String) r[2]).contains("--bits 1 is outside the valid range: a whole number from 2 to 4"),
                (String) r[2]);
    }
}
