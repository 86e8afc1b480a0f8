package io.basq4j.models;

import java.util.List;
import java.util.Locale;

/** The supernet registry: architecture names to constructors. */
public final class Models {
    /** The valid architecture names. */
    public static final List<String> ARCHS = List.of("mobilenetv2", "resnet18", "resnet20");

    private Models() {
    }

    /**
     * The canonical name of an architecture: case-insensitive, ignoring '-' and '_', and a
     * trailing "basq" (so the golden files' "mobilenetv2-basq" and "mobilenet_v2" name mobilenetv2).
     */
    public static String canonical(String arch) {
        if (arch == null) {
            throw unknown(null);
        }
        String a = arch.toLowerCase(Locale.ROOT).replace("-", "").replace("_", "");
        if (a.endsWith("basq") && a.length() > 4) {
            a = a.substring(0, a.length() - 4);
        }
        if (a.equals("mbv2") || a.equals("mobilenet")) {
            a = "mobilenetv2";
        }
        if (!ARCHS.contains(a)) {
            throw unknown(arch);
        }
        return a;
    }

    private static IllegalArgumentException unknown(String arch) {
        return new IllegalArgumentException("unknown architecture '" + arch + "' (valid: " + String.join(", ", ARCHS)
                + ")");
    }

    /** Builds a supernet; an unknown name gives an error listing the valid ones. */
    public static Supernet create(String arch, ModelConfig config) {
        switch (canonical(arch)) {
            case "mobilenetv2":
                return new MobileNetV2Supernet(config);
            case "resnet18":
                return new ResNetSupernet(config, ResNetSupernet.Variant.RESNET18);
            case "resnet20":
                return new ResNetSupernet(config, ResNetSupernet.Variant.RESNET20);
            default:
                throw unknown(arch);
        }
    }
}
