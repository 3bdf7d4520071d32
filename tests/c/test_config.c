/* Global settings: the thread count is bounded (libgomp exits the process on absurd counts). */
#include "test.h"

TEST_GROUP(num_threads_bounds)
{
    int nt = cc_get_num_threads();
    CHECK_ERR(cc_set_num_threads(0), CC_ERR_ARGUMENT, "set_num_threads: n: expected 1 <= n <= 1024, got 0");
    CHECK_ERR(cc_set_num_threads(-3), CC_ERR_ARGUMENT, "got -3");
    CHECK_ERR(cc_set_num_threads(2147483647), CC_ERR_ARGUMENT, "got 2147483647");
    CHECK_ERR(cc_set_num_threads(1025), CC_ERR_ARGUMENT, "got 1025");
    CHECK_EQ_I(cc_get_num_threads(), nt);
    CHECK_OK(cc_set_num_threads(1));
    CHECK_EQ_I(cc_get_num_threads(), 1);
    CHECK_OK(cc_set_num_threads(nt));
    CHECK_EQ_I(cc_get_num_threads(), nt);
}
