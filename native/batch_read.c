/*
 * Batched positional reads for lance-loader: one call from JavaScript reads many (position, target)
 * pairs of one file descriptor.
 *
 * On Linux the reads go through an io_uring of the calling thread (one per Node environment, so one per
 * worker thread), keeping up to `queueDepth` reads in flight: an O_DIRECT batch reaches the disk's queue
 * depth from a single thread, and a page-cache batch costs one kernel entry per `queueDepth` reads
 * instead of one per read. Where io_uring cannot be set up (other systems, io_uring_disabled, a seccomp
 * filter) the same calls loop over pread(2).
 *
 * readBatch(fd, positions: Float64Array, targets: Uint8Array[], queueDepth, direct, results: Float64Array)
 *   reads targets[i].byteLength bytes at positions[i] into targets[i] (ArrayBuffer or SharedArrayBuffer
 *   memory), blocking the calling thread until all are done; results[i] gets the bytes read (less than
 *   asked at end of file) or -errno. With `direct`, a read stops at a short read that ends inside a
 *   512-byte sector (end of file under O_DIRECT).
 * readBatchAsync(...same arguments, maxBytesInFlight, done): native/async_read.c.
 * engine() -> "io_uring" | "pread"
 * gatherValues(...): native/gather.c
 * hugePageBuffer(bytes): native/memory.c
 * mapFile(...), unmapFile(...), copyMapped(...), mapLimit(...): native/map_read.c
 * decodeJpeg(...): native/jpeg.c, where libjpeg-turbo is
 */
#define _GNU_SOURCE
#include <stdlib.h>

#include <node_api.h>

#include "addon.h"
#include "read.h"

typedef struct {
#ifdef HAVE_IO_URING
  Ring *ring;
  int ring_failed;
#endif
  Request *requests;
  size_t *pending;
  napi_value *values;
  size_t capacity;
  void *async_engine; /* async_read.c's, which frees it itself when the environment ends */
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
  free(thread->values);
  free(thread);
}

static Thread *thread_of(napi_env env) {
  Thread *thread = NULL;
  if (napi_get_instance_data(env, (void **)&thread) != napi_ok) return NULL;
  return thread;
}

void **async_engine_slot(napi_env env) {
  Thread *thread = thread_of(env);
  return thread ? &thread->async_engine : NULL;
}

#ifdef HAVE_IO_URING
static Ring *ring_of(Thread *thread) {
  if (!thread->ring && !thread->ring_failed) {
    /* The thread waits for its reads inside io_uring_enter, where deferred completion work runs: none
       of it has to interrupt the thread (kernels >= 6.1). */
    thread->ring = ring_open(IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
    thread->ring_failed = thread->ring == NULL;
  }
  return thread->ring;
}
#endif

static int throw_type(napi_env env, const char *message) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
  return 0;
}

int typed_array_of(napi_env env, napi_value value, napi_typedarray_type want, void **data, size_t *length) {
  bool is;
  if (napi_is_typedarray(env, value, &is) != napi_ok || !is) return 0;
  napi_typedarray_type type;
  if (napi_get_typedarray_info(env, value, &type, length, data, NULL, NULL) != napi_ok) return 0;
  return type == want;
}

int batch_args(napi_env env, napi_value *argv, BatchArgs *args) {
  double fd_number;
  if (napi_get_value_double(env, argv[0], &fd_number) != napi_ok || !(fd_number >= 0 && fd_number <= 2147483647.0) || fd_number != (double)(int32_t)fd_number) {
    return throw_type(env, "fd must be a non-negative integer");
  }
  args->fd = (int)fd_number;
  void *data;
  size_t result_count;
  if (!typed_array_of(env, argv[1], napi_float64_array, &data, &args->count)) return throw_type(env, "positions must be a Float64Array");
  args->positions = argv[1];
  bool is_array;
  uint32_t target_count;
  if (napi_is_array(env, argv[2], &is_array) != napi_ok || !is_array) return throw_type(env, "targets must be an array");
  napi_get_array_length(env, argv[2], &target_count);
  args->targets = argv[2];
  int32_t queue_depth;
  if (napi_get_value_int32(env, argv[3], &queue_depth) != napi_ok || queue_depth < 1) return throw_type(env, "queueDepth must be a positive integer");
  args->queue_depth = (unsigned)queue_depth;
  bool direct;
  if (napi_get_value_bool(env, argv[4], &direct) != napi_ok) return throw_type(env, "direct must be a boolean");
  args->direct = direct;
  if (!typed_array_of(env, argv[5], napi_float64_array, &data, &result_count)) return throw_type(env, "results must be a Float64Array");
  args->results = argv[5];
  if (target_count != args->count || result_count < args->count) return throw_type(env, "positions, targets and results must have the same length");
  return 1;
}

int batch_results_memory(napi_env env, napi_value results, size_t count, double **memory) {
  size_t length;
  return typed_array_of(env, results, napi_float64_array, (void **)memory, &length) && length >= count;
}

int batch_requests(napi_env env, const BatchArgs *args, Request *requests, napi_value *values) {
  for (uint32_t i = 0; i < args->count; i++) {
    if (napi_get_element(env, args->targets, i, &values[i]) != napi_ok) return throw_type(env, "every target must be a Uint8Array");
  }
  /* From here on no JavaScript runs until the reads are queued or done. */
  double *positions, *results;
  size_t position_count;
  if (!typed_array_of(env, args->positions, napi_float64_array, (void **)&positions, &position_count) || position_count != args->count ||
      !batch_results_memory(env, args->results, args->count, &results)) {
    return throw_type(env, "positions or results were detached while the targets were fetched");
  }
  for (uint32_t i = 0; i < args->count; i++) {
    Request *r = &requests[i];
    if (!typed_array_of(env, values[i], napi_uint8_array, (void **)&r->data, &r->length)) return throw_type(env, "every target must be a Uint8Array");
    double position = positions[i];
    if (!(position >= 0 && position <= 9007199254740991.0) || position != (double)(uint64_t)position) return throw_type(env, "positions must be safe non-negative integers");
    r->position = (uint64_t)position;
    r->done = 0;
    r->error = 0;
    r->owner = NULL;
    r->asked = 0;
  }
  return 1;
}

void batch_results(const Request *requests, size_t count, double *results) {
  for (size_t i = 0; i < count; i++) results[i] = requests[i].error ? -(double)requests[i].error : (double)requests[i].done;
}

static napi_value ReadBatch(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  BatchArgs args;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 6) {
    throw_type(env, "readBatch takes 6 arguments");
    return NULL;
  }
  if (!batch_args(env, argv, &args)) return NULL;
  Thread *thread = thread_of(env);
  if (!thread) {
    throw_type(env, "native module is not initialised on this thread");
    return NULL;
  }
  size_t count = args.count;
  if (count > thread->capacity) {
    size_t capacity = count < 64 ? 64 : count;
    Request *requests = realloc(thread->requests, capacity * sizeof *requests);
    if (requests) thread->requests = requests;
    size_t *pending = realloc(thread->pending, capacity * sizeof *pending);
    if (pending) thread->pending = pending;
    napi_value *values = realloc(thread->values, capacity * sizeof *values);
    if (values) thread->values = values;
    if (!requests || !pending || !values) {
      napi_throw_error(env, "ENOMEM", "readBatch: out of memory for the request table");
      return NULL;
    }
    thread->capacity = capacity;
  }
  if (!batch_requests(env, &args, thread->requests, thread->values)) return NULL;

  int finished = 0;
#ifdef HAVE_IO_URING
  Ring *ring = count > 1 ? ring_of(thread) : NULL;
  if (ring) {
    if (read_with_ring(ring, args.fd, thread->requests, count, args.queue_depth, args.direct, thread->pending) == 0) {
      finished = 1;
    } else {
      /* The ring itself failed (not a read): drop it for good on this thread and finish with pread. */
      ring_close(ring);
      thread->ring = NULL;
      thread->ring_failed = 1;
    }
  }
#endif
  if (!finished) read_with_pread(args.fd, thread->requests, count, args.direct);
  /* Checked by batch_requests, and no JavaScript ran since: the results cannot have been detached. */
  double *results;
  if (batch_results_memory(env, args.results, count, &results)) batch_results(thread->requests, count, results);
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
      {"readBatchAsync", NULL, ReadBatchAsync, NULL, NULL, NULL, napi_default, NULL},
      {"gatherValues", NULL, GatherValues, NULL, NULL, NULL, napi_default, NULL},
      {"hugePageBuffer", NULL, HugePageBuffer, NULL, NULL, NULL, napi_default, NULL},
      {"decodeListRows", NULL, DecodeListRows, NULL, NULL, NULL, napi_default, NULL},
      {"mapFile", NULL, MapFile, NULL, NULL, NULL, napi_default, NULL},
      {"unmapFile", NULL, UnmapFile, NULL, NULL, NULL, napi_default, NULL},
      {"copyMapped", NULL, CopyMapped, NULL, NULL, NULL, napi_default, NULL},
      {"mapLimit", NULL, MapLimit, NULL, NULL, NULL, napi_default, NULL},
      JPEG_PROPERTIES
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  return exports;
}
