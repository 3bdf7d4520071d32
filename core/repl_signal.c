/* Ctrl-C for the REPL (lua/causalconv/repl.lua). LuaJIT cannot run Lua in a signal handler, so
   the handler only counts the SIGINTs not yet taken. They are taken by a debug hook while
   interpreted code runs, by the binding's status check after every C call (lua/causalconv/ffi.lua
   reads the counter through cc_repl_interrupt_flag: JIT-compiled code runs no hooks but does make
   those calls), and by the input loop at the prompt. When nothing takes them (a compiled loop that
   calls no causalconv function), the second Ctrl-C says that a third quits, and the third ends the
   process with the default action. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include "causalconv.h"

/* int, not sig_atomic_t, so the FFI can read it; both are a plain int on the platforms we build for */
static volatile int pending;

static void on_sigint(int sig)
{
    if (pending >= 2) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    pending = pending + 1;
    if (pending == 2) {
        static const char msg[] = "\n(this code is JIT-compiled and calls no causalconv function, where Ctrl-C would stop it:\n"
                                   " press Ctrl-C again to quit)\n";
        ssize_t ignored = write(2, msg, sizeof msg - 1);
        (void)ignored;
    }
}

int cc_repl_install_sigint(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;   /* poll() still returns EINTR; plain reads go on */
    pending = 0;
    return sigaction(SIGINT, &sa, NULL) == 0 ? 0 : -1;
}

int cc_repl_take_interrupt(void)
{
    int n = pending;
    pending = 0;
    return n > 0;
}

volatile int *cc_repl_interrupt_flag(void)
{
    return &pending;
}
