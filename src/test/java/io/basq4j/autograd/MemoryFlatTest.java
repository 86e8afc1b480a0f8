package io.basq4j.autograd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.tensor.Backend;
import io.basq4j.tensor.Backends;
import io.basq4j.tensor.CachingAllocator;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import io.basq4j.testutil.Rss;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * 5,000 training steps of a small quantized convolutional net: native memory and the process's
 * resident set must stay flat once the loop reaches steady state.
 */
@Tag("slow")
class MemoryFlatTest {
    private static final Device CPU = Device.CPU;
    /** Allowed growth of the resident set between step 1,000 and step 5,000. */
    private static final long RSS_GROWTH_BOUND = 32L << 20;

    private static Tensor param(Random r, float scale, int... dims) {
        int n = 1;
        for (int d : dims) {
            n *= d;
        }
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (r.nextGaussian() * scale);
        }
        return Tensor.of(CPU, a, dims).setRequiresGrad(true);
    }

    @Test
    void fiveThousandStepsStayFlat() {
        Random r = new Random(3);
        Tensor w1 = param(r, 0.3f, 8, 1, 3, 3);
        Tensor g1 = Tensor.full(CPU, 1f, 8).setRequiresGrad(true);
        Tensor b1 = Tensor.zeros(CPU, 8).setRequiresGrad(true);
        Tensor rm = Tensor.zeros(CPU, 8);
        Tensor rv = Tensor.full(CPU, 1f, 8);
        Tensor u = Tensor.full(CPU, 3f, 1).setRequiresGrad(true);
        Tensor bin = Tensor.full(CPU, 1f - 1f / 3f, 1);
        Tensor w2 = param(r, 0.3f, 8, 1, 3, 3);
        Tensor w3 = param(r, 0.3f, 10, 8);
        Tensor b3 = Tensor.zeros(CPU, 10).setRequiresGrad(true);
        List<Tensor> params = List.of(w1, g1, b1, u, w2, w3, b3);
        Tensor[] bufs = params.stream().map(p -> Tensor.zeros(CPU, p.shape().dims())).toArray(Tensor[]::new);
        float[] img = new float[16 * 12 * 12];
        long[] lab = new long[16];
        Backend be = Backends.cpu();
        CachingAllocator alloc = be.allocator();
        long rssAt1000 = 0;
        long rawAt1000 = 0;
        long inUseAt1000 = 0;
        float firstLoss = 0;
        float lastLoss = 0;
        for (int step = 0; step < 5000; step++) {
            for (int i = 0; i < 16; i++) {
                lab[i] = r.nextInt(10);
                for (int k = 0; k < 144; k++) {
                    img[i * 144 + k] = (float) r.nextGaussian() * 0.2f + (k % 12 == lab[i] ? 1f : 0f);
                }
            }
            try (Scope s = Scope.open()) {
                Tensor x = Tensor.of(CPU, img, 16, 1, 12, 12);
                Tensor y = Tensor.ofLongs(CPU, lab, 16);
                Tensor h = F.conv2d(x, w1, 1, 1, 1);
                h = F.relu(F.batchNorm(h, g1, b1, rm, rv, true, 0.1f, 1e-5f));
                h = F.clipQuant(h, u, bin);
                h = F.add(F.conv2d(h, w2, 2, 1, 8), F.flexSkip(h, 8, 2));
                Tensor logits = F.linear(F.globalAvgPool(h), w3, b3);
                Tensor loss = F.crossEntropy(logits, y);
                if (step == 0) {
                    firstLoss = loss.item();
                }
                lastLoss = loss.item();
                Autograd.backward(loss);
            }
            for (int i = 0; i < params.size(); i++) {
                Tensor p = params.get(i);
                be.sgdStep(p, p.grad(), bufs[i], 0.05f, 0.9f, 0f, true);
                p.grad().fill(0f);
            }
            if (step == 999) {
                rssAt1000 = Rss.bytes();
                rawAt1000 = alloc.rawAllocations();
                inUseAt1000 = alloc.bytesInUse();
            }
        }
        long rssEnd = Rss.bytes();
        assertEquals(inUseAt1000, alloc.bytesInUse(), "native bytes in use are the same at step 1,000 and 5,000");
        assertEquals(rawAt1000, alloc.rawAllocations(), "no system allocation after warm-up");
        assertTrue(rssEnd - rssAt1000 < RSS_GROWTH_BOUND,
                "resident set grew by " + (rssEnd - rssAt1000) / 1024 + " KiB (bound " + RSS_GROWTH_BOUND / 1024 + ")");
        assertTrue(lastLoss < firstLoss, "the net learns (" + firstLoss + " -> " + lastLoss + ")");
        params.forEach(Tensor::close);
        for (Tensor t : bufs) {
            t.close();
        }
        rm.close();
        rv.close();
        bin.close();
    }
}
