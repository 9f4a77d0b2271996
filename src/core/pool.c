#define _GNU_SOURCE /* pthread_setname_np */
#include "core/pool.h"

#include <pthread.h>
#include <stdlib.h>

#include "core/err.h"

typedef struct job {
  struct job *next;
  sf_pool_fn fn;
  void *arg;
} job;

struct sf_pool {
  pthread_mutex_t mu;
  pthread_cond_t work; /* signalled when a job is queued or stopping is set */
  job *head, *tail;
  int stopping;
  int nthreads;
  pthread_t threads[];
};

static job *next_job(sf_pool *p) {
  pthread_mutex_lock(&p->mu);
  while (!p->head && !p->stopping) pthread_cond_wait(&p->work, &p->mu);
  job *j = p->head; /* NULL only when stopping and drained */
  if (j) {
    p->head = j->next;
    if (!p->head) p->tail = NULL;
  }
  pthread_mutex_unlock(&p->mu);
  return j;
}

static void *worker(void *arg) {
  sf_pool *p = arg;
  pthread_setname_np(pthread_self(), "sf-pool");
  for (job *j; (j = next_job(p));) {
    j->fn(j->arg);
    free(j);
  }
  return NULL;
}

/* Wakes and joins the first n workers. */
static void stop_and_join(sf_pool *p, int n) {
  pthread_mutex_lock(&p->mu);
  p->stopping = 1;
  pthread_cond_broadcast(&p->work);
  pthread_mutex_unlock(&p->mu);
  for (int i = 0; i < n; i++) pthread_join(p->threads[i], NULL);
}

static void destroy(sf_pool *p) {
  pthread_cond_destroy(&p->work);
  pthread_mutex_destroy(&p->mu);
  free(p);
}

sf_pool *sf_pool_new(int nthreads) {
  if (nthreads < 1) nthreads = 1;
  sf_pool *p = sf_calloc(1, sizeof *p + (size_t)nthreads * sizeof p->threads[0]);
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->work, NULL);
  p->nthreads = nthreads;
  for (int i = 0; i < nthreads; i++) {
    if (pthread_create(&p->threads[i], NULL, worker, p) != 0) {
      stop_and_join(p, i);
      destroy(p);
      return NULL;
    }
  }
  return p;
}

int sf_pool_submit(sf_pool *p, sf_pool_fn fn, void *arg) {
  job *j = sf_malloc(sizeof *j);
  j->next = NULL;
  j->fn = fn;
  j->arg = arg;
  pthread_mutex_lock(&p->mu);
  if (p->stopping) {
    pthread_mutex_unlock(&p->mu);
    free(j);
    return -503;
  }
  if (p->tail)
    p->tail->next = j;
  else
    p->head = j;
  p->tail = j;
  pthread_cond_signal(&p->work);
  pthread_mutex_unlock(&p->mu);
  return 0;
}

void sf_pool_free(sf_pool *p) {
  if (!p) return;
  stop_and_join(p, p->nthreads); /* workers drain the queue before exiting */
  destroy(p);
}
