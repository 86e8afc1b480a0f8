/*
 * basq4j kernel ABI: shared conventions.
 *
 * Every kernel is a stateless C function on raw pointers with explicit sizes. It never
 * allocates (scratch memory comes from the caller as a workspace), never prints, and
 * returns BASQ_OK or an error code. Tensors are float32, contiguous, NCHW. Outputs are
 * overwritten, never accumulated into, unless a function says otherwise. Scalars that
 * live in tensors (a clip bound, a loss gradient) are passed as pointers so that the
 * same signature works for device memory.
 *
 * The CUDA library implements the same functions with the prefix basq_cuda_ and one more
 * trailing argument, the stream (cudaStream_t passed as void*).
 */
#ifndef BASQ4J_COMMON_H
#define BASQ4J_COMMON_H

#include <stdint.h>
#include <stddef.h>

#define BASQ_OK 0
#define BASQ_EINVAL 1        /* a size or argument is out of range */
#define BASQ_EUNSUPPORTED 2  /* a valid request this build cannot serve */
#define BASQ_EDEVICE 3       /* the device or a device library reported an error */

#ifdef __cplusplus
#define BASQ_API extern "C" __attribute__((visibility("default")))
#else
#define BASQ_API __attribute__((visibility("default")))
#endif

#endif
