/* A thread pool with no end barrier, for the uint8 carve kernel (fastcore/_carve.pyx).
 *
 * Why (issue 16, "stable when the CPU is shared"): with OpenMP, every thread of a parallel
 * region must reach its end.  Beside one busy process, the thread woken on the busy core
 * often runs only after the other thread has done all the work, and the caller then waits a
 * scheduler slice for it to arrive and find nothing left.  Here the caller works through the
 * items itself and waits only for items a helper has actually claimed; a helper that wakes
 * late finds no item left (or joins whatever job is current) and goes back to sleep.
 *
 * cd_pool_run(fn, ctx, n, scratch_bytes, helpers) calls fn(ctx, i, scratch) once for every
 * i in [0, n), on the calling thread and up to `helpers` pool threads, and returns when all
 * have returned.  Items are claimed one at a time from a 64-bit word (job generation << 32 |
 * next item), so a helper still holding an older job's parameters can never claim an item
 * of a newer job.  Each thread passes fn its own scratch of scratch_bytes (16-byte aligned).
 * Idle helpers sleep on a condition variable (no spinning: the CPU is shared), and are kept
 * off the CPU the caller last posted a job from (cd_pool_keep_off_caller).
 * A second caller while the pool is busy, or a helper that cannot start: the items still
 * all run, on the callers.  A forked child rebuilds the pool at its first carve (its helpers
 * did not survive the fork; pthread_atfork clears what the fork may have caught mid-job).  Returns 0, or -1 when the caller's scratch cannot be allocated (then no
 * item has run).
 */
#ifndef CAMDECK_CARVE_POOL_H
#define CAMDECK_CARVE_POOL_H

/* Needs the POSIX 2008 declarations (sigset_t, pthread_atfork): the Cython module includes
 * Python.h first, which asks for them. */

#include <stdint.h>
#include <stdlib.h>

typedef void (*cd_item_fn)(void *ctx, int item, char *scratch);

/* Scratch of `bytes` (at least 16), 16-byte aligned; free() it. */
static inline char *cd_scratch(size_t bytes)
{
    return (char *)aligned_alloc(16, ((bytes + 15) & ~(size_t)15) + 16);
}

#if defined(_WIN32)
/* No pthreads: the caller runs every item. */
static int cd_pool_run(cd_item_fn fn, void *ctx, int n, size_t scratch_bytes, int helpers)
{
    char *scratch = cd_scratch(scratch_bytes);
    (void)helpers;
    if (scratch == NULL) return -1;
    for (int i = 0; i < n; ++i) fn(ctx, i, scratch);
    free(scratch);
    return 0;
}

static long cd_pool_stats(int *helpers)
{
    *helpers = 0;
    return 0;
}
#else
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

enum { CD_POOL_MAX = 64 };

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t wake;            /* helpers: a new job */
    pthread_cond_t finished;        /* caller: the last claimed item is done */
    pid_t pid;                      /* the process the helpers belong to (0: not built) */
    int nworkers;
    unsigned gen;                   /* current job; written under mu */
    cd_item_fn fn;                  /* the current job's parameters; written under mu */
    void *ctx;
    int n, helpers;
    size_t scratch_bytes;
    _Atomic uint64_t next;          /* gen << 32 | next item */
    _Atomic int done;               /* items of the current job finished */
    _Atomic long helped;            /* items run by helpers in this process (for the tests) */
    pthread_t threads[CD_POOL_MAX]; /* the helpers (for their CPU affinity) */
    int caller_cpu;                 /* the CPU the helpers were last kept off (-1: none) */
    atomic_flag busy;               /* a caller owns the pool */
} cd_pool_t;

static cd_pool_t cd_pool = {.pid = 0, .busy = ATOMIC_FLAG_INIT};

/* Claim the next item of job `gen`; -1 when it has none left (or is no longer current). */
static inline int cd_pool_claim(unsigned gen, int n)
{
    uint64_t s = atomic_load(&cd_pool.next);
    for (;;) {
        if ((unsigned)(s >> 32) != gen || (int)(uint32_t)s >= n) return -1;
        if (atomic_compare_exchange_weak(&cd_pool.next, &s, s + 1)) return (int)(uint32_t)s;
    }
}

/* Run items of job `gen` until none is left; the last one to finish wakes the caller. */
static void cd_pool_work(unsigned gen, cd_item_fn fn, void *ctx, int n, char *scratch, int helper)
{
    int item;
    while ((item = cd_pool_claim(gen, n)) >= 0) {
        fn(ctx, item, scratch);
        if (helper) atomic_fetch_add(&cd_pool.helped, 1);
        /* Only a helper can finish the last item while the caller waits for it. */
        if (atomic_fetch_add(&cd_pool.done, 1) + 1 == n && helper) {
            pthread_mutex_lock(&cd_pool.mu);
            pthread_cond_broadcast(&cd_pool.finished);
            pthread_mutex_unlock(&cd_pool.mu);
        }
    }
}

static void *cd_pool_helper(void *arg)
{
    const int w = (int)(intptr_t)arg;
#if defined(__linux__) && defined(_GNU_SOURCE)
    pthread_setname_np(pthread_self(), "camdeck-carve");    /* as top -H and ps -L show it */
#endif
    char *buf = NULL;
    size_t cap = 0;
    pthread_mutex_lock(&cd_pool.mu);
    /* Started while its first job was being posted (the caller held mu): join that job. A
     * job that is already over is harmless to join: no item is left to claim. */
    unsigned seen = cd_pool.gen - 1;
    for (;;) {
        while (cd_pool.gen == seen) pthread_cond_wait(&cd_pool.wake, &cd_pool.mu);
        seen = cd_pool.gen;
        const cd_item_fn fn = cd_pool.fn;
        void *const ctx = cd_pool.ctx;
        const int n = cd_pool.n, helpers = cd_pool.helpers;
        const size_t need = cd_pool.scratch_bytes;
        pthread_mutex_unlock(&cd_pool.mu);
        if (w < helpers) {
            if (need > cap) {
                free(buf);
                buf = cd_scratch(need);
                cap = buf ? need : 0;
            }
            if (buf) cd_pool_work(seen, fn, ctx, n, buf, 1);
        }
        pthread_mutex_lock(&cd_pool.mu);
    }
    return NULL;
}

/* In a child forked from a process with a pool: none of its helpers came along, and the
 * fork may have caught another thread inside cd_pool_run (busy set, mu held). The child's
 * first carve rebuilds the pool. */
static void cd_pool_after_fork(void)
{
    cd_pool.pid = 0;
    cd_pool.nworkers = 0;
    atomic_flag_clear(&cd_pool.busy);
}

/* Under mu: keep the helpers off the CPU the caller runs on, when the process may use others.
 * Why: beside a busy process on 2 cores, a helper woken onto the caller's CPU halves the
 * caller's speed and holds its items while the caller waits; kept off it, the helper shares
 * the busy process's CPU instead.  Done again only when the caller's CPU changes. */
static void cd_pool_keep_off_caller(void)
{
#if defined(__linux__) && defined(CPU_SET) && !defined(__ANDROID__)
    const int cpu = sched_getcpu();
    if (cpu < 0 || cpu == cd_pool.caller_cpu || cpu >= CPU_SETSIZE) return;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return;
    CPU_CLR(cpu, &set);
    if (CPU_COUNT(&set) == 0) return;       /* one CPU to run on: nothing to keep off */
    for (int w = 0; w < cd_pool.nworkers; ++w) pthread_setaffinity_np(cd_pool.threads[w], sizeof set, &set);
    cd_pool.caller_cpu = cpu;
#endif
}

/* Under mu: (re)build the pool in this process; start helpers up to `want`. */
static void cd_pool_grow(int want)
{
    if (want > CD_POOL_MAX) want = CD_POOL_MAX;
    while (cd_pool.nworkers < want) {
        pthread_t th;
        pthread_attr_t attr;
        sigset_t all, old;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        sigfillset(&all);
        /* Helpers take no asynchronous signal (SIGINT, SIGTERM... go to Python's thread); a fault
         * in a helper still reaches faulthandler. */
        sigdelset(&all, SIGSEGV); sigdelset(&all, SIGBUS); sigdelset(&all, SIGFPE); sigdelset(&all, SIGILL);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        const int rc = pthread_create(&th, &attr, cd_pool_helper, (void *)(intptr_t)cd_pool.nworkers);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&attr);
        if (rc != 0) break;                          /* fewer helpers; the caller does the rest */
        cd_pool.threads[cd_pool.nworkers] = th;
        cd_pool.caller_cpu = -1;                     /* the new helper may run anywhere yet */
        ++cd_pool.nworkers;
    }
}

static int cd_pool_run(cd_item_fn fn, void *ctx, int n, size_t scratch_bytes, int helpers)
{
    char *scratch = cd_scratch(scratch_bytes);
    if (scratch == NULL) return -1;
    if (n <= 0) {
        free(scratch);
        return 0;
    }
    if (helpers <= 0 || n == 1 || atomic_flag_test_and_set(&cd_pool.busy)) {
        for (int i = 0; i < n; ++i) fn(ctx, i, scratch);  /* alone, or the pool is taken */
        free(scratch);
        return 0;
    }
    if (cd_pool.pid != getpid()) {       /* first use, or a forked child: helpers start afresh */
        static int at_fork;              /* inherited by children, so registered once */
        if (!at_fork) at_fork = pthread_atfork(NULL, NULL, cd_pool_after_fork) == 0;
        pthread_mutex_init(&cd_pool.mu, NULL);
        pthread_cond_init(&cd_pool.wake, NULL);
        pthread_cond_init(&cd_pool.finished, NULL);
        cd_pool.nworkers = 0;
        atomic_store(&cd_pool.helped, 0);
        cd_pool.pid = getpid();
    }
    pthread_mutex_lock(&cd_pool.mu);
    cd_pool_grow(helpers);
    cd_pool_keep_off_caller();
    const unsigned gen = cd_pool.gen + 1;
    cd_pool.fn = fn; cd_pool.ctx = ctx; cd_pool.n = n; cd_pool.helpers = helpers;
    cd_pool.scratch_bytes = scratch_bytes;
    atomic_store(&cd_pool.done, 0);
    atomic_store(&cd_pool.next, (uint64_t)gen << 32);
    cd_pool.gen = gen;
    pthread_cond_broadcast(&cd_pool.wake);
    pthread_mutex_unlock(&cd_pool.mu);
    cd_pool_work(gen, fn, ctx, n, scratch, 0);
    /* Every item is claimed now; wait only for those still running on a helper. */
    for (int spin = 0; spin < 4000 && atomic_load(&cd_pool.done) < n; ++spin) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ __volatile__("yield");       /* the spin-wait hint, as pause is on x86 */
#endif
    }
    if (atomic_load(&cd_pool.done) < n) {
        pthread_mutex_lock(&cd_pool.mu);
        while (atomic_load(&cd_pool.done) < n) pthread_cond_wait(&cd_pool.finished, &cd_pool.mu);
        pthread_mutex_unlock(&cd_pool.mu);
    }
    atomic_flag_clear(&cd_pool.busy);
    free(scratch);
    return 0;
}

/* Helper threads running in this process, and the items they have run (for the tests). */
static long cd_pool_stats(int *helpers)
{
    const int mine = cd_pool.pid == getpid();
    *helpers = mine ? cd_pool.nworkers : 0;
    return mine ? atomic_load(&cd_pool.helped) : 0;
}
#endif /* _WIN32 */

#endif /* CAMDECK_CARVE_POOL_H */
