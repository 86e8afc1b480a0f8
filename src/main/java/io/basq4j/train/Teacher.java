package io.basq4j.train;

import io.basq4j.autograd.F;
import io.basq4j.autograd.GradMode;
import io.basq4j.data.Normalization;
import io.basq4j.nn.Layer;
import io.basq4j.nn.Module;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Tensor;

/**
 * A frozen full-precision distillation teacher (SPEC 5): a network in evaluation mode, never
 * given a gradient, and the input it needs.
 *
 * <p>Input. The student's batches are normalized for the student ({@link DataSources#normalization});
 * a teacher trained elsewhere may expect another normalization (torchvision's weights expect
 * ImageNet's mean and std). Where the two differ, the teacher sees its own:
 * {@code x_t = (x_s * std_s + mean_s - mean_t) / std_t} per channel, the same values a
 * {@code Normalize(mean_t, std_t)} of the raw pixels gives (up to float rounding). Where the data
 * has one channel and the teacher takes three (Fashion-MNIST and an ImageNet ResNet), the gray
 * channel is replicated to R, G and B first, as torchvision's {@code Grayscale(3)} does; any
 * other channel mismatch is refused when the teacher is opened. Where nothing differs (the
 * student's own data, ImageNet with a torchvision teacher), the batch goes to the teacher as is.
 * The adaptation runs on the device, through the same kernels (channel tiling of the flexible skip
 * and an evaluation-mode batch norm with unit variance and eps 0, i.e. {@code (x - m) * a}).
 */
public final class Teacher implements AutoCloseable {
    private final Module model;
    private final Layer net;
    private final String description;
    private final int classes;
    private final int replicateTo;
    private final Tensor[] renorm;
    private final String inputNote;

    /**
     * @param model the network (a {@link Layer}); this teacher owns it and closes it
     * @param teacherChannels the input channels of the network
     * @param student the normalization of the student's data
     * @param teacherNorm the normalization the network expects; null for the student's own
     */
    Teacher(Module model, String description, int classes, int teacherChannels, Normalization student,
            Normalization teacherNorm, Device device) {
        if (!(model instanceof Layer)) {
            throw new IllegalArgumentException(model + " is not a single-input network");
        }
        this.model = model;
        this.net = (Layer) model;
        this.description = description;
        this.classes = classes;
        int cs = student.channels();
        if (cs != teacherChannels && !(cs == 1 && teacherChannels == 3)) {
            throw new IllegalArgumentException("the teacher (" + description + ") takes " + teacherChannels
                    + " input channels but the data has " + cs + " (only 1-channel data is adapted, by replicating it"
                    + " to 3)");
        }
        this.replicateTo = cs == teacherChannels ? 0 : teacherChannels;
        Normalization target = teacherNorm == null ? replicated(student, teacherChannels) : teacherNorm;
        if (target.channels() != teacherChannels) {
            throw new IllegalArgumentException("teacher normalization " + target + " is not for " + teacherChannels
                    + " channels");
        }
        float[] ms = student.mean();
        float[] ss = student.std();
        float[] mt = target.mean();
        float[] st = target.std();
        float[] shift = new float[teacherChannels];
        float[] scale = new float[teacherChannels];
        boolean identity = true;
        for (int k = 0; k < teacherChannels; k++) {
            int j = k % cs;
            shift[k] = (float) (((double) mt[k] - ms[j]) / ss[j]);
            scale[k] = (float) ((double) ss[j] / st[k]);
            identity &= mt[k] == ms[j] && st[k] == ss[j];
        }
        if (identity) {
            renorm = null;
        } else {
            float[] zeros = new float[teacherChannels];
            float[] ones = new float[teacherChannels];
            java.util.Arrays.fill(ones, 1f);
            renorm = new Tensor[] {Tensor.of(device, scale, teacherChannels).detach(),
                Tensor.of(device, zeros, teacherChannels).detach(), Tensor.of(device, shift, teacherChannels).detach(),
                Tensor.of(device, ones, teacherChannels).detach()};
        }
        String note = replicateTo > 0 ? "1-channel data replicated to " + teacherChannels + " channels" : "";
        if (!identity) {
            note += (note.isEmpty() ? "" : ", ") + "re-normalized from the data's " + student + " to the teacher's "
                    + target;
        }
        inputNote = note.isEmpty() ? "the student's batches as they are" : note;
    }

    private static Normalization replicated(Normalization n, int channels) {
        if (n.channels() == channels) {
            return n;
        }
        float[] m = new float[channels];
        float[] s = new float[channels];
        for (int k = 0; k < channels; k++) {
            m[k] = n.mean()[k % n.channels()];
            s[k] = n.std()[k % n.channels()];
        }
        return new Normalization(m, s);
    }

    /** The teacher's logits [N, classes] for a batch of the student's input, without gradient. */
    public Tensor logits(Tensor studentInput) {
        try (GradMode off = GradMode.off()) {
            Tensor x = studentInput;
            if (replicateTo > 0) {
                x = F.flexSkip(x, replicateTo, 1);
            }
            if (renorm != null) {
                x = F.batchNorm(x, renorm[0], renorm[1], renorm[2], renorm[3], false, 0f, 0f);
            }
            return net.forward(x);
        }
    }

    /** The network (in evaluation mode). */
    public Module model() {
        return model;
    }

    public int classes() {
        return classes;
    }

    /** What the teacher is, for logs: its kind, file and size. */
    public String description() {
        return description;
    }

    /** How the student's batches are adapted for the teacher, for logs. */
    public String inputNote() {
        return inputNote;
    }

    @Override
    public void close() {
        model.close();
        if (renorm != null) {
            for (Tensor t : renorm) {
                t.close();
            }
        }
    }
}
