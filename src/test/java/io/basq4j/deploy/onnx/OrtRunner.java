package io.basq4j.deploy.onnx;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.util.LinkedHashMap;
import java.util.Map;

/** An exported model in ONNX Runtime: its default CPU provider and graph optimizations, two threads. */
final class OrtRunner implements AutoCloseable {
    private final OrtEnvironment env = OrtEnvironment.getEnvironment();
    private final OrtSession session;

    OrtRunner(byte[] model) throws OrtException {
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
            o.setIntraOpNumThreads(2);
            session = env.createSession(model, o);
        }
    }

    OrtSession session() {
        return session;
    }

    /** Runs input [n, c, h, w] (flat) and returns the first output, flat. */
    float[] run(float[] x, long... shape) throws OrtException {
        return runAll(x, shape).values().iterator().next();
    }

    /** Runs input [n, c, h, w] (flat) and returns every output by name, flat. */
    Map<String, float[]> runAll(float[] x, long... shape) throws OrtException {
        Map<String, float[]> out = new LinkedHashMap<>();
        try (OnnxTensor t = OnnxTensor.createTensor(env, FloatBuffer.wrap(x), shape);
                OrtSession.Result r = session.run(Map.of(session.getInputNames().iterator().next(), t))) {
            for (Map.Entry<String, ai.onnxruntime.OnnxValue> e : r) {
                FloatBuffer fb = ((OnnxTensor) e.getValue()).getFloatBuffer();
                float[] y = new float[fb.remaining()];
                fb.get(y);
                out.put(e.getKey(), y);
            }
        }
        return out;
    }

    @Override
    public void close() throws OrtException {
        session.close();
    }
}
