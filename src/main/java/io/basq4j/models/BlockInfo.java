package io.basq4j.models;

/**
 * One row of a supernet's block table: what {@code basq4j models} prints.
 *
 * @param index feature index (the {@code feature.{index}} name prefix; -1 for the classifier)
 * @param kind "stem", "inverted-residual", "last-unit", "basic", "classifier"
 * @param in input channels
 * @param out output channels
 * @param stride spatial stride
 * @param expansion expansion ratio t (inverted residual blocks; 1 elsewhere)
 * @param hidden channels of the searched 3x3 units (the output channels where there are none)
 * @param parameters learnable parameter elements of the block (all branches)
 * @param searchedUnits entries of the selection this block consumes
 * @param outSize output spatial size (height = width)
 */
public record BlockInfo(int index, String kind, int in, int out, int stride, double expansion, int hidden,
        long parameters, int searchedUnits, int outSize) {
}
