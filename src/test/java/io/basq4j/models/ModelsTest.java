package io.basq4j.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class ModelsTest {
    @Test
    void registryNamesAndErrors() {
        assertEquals("mobilenetv2", Models.canonical("MobileNetV2"));
        assertEquals("mobilenetv2", Models.canonical("mobilenetv2-basq"));
        assertEquals("mobilenetv2", Models.canonical("mobilenet_v2"));
        assertEquals("resnet18", Models.canonical("ResNet-18"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Models.create("vgg16", ModelConfig.defaults()));
        assertTrue(e.getMessage().contains("unknown architecture 'vgg16'"), e.getMessage());
        assertTrue(e.getMessage().contains("mobilenetv2, resnet18, resnet20"), e.getMessage());
    }

    @Test
    void makeDivisible() {
        assertEquals(16, ModelConfig.makeDivisible(16, 8));
        assertEquals(16, ModelConfig.makeDivisible(12, 8));
        assertEquals(8, ModelConfig.makeDivisible(8, 8));
        assertEquals(8, ModelConfig.makeDivisible(3, 8));
        assertEquals(160, ModelConfig.makeDivisible(160, 8));
        assertEquals(48, ModelConfig.makeDivisible(48, 8));
        assertEquals(48, ModelConfig.makeDivisible(44, 8)); // to the nearest multiple, halves up
        assertEquals(16, ModelConfig.makeDivisible(9, 8)); // 8 would lose more than 10%
        assertEquals(12, ModelConfig.makeDivisible(12, 1));
    }

    @Test
    void configValidationAndDefaults() {
        ModelConfig d = ModelConfig.defaults();
        assertArrayEquals(new double[] {1e-2, 5e-3, 1e-3, 5e-4, 1e-4, 5e-5, 1e-5}, d.l2());
        assertEquals(0.2f, d.dropout());
        assertArrayEquals(new double[] {1e-2, 5e-3, 1e-3}, d.withBranches(3).l2());
        assertEquals(2, d.withL2(0.1, 0.2).branches());
        assertThrows(IllegalArgumentException.class, () -> d.withBranches(8));
        assertThrows(IllegalArgumentException.class, () -> d.withBits(1));
        assertThrows(IllegalArgumentException.class, () -> d.withWidth(0));
        assertThrows(IllegalArgumentException.class, () -> d.withDropout(1f));
        assertEquals(d, ModelConfig.defaults());
    }
}
