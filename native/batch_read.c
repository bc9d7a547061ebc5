/*
 * Batched positional reads for lance-loader: one call from JavaScript reads many (position, target)
 * pairs of one file descriptor, blocking the calling thread until all are done.
 *
 * On Linux the reads go through an io_uring owned by the calling thread (one per Node environment, so
 * one per worker thread), keeping up to `queueDepth` reads in flight: an O_DIRECT batch reaches the
 * disk's queue depth from a single thread, and a page-cache batch costs one kernel entry per
 * `queueDepth` reads instead of one per read. Where io_uring cannot be set up (other systems,
 * io_uring_disabled, a seccomp filter) the same call loops over pread(2).
 *
 * readBatch(fd, positions: Float64Array, targets: Uint8Array[], queueDepth, direct, results: Float64Array)
 *   reads targets[i].byteLength bytes at positions[i] into targets[i] (ArrayBuffer or SharedArrayBuffer
 *   memory); results[i] gets the bytes read (less than asked at end of file) or -errno. With `direct`,
 *   a read stops at a short read that ends inside a 512-byte sector (end of file under O_DIRECT).
 * engine() -> "io_uring" | "pread"
 * gatherValues(...): native/gather.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <unistd.h>

#include <node_api.h>

#include "addon.h"

#ifdef __linux__
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#define HAVE_IO_URING 1
#endif

#define RING_ENTRIES 256
#define MAX_SUBMIT_BYTES (1u << 30)
#define SECTOR_BYTES 512

typedef struct {
  uint8_t *data;
  size_t length;
  uint64_t position;
  size_t done;
  int error; /* errno, 0 while fine */
} Request;

/* A request needs more reading when it has no error, is not complete, and its last read did not end it. */
static int read_more(const Request *r, ssize_t last, int direct) {
  if (last == 0) return 0;
  if (r->done >= r->length) return 0;
  if (direct && r->done % SECTOR_BYTES != 0) return 0;
  return 1;
}

static size_t next_length(const Request *r) {
  size_t left = r->length - r->done;
  return left > MAX_SUBMIT_BYTES ? MAX_SUBMIT_BYTES : left;
}

/* Reads every request that is not yet finished (complete, at end of file, or failed) with pread. */
static void read_with_pread(int fd, Request *requests, size_t count, int direct) {
  for (size_t i = 0; i < count; i++) {
    Request *r = &requests[i];
    if (r->error != 0 || (direct && r->done % SECTOR_BYTES != 0)) continue;
    while (r->done < r->length) {
      ssize_t n = pread(fd, r->data + r->done, next_length(r), (off_t)(r->position + r->done));
      if (n < 0) {
        if (errno == EINTR) continue;
        r->error = errno;
        break;
      }
      r->done += (size_t)n;
      if (!read_more(r, n, direct)) break;
    }
  }
}

#ifdef HAVE_IO_URING
typedef struct {
  int fd;
  unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
  unsigned *cq_head, *cq_tail, *cq_mask;
  struct io_uring_sqe *sqes;
  struct io_uring_cqe *cqes;
  unsigned entries;
  void *sq_map, *cq_map, *sqe_map;
  size_t sq_map_bytes, cq_map_bytes, sqe_map_bytes;
} Ring;

static void ring_close(Ring *ring) {
  if (ring->sqe_map) munmap(ring->sqe_map, ring->sqe_map_bytes);
  if (ring->cq_map && ring->cq_map != ring->sq_map) munmap(ring->cq_map, ring->cq_map_bytes);
  if (ring->sq_map) munmap(ring->sq_map, ring->sq_map_bytes);
  if (ring->fd >= 0) close(ring->fd);
  free(ring);
}

static Ring *ring_open(void) {
  struct io_uring_params params;
  memset(&params, 0, sizeof params);
  /* Only this thread submits, and completions are reaped while it waits in io_uring_enter: completion
     work is deferred to that wait instead of interrupting the thread (kernels >= 6.1; else plain flags). */
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  int fd = (int)syscall(__NR_io_uring_setup, RING_ENTRIES, &params);
  if (fd < 0) {
    memset(&params, 0, sizeof params);
    fd = (int)syscall(__NR_io_uring_setup, RING_ENTRIES, &params);
  }
  if (fd < 0) return NULL;
  Ring *ring = calloc(1, sizeof *ring);
  if (!ring) {
    close(fd);
    return NULL;
  }
  ring->fd = fd;
  ring->entries = params.sq_entries;
  ring->sq_map_bytes = params.sq_off.array + params.sq_entries * sizeof(unsigned);
  ring->cq_map_bytes = params.cq_off.cqes + params.cq_entries * sizeof(struct io_uring_cqe);
  int single = (params.features & IORING_FEAT_SINGLE_MMAP) != 0;
  if (single) {
    if (ring->cq_map_bytes > ring->sq_map_bytes) ring->sq_map_bytes = ring->cq_map_bytes;
    ring->cq_map_bytes = ring->sq_map_bytes;
  }
  ring->sq_map = mmap(NULL, ring->sq_map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
  if (ring->sq_map == MAP_FAILED) ring->sq_map = NULL;
  ring->cq_map = single ? ring->sq_map : mmap(NULL, ring->cq_map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_CQ_RING);
  if (ring->cq_map == MAP_FAILED) ring->cq_map = NULL;
  ring->sqe_map_bytes = params.sq_entries * sizeof(struct io_uring_sqe);
  ring->sqe_map = mmap(NULL, ring->sqe_map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
  if (ring->sqe_map == MAP_FAILED) ring->sqe_map = NULL;
  if (!ring->sq_map || !ring->cq_map || !ring->sqe_map) {
    ring_close(ring);
    return NULL;
  }
  char *sq = ring->sq_map, *cq = ring->cq_map;
  ring->sq_head = (unsigned *)(sq + params.sq_off.head);
  ring->sq_tail = (unsigned *)(sq + params.sq_off.tail);
  ring->sq_mask = (unsigned *)(sq + params.sq_off.ring_mask);
  ring->sq_array = (unsigned *)(sq + params.sq_off.array);
  ring->cq_head = (unsigned *)(cq + params.cq_off.head);
  ring->cq_tail = (unsigned *)(cq + params.cq_off.tail);
  ring->cq_mask = (unsigned *)(cq + params.cq_off.ring_mask);
  ring->cqes = (struct io_uring_cqe *)(cq + params.cq_off.cqes);
  ring->sqes = ring->sqe_map;
  return ring;
}

/*
 * Keeps up to queue_depth reads in flight until every request is complete, at end of file, or failed.
 * `pending` is scratch for request indexes waiting for a submission (a FIFO of at most `count` entries:
 * a request is in it or in flight, never both). Returns 0, or an errno of io_uring_enter itself: then
 * nothing is in flight any more and unfinished requests are left for pread.
 */
static int read_with_ring(Ring *ring, int fd, Request *requests, size_t count, unsigned queue_depth, int direct, size_t *pending) {
  size_t queued = count, first = 0; /* pending[first .. first + queued) modulo count */
  for (size_t i = 0; i < count; i++) pending[i] = i;
  unsigned in_flight = 0;
  int failed = 0;
  if (queue_depth > ring->entries) queue_depth = ring->entries;
  while (queued > 0 || in_flight > 0) {
    unsigned tail = *ring->sq_tail, submit = 0;
    while (queued > 0 && in_flight < queue_depth) {
      size_t index = pending[first];
      first = (first + 1) % count;
      queued--;
      Request *r = &requests[index];
      unsigned slot = tail & *ring->sq_mask;
      struct io_uring_sqe *sqe = &ring->sqes[slot];
      memset(sqe, 0, sizeof *sqe);
      sqe->opcode = IORING_OP_READ;
      sqe->fd = fd;
      sqe->off = r->position + r->done;
      sqe->addr = (uint64_t)(uintptr_t)(r->data + r->done);
      sqe->len = (uint32_t)next_length(r);
      sqe->user_data = index;
      ring->sq_array[slot] = slot;
      tail++;
      submit++;
      in_flight++;
    }
    __atomic_store_n(ring->sq_tail, tail, __ATOMIC_RELEASE);
    /* Entries not yet taken by the kernel (an interrupted enter may have taken some or none). */
    unsigned unsubmitted = tail - __atomic_load_n(ring->sq_head, __ATOMIC_ACQUIRE);
    if (syscall(__NR_io_uring_enter, ring->fd, failed ? 0 : unsubmitted, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0) {
      int error = errno;
      if (failed) {
        sched_yield(); /* draining after a failure: completions still land in the ring's memory */
      } else if (error != EINTR && error != EAGAIN && error != EBUSY) {
        /* Reads in flight write into JavaScript memory: reap every one before giving up on the ring. The
           entries the kernel never took stay unread (pread finishes them). */
        failed = error;
        queued = 0;
        in_flight -= unsubmitted;
      }
    }
    unsigned head = *ring->cq_head;
    unsigned cq_tail = __atomic_load_n(ring->cq_tail, __ATOMIC_ACQUIRE);
    for (; head != cq_tail; head++) {
      struct io_uring_cqe *cqe = &ring->cqes[head & *ring->cq_mask];
      Request *r = &requests[cqe->user_data];
      in_flight--;
      int res = cqe->res;
      int again = 0;
      if (res == -EINTR || res == -EAGAIN) {
        again = 1;
      } else if (res < 0) {
        r->error = -res;
      } else {
        r->done += (size_t)res;
        again = read_more(r, res, direct);
      }
      if (again && !failed) {
        pending[(first + queued) % count] = cqe->user_data;
        queued++;
      }
    }
    __atomic_store_n(ring->cq_head, head, __ATOMIC_RELEASE);
  }
  return failed;
}
#endif

typedef struct {
#ifdef HAVE_IO_URING
  Ring *ring;
  int ring_failed;
#endif
  Request *requests;
  size_t *pending;
  size_t capacity;
} Thread;

static void thread_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  Thread *thread = data;
#ifdef HAVE_IO_URING
  if (thread->ring) ring_close(thread->ring);
#endif
  free(thread->requests);
  free(thread->pending);
  free(thread);
}

static Thread *thread_of(napi_env env) {
  Thread *thread = NULL;
  if (napi_get_instance_data(env, (void **)&thread) != napi_ok) return NULL;
  return thread;
}

#ifdef HAVE_IO_URING
static Ring *ring_of(Thread *thread) {
  if (!thread->ring && !thread->ring_failed) {
    thread->ring = ring_open();
    thread->ring_failed = thread->ring == NULL;
  }
  return thread->ring;
}
#endif

static napi_value throw_type(napi_env env, const char *message) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
  return NULL;
}

int typed_array_of(napi_env env, napi_value value, napi_typedarray_type want, void **data, size_t *length) {
  bool is;
  if (napi_is_typedarray(env, value, &is) != napi_ok || !is) return 0;
  napi_typedarray_type type;
  if (napi_get_typedarray_info(env, value, &type, length, data, NULL, NULL) != napi_ok) return 0;
  return type == want;
}

static napi_value ReadBatch(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 6) return throw_type(env, "readBatch takes 6 arguments");
  int32_t fd, queue_depth;
  bool direct;
  double fd_number;
  if (napi_get_value_double(env, argv[0], &fd_number) != napi_ok || !(fd_number >= 0 && fd_number <= 2147483647.0) || fd_number != (double)(int32_t)fd_number) {
    return throw_type(env, "fd must be a non-negative integer");
  }
  fd = (int32_t)fd_number;
  double *positions, *results;
  size_t count, result_count;
  if (!typed_array_of(env, argv[1], napi_float64_array, (void **)&positions, &count)) return throw_type(env, "positions must be a Float64Array");
  bool is_array;
  uint32_t target_count;
  if (napi_is_array(env, argv[2], &is_array) != napi_ok || !is_array) return throw_type(env, "targets must be an array");
  napi_get_array_length(env, argv[2], &target_count);
  if (napi_get_value_int32(env, argv[3], &queue_depth) != napi_ok || queue_depth < 1) return throw_type(env, "queueDepth must be a positive integer");
  if (napi_get_value_bool(env, argv[4], &direct) != napi_ok) return throw_type(env, "direct must be a boolean");
  if (!typed_array_of(env, argv[5], napi_float64_array, (void **)&results, &result_count)) return throw_type(env, "results must be a Float64Array");
  if (target_count != count || result_count < count) return throw_type(env, "positions, targets and results must have the same length");

  Thread *thread = thread_of(env);
  if (!thread) return throw_type(env, "native module is not initialised on this thread");
  if (count > thread->capacity) {
    size_t capacity = count < 64 ? 64 : count;
    Request *requests = realloc(thread->requests, capacity * sizeof *requests);
    if (requests) thread->requests = requests;
    size_t *pending = realloc(thread->pending, capacity * sizeof *pending);
    if (pending) thread->pending = pending;
    if (!requests || !pending) {
      napi_throw_error(env, "ENOMEM", "readBatch: out of memory for the request table");
      return NULL;
    }
    thread->capacity = capacity;
  }
  for (uint32_t i = 0; i < count; i++) {
    napi_value target;
    Request *r = &thread->requests[i];
    if (napi_get_element(env, argv[2], i, &target) != napi_ok || !typed_array_of(env, target, napi_uint8_array, (void **)&r->data, &r->length)) {
      return throw_type(env, "every target must be a Uint8Array");
    }
    double position = positions[i];
    if (!(position >= 0 && position <= 9007199254740991.0) || position != (double)(uint64_t)position) return throw_type(env, "positions must be safe non-negative integers");
    r->position = (uint64_t)position;
    r->done = 0;
    r->error = 0;
  }

  int finished = 0;
#ifdef HAVE_IO_URING
  Ring *ring = count > 1 ? ring_of(thread) : NULL;
  if (ring) {
    if (read_with_ring(ring, fd, thread->requests, count, (unsigned)queue_depth, direct, thread->pending) == 0) {
      finished = 1;
    } else {
      /* The ring itself failed (not a read): drop it for good on this thread and finish with pread. */
      ring_close(ring);
      thread->ring = NULL;
      thread->ring_failed = 1;
    }
  }
#endif
  if (!finished) read_with_pread(fd, thread->requests, count, direct);
  for (size_t i = 0; i < count; i++) {
    Request *r = &thread->requests[i];
    results[i] = r->error ? -(double)r->error : (double)r->done;
  }
  return NULL;
}

static napi_value Engine(napi_env env, napi_callback_info info) {
  (void)info;
  const char *name = "pread";
#ifdef HAVE_IO_URING
  Thread *thread = thread_of(env);
  if (thread && ring_of(thread)) name = "io_uring";
#endif
  napi_value result;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &result);
  return result;
}

NAPI_MODULE_INIT() {
  Thread *thread = calloc(1, sizeof *thread);
  if (!thread || napi_set_instance_data(env, thread, thread_finalize, NULL) != napi_ok) {
    free(thread);
    napi_throw_error(env, "ENOMEM", "lance-loader native: cannot allocate thread state");
    return NULL;
  }
  napi_property_descriptor properties[] = {
      {"readBatch", NULL, ReadBatch, NULL, NULL, NULL, napi_default, NULL},
      {"engine", NULL, Engine, NULL, NULL, NULL, napi_default, NULL},
      {"gatherValues", NULL, GatherValues, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  return exports;
}
