/**
 * Row order for training: seeded per-(seed, epoch) shuffles (global or locality-aware), sharding across
 * ranks, batching and resumable state. {@link BatchSampler} is the entry point; the other modules of
 * this folder are its parts.
 */
export { BatchSampler, type SampledBatch } from './sampler.js';
export type { SamplerOptions, ShuffleMode } from './options.js';
export type { SamplerState } from './state.js';
export type { ShardPlan } from './shard.js';
