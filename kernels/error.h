/* The one error reporter of the library, declared here so that kernels (the CUDA launchers, which
   see nothing from core/) and core/ share it; core/error.c implements it. It sets the per-thread
   message read by cc_last_error() (printf format) and returns code, so callers can write
   `return cc_error(CC_ERR_SHAPE, "...")`. */
#ifndef CC_KERNELS_ERROR_H
#define CC_KERNELS_ERROR_H

#include "enums.h"

#ifdef __cplusplus
extern "C" {
#endif

cc_status cc_error(cc_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif

#endif
