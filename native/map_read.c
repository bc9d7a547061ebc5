/*
 * Buffered reads out of a read-only shared mapping of a file: one call copies a whole batch of ranges
 * from the mapping into their targets, with no syscall and no page-cache lookup per range once the
 * file's pages are mapped (a pread or an io_uring read walks the page cache and copies through the
 * kernel's iterator for every range).
 *
 * mapFile(fd, bytes) -> mapping | string
 *   Maps the first `bytes` bytes of `fd` (PROT_READ, MAP_SHARED) advised MADV_RANDOM (a fault reads
 *   only its page: rows are read in shuffled order, so read-around would read neighbours nobody asked
 *   for); returns a handle, or why the file cannot be mapped (then the caller reads as before).
 *   The mapping keeps a duplicate of `fd` (closed with it), so it outlives the caller's descriptor and
 *   can be shared by several readers of the file. At most mapLimit() files are mapped in the process at
 *   once (each mapping is an entry of vm.max_map_count, past which every mmap of the process fails: V8's
 *   and malloc's too); beyond that mapFile returns "too many mapped files".
 * unmapFile(mapping)
 *   Unmaps it now (idempotent); the handle's finalizer unmaps a mapping never unmapped.
 * mapLimit(files?) -> number
 *   The most files mapped at once: min(4096, vm.max_map_count / 8) unless set (internal: tests set a
 *   small one). Returns the limit in force.
 * copyMapped(mapping, positions: Float64Array, targets: Uint8Array[], results: Float64Array) -> number
 *   Copies targets[i].byteLength bytes at positions[i] of the mapping into targets[i], in order, and
 *   returns the major page faults the thread took meanwhile (-1: nothing copied, the SIGBUS handler was
 *   replaced; see below). results[i] gets the bytes copied, -EFAULT
 *   when the pages under the range are gone (the file was truncated: SIGBUS), or -EAGAIN when the range
 *   was not copied: the copy looks at the thread's major faults after every FAULT_CHECK_BYTES copied
 *   (a large range is copied in pieces of that size) or FAULT_CHECK_RANGES ranges, whichever comes
 *   first, and stops at the first look that finds new ones, since pages not in the page cache fault in
 *   one synchronous read each (MADV_RANDOM: one page a fault), where io_uring keeps a queue of reads in
 *   flight; the caller reads the range it stopped in and those after it another way. A cold call so
 *   costs at most FAULT_CHECK_BYTES / 4 KiB synchronous page reads. A range that ends past the file's
 *   size after the copy gets -EAGAIN too: its last page may still be mapped, past the end of the file
 *   it reads as zeros where a read would stop short.
 *
 * SIGBUS: an access to a mapped page past the file's end raises it. A handler (SA_SIGINFO, SA_ONSTACK,
 * SA_NODEFER) is installed once, the first time a file is mapped. During a copy the thread's guard holds
 * a jump buffer and the mapping's bounds: a SIGBUS at an address inside them jumps back out of the copy
 * and the range gets -EFAULT. Any other SIGBUS goes to the handler installed before this one, is ignored
 * if that was SIG_IGN (a sent one; a fault's cannot be ignored), or gets the default action (the process
 * ends as it would have). A handler installed over this one later (a
 * `process.on('SIGBUS')` listener: libuv's) would return into the fault for ever, so each copy first
 * checks that the handler is still this one, and copies nothing otherwise (every range -EAGAIN, and
 * copyMapped returns -1 rather than a count of faults, so the caller can stop trying).
 * SIGSEGV is left alone (V8 owns it). SA_NODEFER
 * keeps SIGBUS unblocked after the jump, so the jump buffer need not save the signal mask (sigsetjmp
 * with 0: no syscall per copy).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "addon.h"
#include "read.h"

/* Bytes and ranges copied between two looks at the thread's major faults (a getrusage each): a cold
   file costs at most this many bytes of synchronous page faults per call before the caller turns to
   queued reads, and a warm one a look per 64 KiB copied, small beside the copy itself. */
#define FAULT_CHECK_BYTES ((size_t)64 * 1024)
#define FAULT_CHECK_RANGES 8

/* The most files mapped at once when vm.max_map_count does not say less (an eighth of it). */
#define MAPPED_FILES_LIMIT 4096

typedef struct {
  uint8_t *base;
  size_t bytes; /* 0 once unmapped */
  int fd; /* a duplicate of the caller's, closed with the mapping (fstat after the copy) */
} Mapping;

static pthread_once_t handler_once = PTHREAD_ONCE_INIT;
static int handler_error;
static struct sigaction previous_bus;

/* Files mapped now in the process, and the most allowed (set once by limit_once, or by mapLimit). */
static atomic_long mapped_files;
static atomic_long mapped_files_limit;
static pthread_once_t limit_once = PTHREAD_ONCE_INIT;

static void set_default_limit(void) {
  long limit = MAPPED_FILES_LIMIT;
  FILE *file = fopen("/proc/sys/vm/max_map_count", "r");
  long max_map_count;
  if (file) {
    if (fscanf(file, "%ld", &max_map_count) == 1 && max_map_count / 8 < limit) limit = max_map_count / 8;
    fclose(file);
  }
  atomic_store(&mapped_files_limit, limit);
}

/* Unmaps and closes the mapping's descriptor once; the count of mapped files goes down with it. */
static void unmap(Mapping *mapping) {
  if (!mapping->bytes) return;
  munmap(mapping->base, mapping->bytes);
  close(mapping->fd);
  mapping->bytes = 0;
  atomic_fetch_sub(&mapped_files, 1);
}

/* The thread's guard: set only while it copies out of a mapping. Initial-exec: in the static TLS block
   set up with the thread, so the handler's reads never allocate (a dynamic TLS block is allocated on a
   thread's first access, which is not async-signal-safe). */
#define SIGNAL_SAFE_TLS __thread __attribute__((tls_model("initial-exec")))
static SIGNAL_SAFE_TLS sigjmp_buf *guard_jump;
static SIGNAL_SAFE_TLS const uint8_t *guard_start, *guard_end;

static void on_bus(int sig, siginfo_t *info, void *context) {
  sigjmp_buf *jump = guard_jump;
  const uint8_t *address = info->si_addr;
  if (jump && address >= guard_start && address < guard_end) {
    guard_jump = NULL;
    siglongjmp(*jump, 1);
  }
  if (previous_bus.sa_flags & SA_SIGINFO) {
    previous_bus.sa_sigaction(sig, info, context);
    return;
  }
  /* Ignored before this handler: a SIGBUS sent by someone is ignored still. A fault is not: the kernel
     never lets a process ignore a fault's SIGBUS (it resets the action to the default), so it gets the
     default action below as it would have. */
  if (previous_bus.sa_handler == SIG_IGN && info->si_code <= 0) return;
  if (previous_bus.sa_handler != SIG_DFL && previous_bus.sa_handler != SIG_IGN) {
    previous_bus.sa_handler(sig);
    return;
  }
  /* The default action: a fault re-executes and ends the process with SIGBUS as before this handler; a
     SIGBUS sent by someone is sent again. */
  struct sigaction fallback;
  memset(&fallback, 0, sizeof fallback);
  fallback.sa_handler = SIG_DFL;
  sigemptyset(&fallback.sa_mask);
  sigaction(SIGBUS, &fallback, NULL);
  if (info->si_code <= 0) raise(sig);
}

static void install_handler(void) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_sigaction = on_bus;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&action.sa_mask);
  if (sigaction(SIGBUS, &action, &previous_bus) != 0) handler_error = errno;
}

static void mapping_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  Mapping *mapping = data;
  unmap(mapping);
  free(mapping);
}

static Mapping *mapping_of(napi_env env, napi_value value) {
  napi_valuetype type;
  void *data = NULL;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_external || napi_get_value_external(env, value, &data) != napi_ok) return NULL;
  return data;
}

static napi_value string_of(napi_env env, const char *what, int error) {
  char message[160];
  snprintf(message, sizeof message, "%s: %s", what, strerror(error));
  napi_value result;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &result);
  return result;
}

napi_value MapFile(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  double fd_number, requested;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2 || napi_get_value_double(env, argv[0], &fd_number) != napi_ok ||
      napi_get_value_double(env, argv[1], &requested) != napi_ok || !(fd_number >= 0 && fd_number <= 2147483647.0) ||
      fd_number != (double)(int32_t)fd_number || !(requested >= 1 && requested <= 9007199254740991.0) || requested != (double)(uint64_t)requested ||
      (uint64_t)requested > SIZE_MAX) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "mapFile takes a file descriptor and a byte count >= 1");
    return NULL;
  }
  pthread_once(&handler_once, install_handler);
  if (handler_error) return string_of(env, "SIGBUS handler not installed", handler_error);
  pthread_once(&limit_once, set_default_limit);
  long limit = atomic_load(&mapped_files_limit);
  if (atomic_fetch_add(&mapped_files, 1) >= limit) {
    atomic_fetch_sub(&mapped_files, 1);
    char message[96];
    snprintf(message, sizeof message, "too many mapped files (%ld in this process at most)", limit);
    napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &result);
    return result;
  }
  size_t bytes = (size_t)requested;
  const char *failed = NULL;
  int error = 0;
  Mapping *mapping = NULL;
  void *base = mmap(NULL, bytes, PROT_READ, MAP_SHARED, (int)fd_number, 0);
  if (base == MAP_FAILED) {
    failed = "mmap failed";
    error = errno;
    goto fail;
  }
  madvise(base, bytes, MADV_RANDOM);
  int fd = fcntl((int)fd_number, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) {
    failed = "dup failed";
    error = errno;
    munmap(base, bytes);
    goto fail;
  }
  mapping = malloc(sizeof *mapping);
  if (!mapping) {
    munmap(base, bytes);
    close(fd);
    failed = "mapping state";
    error = ENOMEM;
    goto fail;
  }
  mapping->base = base;
  mapping->bytes = bytes;
  mapping->fd = fd;
  if (napi_create_external(env, mapping, mapping_finalize, NULL, &result) != napi_ok) {
    unmap(mapping);
    free(mapping);
    return string_of(env, "mapping handle", ENOMEM);
  }
  return result;
fail:
  atomic_fetch_sub(&mapped_files, 1);
  return string_of(env, failed, error);
}

napi_value MapLimit(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  double files;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc > 1 ||
      (argc == 1 && (napi_get_value_double(env, argv[0], &files) != napi_ok || !(files >= 0 && files <= 1e9) || files != (double)(long)files))) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "mapLimit takes nothing or a count of files >= 0");
    return NULL;
  }
  pthread_once(&limit_once, set_default_limit);
  if (argc == 1) atomic_store(&mapped_files_limit, (long)files);
  napi_create_double(env, (double)atomic_load(&mapped_files_limit), &result);
  return result;
}

napi_value UnmapFile(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  Mapping *mapping;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 || !(mapping = mapping_of(env, argv[0]))) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "unmapFile takes a mapping from mapFile");
    return NULL;
  }
  unmap(mapping);
  return NULL;
}

static int handler_in_place(void) {
  struct sigaction current;
  return sigaction(SIGBUS, NULL, &current) == 0 && (current.sa_flags & SA_SIGINFO) && current.sa_sigaction == on_bus;
}

static long major_faults(void) {
  struct rusage usage;
  return getrusage(RUSAGE_THREAD, &usage) == 0 ? usage.ru_majflt : 0;
}

/*
 * Copies requests[from ..) out of the mapping until one faults (returned, with *faulted set), a look at
 * the thread's major faults finds new ones, or all are done; returns the index of the first range not
 * copied whole (a range the look stopped inside is left with done 0, for the caller to read again).
 */
static size_t copy_guarded(const Mapping *mapping, Request *requests, size_t from, size_t count, long faults, int *faulted) {
  sigjmp_buf jump;
  volatile size_t at = from;
  *faulted = 0;
  if (sigsetjmp(jump, 0)) {
    *faulted = 1;
    return at;
  }
  guard_start = mapping->base;
  guard_end = mapping->base + mapping->bytes;
  guard_jump = &jump;
  size_t bytes_unlooked = 0, ranges_unlooked = 0;
  for (; at < count; at++) {
    Request *r = &requests[at];
    const uint8_t *source = mapping->base + r->position;
    size_t copied = 0;
    int cold = 0;
    while (copied < r->length) { /* an empty target's data may be NULL: never touched */
      size_t piece = r->length - copied;
      if (piece > FAULT_CHECK_BYTES - bytes_unlooked) piece = FAULT_CHECK_BYTES - bytes_unlooked;
      memcpy(r->data + copied, source + copied, piece);
      copied += piece;
      bytes_unlooked += piece;
      if (bytes_unlooked == FAULT_CHECK_BYTES) {
        bytes_unlooked = ranges_unlooked = 0;
        if ((cold = major_faults() != faults)) break;
      }
    }
    if (copied == r->length && !cold && ++ranges_unlooked == FAULT_CHECK_RANGES) {
      bytes_unlooked = ranges_unlooked = 0;
      cold = major_faults() != faults;
    }
    if (copied == r->length) r->done = r->length;
    if (cold) {
      if (copied == r->length) at++;
      break;
    }
  }
  guard_jump = NULL;
  return at;
}

napi_value CopyMapped(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], result;
  Mapping *mapping;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 4 || !(mapping = mapping_of(env, argv[0]))) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "copyMapped takes a mapping, positions, targets and results");
    return NULL;
  }
  if (!mapping->bytes) {
    napi_throw_error(env, "ERR_UNMAPPED", "copyMapped: the file was unmapped");
    return NULL;
  }
  BatchArgs args = {.positions = argv[1], .targets = argv[2], .results = argv[3]};
  void *data;
  size_t result_count;
  bool is_array;
  uint32_t target_count;
  if (!typed_array_of(env, args.positions, napi_float64_array, &data, &args.count) || napi_is_array(env, args.targets, &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, args.targets, &target_count) != napi_ok || !typed_array_of(env, args.results, napi_float64_array, &data, &result_count) ||
      target_count != args.count || result_count < args.count) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "copyMapped: positions (Float64Array), targets (Uint8Array[]) and results (Float64Array) of one length");
    return NULL;
  }
  size_t count = args.count;
  Request *requests = malloc((count ? count : 1) * sizeof *requests);
  napi_value *values = malloc((count ? count : 1) * sizeof *values);
  if (!requests || !values) {
    free(requests);
    free(values);
    napi_throw_error(env, "ENOMEM", "copyMapped: out of memory for the request table");
    return NULL;
  }
  size_t stopped = 0;
  result = NULL;
  if (batch_requests(env, &args, requests, values)) {
    for (size_t i = 0; i < count; i++) {
      if (requests[i].position > mapping->bytes || requests[i].length > mapping->bytes - requests[i].position) {
        napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "copyMapped: a range runs past the mapping");
        goto done;
      }
    }
    long faults = major_faults();
    int faulted;
    int in_place = handler_in_place();
    if (in_place) {
      do {
        stopped = copy_guarded(mapping, requests, stopped, count, faults, &faulted);
        if (faulted) requests[stopped++].error = EFAULT;
      } while (faulted && stopped < count);
    }
    for (size_t i = stopped; i < count; i++) requests[i].error = EAGAIN;
    /* Looked at after the copy: a file cut short before or during it shows here, and one cut after it
       was read whole before the cut, as a read would have been. */
    struct stat file;
    uint64_t size = fstat(mapping->fd, &file) == 0 ? (uint64_t)file.st_size : 0;
    if (size < mapping->bytes) {
      for (size_t i = 0; i < stopped; i++) {
        if (!requests[i].error && requests[i].position + requests[i].length > size) requests[i].error = EAGAIN;
      }
    }
    faults = major_faults() - faults;
    /* Checked by batch_requests, and no JavaScript ran since. */
    double *results;
    if (batch_results_memory(env, args.results, count, &results)) batch_results(requests, count, results);
    napi_create_double(env, in_place ? (double)faults : -1, &result);
  }
done:
  free(requests);
  free(values);
  bool pending;
  if (napi_is_exception_pending(env, &pending) != napi_ok || pending) return NULL;
  return result;
}
