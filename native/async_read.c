/*
 * readBatchAsync(fd, positions, targets, queueDepth, direct, results, maxBytesInFlight, done) -> undefined
 *
 * The reads of readBatch (native/batch_read.c, same first six arguments and results), without blocking:
 * the call queues the reads and calls `done()` when every one is done, with `results` filled in, or
 * `done(error)` when they could not be reported (below). io/native-read.ts wraps it in a promise.
 *
 * How: one io_uring per thread with an eventfd registered on it, and a uv_poll handle on that eventfd in
 * the thread's own event loop, so completions are reaped between JavaScript tasks and the next reads are
 * submitted as earlier ones finish. Batches share the ring: at most `queueDepth` reads of the thread, and
 * with `maxBytesInFlight` (> 0) at most that many bytes (but always one read), are in flight, submitted in
 * call order (an older batch's reads go first); both limits are the latest call's. A worker thread can so
 * keep the disk busy across batches while it plans and decodes, and an older batch's reads are not held
 * up by a younger one's: large reads fill a disk's bandwidth with few in flight.
 *
 * Where the ring cannot be set up (no io_uring, io_uring_disabled, a seccomp filter), or fails later,
 * the reads finish with blocking preads and `done` is called the same way.
 *
 * Targets detached before the batch settles: the kernel writes into the targets' memory until each read
 * completes, and JavaScript can detach an ArrayBuffer (transfer it with structuredClone or postMessage)
 * in the meantime. The batch holds a reference to every target view and to `results` itself, not only to
 * the array that listed them, so replacing an element or dropping the array frees nothing under the
 * kernel. A detach cannot be refused through N-API, so it is reported: when the reads are done, a target
 * or `results` that no longer views the memory it viewed at the call makes `done` get an error with code
 * ERR_TARGET_DETACHED (naming the target), and `results` is not written (its memory may be gone). The
 * memory the loader reads into cannot be detached at all: hugePageBuffer's is external, which Node copies
 * instead of transferring (test/io/native-lifetime.test.ts checks it), and SharedArrayBuffers have no
 * detach. Other memory that is transferred and then collected while a read is in flight is the caller's
 * bug, as it is for fs.read.
 *
 * Batches pending at teardown: the engine belongs to the Node environment (main thread or worker). When
 * the environment ends (worker.terminate() included), an async cleanup hook first waits until the
 * kernel holds no read of ours, since those write into JavaScript memory that is freed right after
 * (reads still in the submission queue are never submitted). Waiting rather than cancelling: a read
 * that already reached the device cannot be cancelled, and those are the ones that write. Then every
 * pending batch is freed with its references and `done` is not called: an ending environment runs no
 * more JavaScript. (A promise made with napi_create_promise could not be settled then either, and N-API
 * has no other way to free its deferred, so each pending batch would leak one; hence the callback.)
 * Then the poll handle, the ring and the eventfd are closed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#include "addon.h"
#include "read.h"

#ifdef HAVE_IO_URING
#include <sys/eventfd.h>
#include <sys/syscall.h>
#endif

typedef struct Batch {
  struct Batch *next;
  Request *requests;
  size_t count;
  size_t submitted;  /* requests[0 .. submitted) went to the ring at least once */
  size_t unfinished; /* requests not yet complete, at end of file or failed */
  size_t *again;     /* requests to read on from where they stopped (short or interrupted reads) */
  size_t again_count;
  int fd, direct;
  napi_ref *target_refs; /* every target view, held until the batch settles */
  napi_ref results_ref, done_ref;
} Batch;

typedef struct {
  napi_env env;
#ifdef HAVE_IO_URING
  Ring *ring; /* NULL: reads go through pread */
  int event_fd;
  uv_poll_t poll;
  int poll_open, polling;
#endif
  napi_ref resource;
  napi_async_context context;
  Batch *head, *tail; /* unsettled batches, in call order */
  unsigned in_flight; /* reads put in the submission queue and not yet reaped */
  unsigned depth;
  size_t bytes_in_flight, max_bytes; /* max_bytes 0: no limit */
  napi_async_cleanup_hook_handle cleanup;
} Engine;

static void free_batch(napi_env env, Batch *b) {
  for (size_t i = 0; i < b->count; i++) {
    if (b->target_refs[i]) napi_delete_reference(env, b->target_refs[i]);
  }
  if (b->results_ref) napi_delete_reference(env, b->results_ref);
  if (b->done_ref) napi_delete_reference(env, b->done_ref);
  free(b);
}

/* 1 + the index of the first target that no longer views the memory read into, or 0. */
static size_t detached_target(napi_env env, const Batch *b) {
  for (size_t i = 0; i < b->count; i++) {
    const Request *r = &b->requests[i];
    napi_value target;
    void *data;
    size_t length;
    if (r->length == 0) continue; /* nothing was written */
    if (napi_get_reference_value(env, b->target_refs[i], &target) != napi_ok || !target ||
        !typed_array_of(env, target, napi_uint8_array, &data, &length) || data != r->data || length != r->length) {
      return i + 1;
    }
  }
  return 0;
}

/* Fills in the batch's results and calls its `done`, or calls it with an error when a target or the results were detached. */
static void conclude(napi_env env, Batch *b) {
  char message[160];
  napi_value results = NULL, done, undefined, error = NULL, code, text;
  size_t detached = detached_target(env, b);
  double *memory = NULL;
  int attached = napi_get_reference_value(env, b->results_ref, &results) == napi_ok && results &&
                 batch_results_memory(env, results, b->count, &memory);
  if (detached) {
    snprintf(message, sizeof message, "readBatchAsync: target %zu was detached before its read completed", detached - 1);
  } else if (!attached) {
    snprintf(message, sizeof message, "readBatchAsync: results was detached before the batch completed");
  } else {
    batch_results(b->requests, b->count, memory);
  }
  if (detached || !attached) {
    napi_create_string_utf8(env, "ERR_TARGET_DETACHED", NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &text);
    napi_create_error(env, code, text, &error);
  }
  napi_get_undefined(env, &undefined);
  if (napi_get_reference_value(env, b->done_ref, &done) != napi_ok || !done) return;
  if (napi_call_function(env, undefined, done, error ? 1 : 0, &error, NULL) == napi_pending_exception) {
    /* A throwing `done` is an uncaught exception, as a throwing fs callback is; the other batches still settle. */
    napi_value exception;
    napi_get_and_clear_last_exception(env, &exception);
    napi_fatal_exception(env, exception);
  }
}

/*
 * Settles and frees every batch whose reads are all finished. They leave the list before any `done` runs:
 * a `done` may queue another batch (readBatchAsync) and so reach this list again.
 */
static void settle(Engine *e) {
  Batch **link = &e->head, *finished = NULL, **finished_tail = &finished;
  e->tail = NULL;
  while (*link) {
    Batch *b = *link;
    if (b->unfinished > 0) {
      e->tail = b;
      link = &b->next;
      continue;
    }
    *link = b->next;
    b->next = NULL;
    *finished_tail = b;
    finished_tail = &b->next;
  }
  while (finished) {
    Batch *b = finished;
    finished = b->next;
    conclude(e->env, b);
    free_batch(e->env, b);
  }
}

/* Reads every unfinished request of every batch with pread (blocking): the fallback once the ring is gone. */
static void finish_with_pread(Engine *e) {
  for (Batch *b = e->head; b; b = b->next) {
    read_with_pread(b->fd, b->requests, b->count, b->direct);
    b->unfinished = 0;
    b->again_count = 0;
    b->submitted = b->count;
  }
}

#ifdef HAVE_IO_URING
/* Accounts the completions in the ring: finished reads, and reads to go on with. */
static void reap(Engine *e) {
  Ring *ring = e->ring;
  unsigned head = *ring->cq_head;
  unsigned tail = __atomic_load_n(ring->cq_tail, __ATOMIC_ACQUIRE);
  for (; head != tail; head++) {
    struct io_uring_cqe *cqe = &ring->cqes[head & *ring->cq_mask];
    Request *r = (Request *)(uintptr_t)cqe->user_data;
    Batch *b = r->owner;
    e->in_flight--;
    e->bytes_in_flight -= r->asked;
    if (read_finished(r, cqe->res, b->direct)) {
      b->again[b->again_count++] = (size_t)(r - b->requests);
    } else {
      b->unfinished--;
    }
  }
  __atomic_store_n(ring->cq_head, head, __ATOMIC_RELEASE);
}

/* Reads the kernel holds: in flight minus the entries it has not taken from the submission queue. */
static unsigned in_kernel(const Engine *e) {
  Ring *ring = e->ring;
  return e->in_flight - (*ring->sq_tail - __atomic_load_n(ring->sq_head, __ATOMIC_ACQUIRE));
}

/* Waits (blocking) until the kernel holds no read of ours: their memory may be reused or freed after. */
static void drain(Engine *e) {
  while (in_kernel(e) > 0) {
    if (ring_enter(e->ring, 0, 1, IORING_ENTER_GETEVENTS) < 0) sched_yield();
    reap(e);
  }
}

/* The ring failed (not a read): wait for what the kernel holds, then read the rest with pread for good. */
static void drop_ring(Engine *e) {
  drain(e);
  e->in_flight = 0;
  e->bytes_in_flight = 0;
  finish_with_pread(e);
  if (e->polling) uv_poll_stop(&e->poll);
  e->polling = 0;
  ring_close(e->ring);
  e->ring = NULL;
}

/* Whether another read may go in flight: below the depth, and below the byte limit or with none in flight. */
static int room(const Engine *e) {
  return e->in_flight < e->depth && (e->max_bytes == 0 || e->in_flight == 0 || e->bytes_in_flight < e->max_bytes);
}

static void submit_read(Engine *e, unsigned *tail, Batch *b, Request *r) {
  r->asked = next_length(r);
  ring_prepare_read(e->ring, (*tail)++, b->fd, r, (uint64_t)(uintptr_t)r);
  e->in_flight++;
  e->bytes_in_flight += r->asked;
}

/* Puts reads in the submission queue, older batches first, within the limits, and submits them. */
static void pump(Engine *e) {
  Ring *ring = e->ring;
  unsigned tail = *ring->sq_tail;
  for (Batch *b = e->head; b && room(e); b = b->next) {
    while (b->again_count > 0 && room(e)) submit_read(e, &tail, b, &b->requests[b->again[--b->again_count]]);
    while (b->submitted < b->count && room(e)) submit_read(e, &tail, b, &b->requests[b->submitted++]);
  }
  __atomic_store_n(ring->sq_tail, tail, __ATOMIC_RELEASE);
  unsigned unsubmitted = tail - __atomic_load_n(ring->sq_head, __ATOMIC_ACQUIRE);
  if (unsubmitted == 0) return;
  int n = ring_enter(ring, unsubmitted, 0, 0);
  /* The kernel may take fewer entries (out of memory: EAGAIN, EBUSY); the rest go with the next
     completion. With nothing of ours in the kernel there would be no next completion: give up the ring. */
  if ((n < 0 && n != -EAGAIN && n != -EBUSY) || (n <= 0 && in_kernel(e) == 0)) drop_ring(e);
}

static void on_ready(uv_poll_t *handle, int status, int events);

/* Watches the eventfd while batches are unsettled; an idle engine does not keep the event loop alive. */
static void watch(Engine *e) {
  if (!e->ring) return;
  if (e->head && !e->polling) {
    e->polling = uv_poll_start(&e->poll, UV_READABLE, on_ready) == 0;
    if (!e->polling) drop_ring(e);
  } else if (!e->head && e->polling) {
    uv_poll_stop(&e->poll);
    e->polling = 0;
  }
}

static void on_ready(uv_poll_t *handle, int status, int events) {
  (void)events;
  Engine *e = handle->data;
  uint64_t count;
  if (read(e->event_fd, &count, sizeof count) < 0 && errno != EAGAIN) status = -errno;
  napi_handle_scope handles;
  napi_open_handle_scope(e->env, &handles);
  napi_value resource;
  napi_get_reference_value(e->env, e->resource, &resource);
  /* Promise reactions run when this scope closes, as after any callback from the event loop. */
  napi_callback_scope scope;
  napi_open_callback_scope(e->env, resource, e->context, &scope);
  if (status < 0) {
    drop_ring(e);
  } else {
    reap(e);
    pump(e);
  }
  settle(e);
  watch(e);
  napi_close_callback_scope(e->env, scope);
  napi_close_handle_scope(e->env, handles);
}

static void on_closed(uv_handle_t *handle) {
  Engine *e = handle->data;
  if (e->ring) ring_close(e->ring);
  close(e->event_fd);
  napi_remove_async_cleanup_hook(e->cleanup);
  free(e);
}

/* A ring with an eventfd the thread's event loop watches, or none (reads then go through pread). */
static void open_ring(Engine *e) {
  e->event_fd = -1;
  /* Not IORING_SETUP_DEFER_TASKRUN: that leaves completion work to the thread's next entry into the ring
     with GETEVENTS, and the event loop enters only when the eventfd fires. A buffered read that misses
     the page cache completes through such work, which the kernel may leave pending without signalling
     the eventfd (the thread then waits for good with its batch unsettled); with cooperative task work the
     kernel posts the completion and signals the eventfd at the thread's next kernel transition, waking
     it from its epoll wait. */
  e->ring = ring_open(IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN);
  if (!e->ring) return;
  uv_loop_t *loop;
  e->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (e->event_fd < 0 || syscall(__NR_io_uring_register, e->ring->fd, IORING_REGISTER_EVENTFD, &e->event_fd, 1) < 0 ||
      napi_get_uv_event_loop(e->env, &loop) != napi_ok || uv_poll_init(loop, &e->poll, e->event_fd) != 0) {
    if (e->event_fd >= 0) close(e->event_fd);
    e->event_fd = -1;
    ring_close(e->ring);
    e->ring = NULL;
    return;
  }
  e->poll.data = e;
  e->poll_open = 1;
}
#endif

static void on_cleanup(napi_async_cleanup_hook_handle handle, void *data) {
  Engine *e = data;
  e->cleanup = handle;
#ifdef HAVE_IO_URING
  if (e->ring) drain(e);
#endif
  while (e->head) {
    Batch *b = e->head;
    e->head = b->next;
    free_batch(e->env, b);
  }
  napi_async_destroy(e->env, e->context);
  napi_delete_reference(e->env, e->resource);
#ifdef HAVE_IO_URING
  if (e->poll_open) {
    uv_close((uv_handle_t *)&e->poll, on_closed);
    return;
  }
#endif
  napi_remove_async_cleanup_hook(handle);
  free(e);
}

/* This environment's engine, made on first use; NULL (with an exception pending) when it cannot be. */
static Engine *engine_of(napi_env env) {
  void **slot = async_engine_slot(env);
  if (!slot) {
    napi_throw_error(env, "ERR_NATIVE", "native module is not initialised on this thread");
    return NULL;
  }
  if (*slot) return *slot;
  Engine *e = calloc(1, sizeof *e);
  if (!e) {
    napi_throw_error(env, "ENOMEM", "readBatchAsync: out of memory");
    return NULL;
  }
  e->env = env;
  napi_value resource, name;
  if (napi_create_object(env, &resource) != napi_ok || napi_create_reference(env, resource, 1, &e->resource) != napi_ok ||
      napi_create_string_utf8(env, "lance-loader:readBatchAsync", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, resource, name, &e->context) != napi_ok) {
    if (e->resource) napi_delete_reference(env, e->resource);
    free(e);
    napi_throw_error(env, "ERR_NATIVE", "readBatchAsync: cannot set up its async context");
    return NULL;
  }
  /* The hook first, so a failure leaves no poll handle to close (its close is asynchronous). */
  if (napi_add_async_cleanup_hook(env, on_cleanup, e, &e->cleanup) != napi_ok) {
    napi_async_destroy(env, e->context);
    napi_delete_reference(env, e->resource);
    free(e);
    napi_throw_error(env, "ERR_NATIVE", "readBatchAsync: cannot register its cleanup");
    return NULL;
  }
#ifdef HAVE_IO_URING
  open_ring(e);
#endif
  *slot = e;
  return e;
}

napi_value ReadBatchAsync(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  BatchArgs args;
  double max_bytes = 0;
  napi_valuetype done_type;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 8) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "readBatchAsync takes 8 arguments");
    return NULL;
  }
  if (!batch_args(env, argv, &args)) return NULL;
  if (napi_get_value_double(env, argv[6], &max_bytes) != napi_ok || !(max_bytes >= 0 && max_bytes <= 9007199254740991.0)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "maxBytesInFlight must be a non-negative number");
    return NULL;
  }
  if (napi_typeof(env, argv[7], &done_type) != napi_ok || done_type != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "done must be a function");
    return NULL;
  }
  Engine *e = engine_of(env);
  if (!e) return NULL;
  /* One allocation: the batch, its requests, the indexes of requests to read on, the references to the
     targets, and the targets' values while the call runs. */
  size_t per_read = sizeof(Request) + sizeof(size_t) + sizeof(napi_ref) + sizeof(napi_value);
  Batch *b = args.count <= (SIZE_MAX - sizeof *b) / per_read ? calloc(1, sizeof *b + args.count * per_read) : NULL;
  if (!b) {
    napi_throw_error(env, "ENOMEM", "readBatchAsync: out of memory for the request table");
    return NULL;
  }
  b->requests = (Request *)(b + 1);
  b->again = (size_t *)(b->requests + args.count);
  b->target_refs = (napi_ref *)(b->again + args.count);
  napi_value *values = (napi_value *)(b->target_refs + args.count);
  b->count = args.count; /* free_batch walks target_refs: the calloc left them NULL */
  if (!batch_requests(env, &args, b->requests, values)) {
    free_batch(env, b);
    return NULL;
  }
  int held = napi_create_reference(env, args.results, 1, &b->results_ref) == napi_ok &&
             napi_create_reference(env, argv[7], 1, &b->done_ref) == napi_ok;
  for (size_t i = 0; held && i < args.count; i++) held = napi_create_reference(env, values[i], 1, &b->target_refs[i]) == napi_ok;
  if (!held) {
    free_batch(env, b);
    napi_throw_error(env, "ERR_NATIVE", "readBatchAsync: cannot hold its targets");
    return NULL;
  }
  b->unfinished = args.count;
  b->fd = args.fd;
  b->direct = args.direct;
  for (size_t i = 0; i < b->count; i++) b->requests[i].owner = b;
#ifdef HAVE_IO_URING
  /* A stale fd number reused by the engine's own eventfd or ring: a read of the eventfd would wait for a
     completion that only its own end could bring, and hang the thread's reads for good. */
  if (e->ring && (args.fd == e->event_fd || args.fd == e->ring->fd)) {
    for (size_t i = 0; i < b->count; i++) b->requests[i].error = EBADF;
    b->unfinished = 0;
    b->submitted = b->count;
  }
#endif
  if (e->tail) e->tail->next = b;
  else e->head = b;
  e->tail = b;
#ifdef HAVE_IO_URING
  if (e->ring) {
    e->depth = args.queue_depth < e->ring->entries ? args.queue_depth : e->ring->entries;
    e->max_bytes = (size_t)max_bytes;
    pump(e);
  }
  if (!e->ring) finish_with_pread(e);
  /* Settle first: a batch with nothing to read is done now, and the eventfd is watched only while
     batches wait for it (a watch without them would keep the event loop alive for good). */
  settle(e);
  watch(e);
  if (!e->ring) {
    finish_with_pread(e); /* the watch could not start: the ring was dropped */
    settle(e);
  }
#else
  finish_with_pread(e);
  settle(e);
#endif
  return NULL;
}
