/*
 * What the batch readers share (native/batch_read.c blocking, native/async_read.c with a promise): the
 * table of reads, their pread fallback, argument checking, and on Linux the io_uring they go through
 * (native/ring.c).
 */
#ifndef LANCE_LOADER_READ_H
#define LANCE_LOADER_READ_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <node_api.h>

#ifdef __linux__
#include <linux/io_uring.h>
#define HAVE_IO_URING 1
#endif

#define RING_ENTRIES 256
#define MAX_SUBMIT_BYTES (1u << 30)
#define SECTOR_BYTES 512

/* One read: `length` bytes at `position` into `data`. */
typedef struct {
  uint8_t *data;
  size_t length;
  uint64_t position;
  size_t done;
  int error; /* errno, 0 while fine */
  void *owner; /* the async batch the read belongs to (async_read.c) */
  size_t asked; /* bytes its read in flight asks for (async_read.c) */
} Request;

/* The arguments both readers take: (fd, positions, targets, queueDepth, direct, results). */
typedef struct {
  int fd;
  size_t count;
  napi_value positions, targets, results;
  unsigned queue_depth;
  int direct;
} BatchArgs;

/* Checks the six arguments; on failure a TypeError is pending and 0 is returned. */
int batch_args(napi_env env, napi_value *argv, BatchArgs *args);

/*
 * Fills requests[0 .. args->count) from the targets and positions, and stores each target's value in
 * values[i] (valid during the call); 0 with a TypeError pending on failure. Every element is fetched
 * before any pointer is taken: fetching one can run JavaScript (a getter) that detaches a buffer.
 */
int batch_requests(napi_env env, const BatchArgs *args, Request *requests, napi_value *values);

/* Whether `results` still holds `count` numbers (it may have been detached since the call); if so, its memory. */
int batch_results_memory(napi_env env, napi_value results, size_t count, double **memory);

/* Bytes read or -errno, per request, into results. */
void batch_results(const Request *requests, size_t count, double *results);

/*
 * Accounts a finished read of `r` (bytes, or -errno as io_uring reports it); returns whether `r` needs
 * another read (more bytes wanted, not at end of file, interrupted).
 */
int read_finished(Request *r, ssize_t result, int direct);

/* The bytes the next read of `r` asks for. */
size_t next_length(const Request *r);

/* Reads every request that is not yet finished (complete, at end of file, or failed) with pread. */
void read_with_pread(int fd, Request *requests, size_t count, int direct);

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

/*
 * A ring of RING_ENTRIES for this thread alone, set up with the IORING_SETUP_* `flags` where the kernel
 * takes them and with none where it does not; or NULL.
 */
Ring *ring_open(unsigned flags);
void ring_close(Ring *ring);

/* Puts a read of the rest of `r` at submission-queue position `tail` (published later by the caller). */
void ring_prepare_read(Ring *ring, unsigned tail, int fd, Request *r, uint64_t user_data);

/* io_uring_enter, retried on EINTR: returns its result or -errno. */
int ring_enter(Ring *ring, unsigned to_submit, unsigned min_complete, unsigned flags);

/*
 * Blocking: keeps up to queue_depth reads in flight until every request is complete, at end of file, or
 * failed. Returns 0, or an errno of io_uring_enter itself: then nothing is in flight any more and
 * unfinished requests are left for pread. `pending` is scratch for `count` request indexes.
 */
int read_with_ring(Ring *ring, int fd, Request *requests, size_t count, unsigned queue_depth, int direct, size_t *pending);
#endif

#endif
