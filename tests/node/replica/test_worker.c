/* test_worker.c - node/replica/replica_work.c: the storage worker's queue.
 * Jobs run in the order pushed; a job that absorbs (the origin's group
 * commits) takes the jobs of its kind queued right behind it into its own
 * run, and every job, absorbed or not, completes once, in queue order.
 * The replica is a bare one marked stopping: completion then drops each
 * job (replica__complete), which is where the test records the order.
 * Also the order a dispatch carries out the core's actions in. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "replica_int.h"

#define JOBS 6

typedef struct {
    rjob_t job;
    int id;
    bool absorbs;
    int ran_with; /* jobs in the run that ran it (0: not run itself) */
} tjob_t;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static bool gate_open;
static bool gate_reached;
static int dropped[JOBS + 1];
static size_t ndropped;

/* The first job holds the worker until the others are queued. */
static void gate_run(rjob_t *j)
{
    (void)j;
    pthread_mutex_lock(&mu);
    gate_reached = true;
    pthread_cond_broadcast(&cv);
    while (!gate_open)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
}

static void t_run(rjob_t *j)
{
    int n = 0;
    for (rjob_t *q = j; q; q = q->chain)
        n++;
    ((tjob_t *)j)->ran_with = n;
}

static void t_drop(rjob_t *j)
{
    pthread_mutex_lock(&mu);
    dropped[ndropped++] = ((tjob_t *)j)->id;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static bool t_absorb(rjob_t *j, rjob_t *next)
{
    (void)j;
    if (next->absorb != t_absorb)
        return false;
    /* Append at the end of j's chain. */
    rjob_t *last = j;
    while (last->chain)
        last = last->chain;
    last->chain = next;
    next->chain = NULL;
    return true;
}

static void test_absorb_takes_its_kind_in_order(void **state)
{
    (void)state;
    static replica_t r;
    memset(&r, 0, sizeof r);
    pthread_mutex_init(&r.lock, NULL);
    r.stopping = true; /* completions drop: no loop in this test */
    rworker_t w;
    assert_int_equal(rworker_start(&w, &r, "test-worker"), 0);

    tjob_t jobs[JOBS + 1];
    memset(jobs, 0, sizeof jobs);
    /* 0: the gate; 1..3 absorbing; 4 another kind; 5..6 absorbing. */
    for (int i = 0; i <= JOBS; i++) {
        jobs[i].id = i;
        jobs[i].absorbs = i != 0 && i != 4;
        jobs[i].job = (rjob_t){.r = &r,
                               .run = i == 0 ? gate_run : t_run,
                               .drop = t_drop,
                               .absorb = jobs[i].absorbs ? t_absorb : NULL};
    }
    rworker_push(&w, &jobs[0].job);
    pthread_mutex_lock(&mu);
    while (!gate_reached)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    for (int i = 1; i <= JOBS; i++)
        rworker_push(&w, &jobs[i].job);
    pthread_mutex_lock(&mu);
    gate_open = true;
    pthread_cond_broadcast(&cv);
    while (ndropped < JOBS + 1)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    rworker_stop(&w);

    for (int i = 0; i <= JOBS; i++)
        assert_int_equal(dropped[i], i);   /* each once, in queue order */
    assert_int_equal(jobs[1].ran_with, 3); /* 1 took 2 and 3 */
    assert_int_equal(jobs[2].ran_with, 0);
    assert_int_equal(jobs[3].ran_with, 0);
    assert_int_equal(jobs[4].ran_with, 1); /* another kind stops the run */
    assert_int_equal(jobs[5].ran_with, 2); /* 5 took 6 */
    assert_int_equal(jobs[6].ran_with, 0);
    pthread_mutex_destroy(&r.lock);
}

/* ---- dispatch order -------------------------------------------------------------------- */

/* replica__dispatch_order: the writers' answers first, then everything else
 * in the order the core emitted it. */
static void test_dispatch_answers_first(void **state)
{
    (void)state;
    const repl_act_kind_t kinds[] = {REPL_ACT_SEND,     REPL_ACT_SEND,      REPL_ACT_WRITE_DONE,
                                     REPL_ACT_TRIM_LOG, REPL_ACT_SEND,      REPL_ACT_WRITE_DONE,
                                     REPL_ACT_PERSIST,  REPL_ACT_WRITE_DONE};
    const uint8_t want[] = {2, 5, 7, 0, 1, 3, 4, 6};
    repl_action_t acts[8];
    memset(acts, 0, sizeof acts);
    for (size_t i = 0; i < 8; i++)
        acts[i].kind = kinds[i];
    uint8_t order[8];
    replica__dispatch_order(acts, 8, order);
    assert_memory_equal(order, want, sizeof want);
    /* None to move, and none at all. */
    replica__dispatch_order(acts, 2, order);
    assert_int_equal(order[0], 0);
    assert_int_equal(order[1], 1);
    replica__dispatch_order(acts, 0, order);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_absorb_takes_its_kind_in_order),
        cmocka_unit_test(test_dispatch_answers_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
