/** The tfjs namespace type, in a leaf module so the adapter's parts share it without importing each other. */
import type * as tfjs from '@tensorflow/tfjs';

/** The tfjs namespace (`@tensorflow/tfjs`, or `@tensorflow/tfjs-node` which re-exports it). */
export type Tf = typeof tfjs;
