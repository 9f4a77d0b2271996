/* Fixed-size worker thread pool for blocking work (password hashing and the
 * like) that must never run on HTTP threads or the writer.
 *
 * Ownership: sf_pool_new returns a pool the caller ends with sf_pool_free.
 * The pool copies nothing but the (fn, arg) pair: arg stays owned by the
 * caller and is usually freed by fn itself. Jobs run in submission order
 * (FIFO) on whichever worker is free; the queue is unbounded, so callers that
 * can be flooded must bound their own submissions.
 *
 * sf_pool_submit is safe from any thread, including from inside a job.
 * sf_pool_free must not be called from a job (it joins the workers) nor
 * concurrently with itself. */
#ifndef SF_CORE_POOL_H
#define SF_CORE_POOL_H

typedef struct sf_pool sf_pool;
typedef void (*sf_pool_fn)(void *arg);

/* Starts nthreads workers (values below 1 are raised to 1). Returns NULL if
 * the threads cannot be created. */
sf_pool *sf_pool_new(int nthreads);

/* Queues fn(arg). Returns 0, or -503 once sf_pool_free has begun (the job is
 * not queued and arg is untouched). */
int sf_pool_submit(sf_pool *p, sf_pool_fn fn, void *arg);

/* Stops accepting jobs, runs every job already queued, joins the workers and
 * frees the pool. NULL is a no-op. */
void sf_pool_free(sf_pool *p);

#endif
