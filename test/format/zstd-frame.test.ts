import { describe, expect, it } from 'vitest';

import { CorruptFileError, UnsupportedError } from '../../errors.js';
import { parseZstdFrames } from '../../format/zstd-frame.js';
import { caught } from '../caught.js';
import {
  blockHeader,
  concat,
  FOX_FRAME_CHECKSUM,
  FOX_FRAME_NO_SIZE,
  HELLO_WORLD_FRAMES,
  hex,
  PATTERN_FRAME,
  SIMPLE_FRAME,
  u64,
} from '../fixtures/zstd-frames.js';

describe('parseZstdFrames', () => {
  it('reads the content size of a single-segment frame and bounds its compressed block by it', () => {
    expect(parseZstdFrames(PATTERN_FRAME, 0)).toEqual([
      {
        start: 0,
        end: PATTERN_FRAME.length,
        skippable: false,
        contentSize: 4096,
        windowSize: 4096,
        minContentSize: 0,
        maxContentSize: 4096,
        simple: false,
        blocksStart: 7,
      },
    ]);
  });

  it('gives a frame of raw and RLE blocks exact bounds and marks it simple', () => {
    const [frame] = parseZstdFrames(SIMPLE_FRAME, 0);
    expect(frame).toMatchObject({ contentSize: 400, minContentSize: 400, maxContentSize: 400, simple: true });
  });

  it('reports a frame without a content size as -1 with the window its descriptor names', () => {
    const [frame] = parseZstdFrames(FOX_FRAME_NO_SIZE, 0);
    expect(frame).toMatchObject({ contentSize: -1, windowSize: 8 << 20, end: FOX_FRAME_NO_SIZE.length });
  });

  it('counts the content checksum in the frame', () => {
    const [frame] = parseZstdFrames(FOX_FRAME_CHECKSUM, 0);
    expect(frame).toMatchObject({ contentSize: 360, end: FOX_FRAME_CHECKSUM.length });
  });

  it('finds every frame of a concatenation from the start offset on', () => {
    const frames = parseZstdFrames(concat(u64(11), HELLO_WORLD_FRAMES), 8);
    expect(frames.map(({ start, end }) => [start, end])).toEqual([
      [8, 23],
      [23, 8 + HELLO_WORLD_FRAMES.length],
    ]);
  });

  it('skips over a skippable frame', () => {
    // magic 0x184d2a53 (LE: 53 2a 4d 18) | u32 size 3 | 3 bytes of user data
    const skippable = hex('532a4d18 03000000 aabbcc');
    const frames = parseZstdFrames(concat(skippable, PATTERN_FRAME), 0);
    expect(frames.map((f) => [f.skippable, f.start, f.contentSize])).toEqual([
      [true, 0, 0],
      [false, 11, 4096],
    ]);
  });

  it('rejects an empty buffer', () => {
    const run = () => parseZstdFrames(u64(0), 8);
    expect(run).toThrow(CorruptFileError);
    expect(run).toThrow('zstd buffer ends at byte 8, expected a frame at byte 8');
  });

  it('rejects bytes that do not start with the magic', () => {
    const run = () => parseZstdFrames(concat(u64(4096), PATTERN_FRAME), 0);
    expect(run).toThrow(CorruptFileError);
    expect(run).toThrow('zstd frame at byte 0 starts with 00 10 00 00, expected the magic 28 b5 2f fd');
  });

  it('rejects a truncated frame', () => {
    const run = () => parseZstdFrames(PATTERN_FRAME.subarray(0, 50), 0);
    expect(run).toThrow(CorruptFileError);
    expect(run).toThrow(
      'zstd frame at byte 0 is truncated: its compressed block needs 46 bytes at byte 10, only 40 remain',
    );
  });

  it('rejects bytes after the last frame', () => {
    const run = () => parseZstdFrames(concat(PATTERN_FRAME, Uint8Array.of(0, 0)), 0);
    expect(run).toThrow('zstd frame at byte 56 is truncated: its frame magic needs 4 bytes at byte 56, only 2 remain');
  });

  it('rejects a frame header with the reserved bit set', () => {
    const frame = PATTERN_FRAME.slice();
    frame[4] = 0x68;
    const error = caught(() => parseZstdFrames(frame, 0));
    expect(error).toBeInstanceOf(CorruptFileError);
    expect(error.message).toBe('zstd frame at byte 0 has the reserved bit of its header descriptor set');
  });

  it('rejects the reserved block type', () => {
    const frame = concat(hex('28b52ffd20'), Uint8Array.of(0), blockHeader(true, 3, 0));
    expect(() => parseZstdFrames(frame, 0)).toThrow('zstd block at byte 6 has the reserved block type 3');
  });

  it('rejects a content size its blocks do not add up to', () => {
    const lying = SIMPLE_FRAME.slice();
    lying[5] = 401 - 256;
    const run = () => parseZstdFrames(lying, 0);
    expect(run).toThrow(CorruptFileError);
    expect(run).toThrow(
      'zstd frame at byte 0 declares 401 content bytes, but its blocks decode to between 400 and 400',
    );
  });

  it('refuses a frame that needs a dictionary', () => {
    // descriptor 0x21: single segment, 1-byte dictionary id (7), 1-byte content size (0), one empty raw block
    const frame = Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0x21, 7, 0, 1, 0, 0);
    const run = () => parseZstdFrames(frame, 0);
    expect(run).toThrow(UnsupportedError);
    expect(run).toThrow('zstd frame at byte 0 needs dictionary 7; Lance never writes dictionaries');
  });

  it('refuses a frame without a content size whose window is over the limit', () => {
    // descriptor 0x00: window descriptor 0x88 = 2^(10 + 17) + 0 = 128 MiB is allowed, 0x89 adds 1/8 more
    const frame = concat(hex('28b52ffd00'), Uint8Array.of(0x89), blockHeader(true, 0, 0));
    const run = () => parseZstdFrames(frame, 0);
    expect(run).toThrow(UnsupportedError);
    expect(run).toThrow(
      'zstd frame at byte 0 has no content size and a 150994944-byte window, more than the 134217728 bytes we allocate',
    );
  });
});
