package io.basq4j.bench;

import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * Bytes a kernel must move (each input read once, each output written once, at least), counted
 * per call: in throughput mode JMH reports the counter per second, so the {@code bytes} row of a
 * kernel benchmark is its achieved bandwidth in bytes/s (divide by 1e9 for GB/s). Multi-pass
 * kernels (batch norm reads its input twice) count what they really read.
 */
@State(Scope.Thread)
@AuxCounters(AuxCounters.Type.OPERATIONS)
public class Traffic {
    public long bytes;

    @Setup(Level.Iteration)
    public void reset() {
        bytes = 0;
    }
}
