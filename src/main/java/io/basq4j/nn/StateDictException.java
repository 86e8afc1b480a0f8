package io.basq4j.nn;

import java.util.List;

/**
 * A state does not fit a module: the message lists every missing, unexpected and mis-shaped
 * tensor (names and shapes), so one run shows everything that is wrong.
 */
public class StateDictException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    private final transient List<String> missing;
    private final transient List<String> unexpected;
    private final transient List<String> misShaped;

    public StateDictException(String message, List<String> missing, List<String> unexpected, List<String> misShaped) {
        super(message);
        this.missing = List.copyOf(missing);
        this.unexpected = List.copyOf(unexpected);
        this.misShaped = List.copyOf(misShaped);
    }

    /** Names the module has and the state lacks. */
    public List<String> missing() {
        return missing;
    }

    /** Names the state has and the module lacks. */
    public List<String> unexpected() {
        return unexpected;
    }

    /** Names present on both sides whose shape or element type differs. */
    public List<String> misShaped() {
        return misShaped;
    }

    /**
     * A short account (a few hundred characters at most, whatever the model's size): the count of
     * each kind and the first two names of each.
     */
    public String brief() {
        StringBuilder sb = new StringBuilder();
        appendFew(sb, "missing", missing);
        appendFew(sb, "unexpected", unexpected);
        appendFew(sb, "mis-shaped", misShaped);
        return sb.toString();
    }

    private static void appendFew(StringBuilder sb, String what, List<String> items) {
        if (items.isEmpty()) {
            return;
        }
        if (sb.length() > 0) {
            sb.append("; ");
        }
        sb.append(items.size()).append(' ').append(what).append(" (")
                .append(String.join(", ", items.subList(0, Math.min(2, items.size()))))
                .append(items.size() > 2 ? ", ...)" : ")");
    }
}
