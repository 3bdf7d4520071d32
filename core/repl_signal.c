/* Ctrl-C for the REPL (lua/causalconv/repl.lua). LuaJIT cannot run Lua in a signal handler, so
   the handler only counts the SIGINTs not yet taken; the REPL takes them from a debug hook while
   code runs and from its input loop at the prompt. When the REPL never takes them (a JIT-compiled
   Lua loop runs no hooks), the second Ctrl-C says that a third quits, and the third ends the
   process with the default action. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include "causalconv.h"

static volatile sig_atomic_t pending;

static void on_sigint(int sig)
{
    if (pending >= 2) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    pending = pending + 1;
    if (pending == 2) {
        static const char msg[] = "\n(Ctrl-C cannot stop JIT-compiled Lua code, which runs no hooks: press it again to quit;\n"
                                   " jit.off() before such a loop keeps it interruptible)\n";
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
