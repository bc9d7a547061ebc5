import { describe, expect, it } from 'vitest';
import {
  centerCrop,
  channelsFirst,
  decodeImage,
  flipHorizontal,
  normalize,
  planColumnTransform,
  randomResizedCrop,
  resize,
  toFloat,
} from '../../../decode-workers/transforms/steps.js';
import { InvalidArgumentError } from '../../../errors.js';
import { caught } from '../../caught.js';

describe('planColumnTransform', () => {
  it('plans [h, w, c] uint8 for an image cropped to a fixed size', () => {
    const plan = planColumnTransform('image', { steps: [decodeImage(), resize(256), centerCrop(224)] });
    expect([plan.shape, plan.dtype, plan.byteWidth, plan.onError]).toEqual([
      [224, 224, 3],
      'uint8',
      224 * 224 * 3,
      'raise',
    ]);
  });

  it('plans float32 [c, h, w] for normalize and channelsFirst', () => {
    const plan = planColumnTransform('image', {
      steps: [
        decodeImage({ channels: 1 }),
        randomResizedCrop([32, 48]),
        flipHorizontal(),
        channelsFirst(),
        normalize(0.5, 0.25),
      ],
      onError: 'skip',
    });
    expect([plan.shape, plan.dtype, plan.byteWidth, plan.onError]).toEqual([
      [1, 32, 48],
      'float32',
      32 * 48 * 4,
      'skip',
    ]);
  });

  it("plans a user step's declared output", () => {
    const plan = planColumnTransform('image', {
      steps: [{ op: 'user', module: './t.js', output: { shape: [10], dtype: 'float32' } }, toFloat()],
    });
    expect([plan.shape, plan.dtype]).toEqual([[10], 'float32']);
  });

  it("plans a batch-level user step's input: the rows' fixed shape before it, or the column's values", () => {
    const batch = { op: 'user', module: './t.js', level: 'batch', output: { shape: [3], dtype: 'float32' } } as const;
    const after = planColumnTransform('image', { steps: [decodeImage(), centerCrop([4, 6]), toFloat(), batch] });
    expect([after.shape, after.dtype, after.batchStep]).toEqual([
      [3],
      'float32',
      { input: { shape: [4, 6, 3], dtype: 'float32', byteWidth: 4 * 6 * 3 * 4 } },
    ]);
    expect(planColumnTransform('image', { steps: [batch] }).batchStep).toEqual({ input: null });
    expect(planColumnTransform('image', { steps: [decodeImage(), centerCrop(4)] }).batchStep).toBeNull();
  });

  it.each([
    [
      { steps: [{ op: 'user', module: 'm.js', level: 'batch', output: { shape: [2], dtype: 'uint8' } }, toFloat()] },
      'steps[0] a batch-level user step must be the last step',
    ],
    [
      {
        steps: [
          decodeImage(),
          resize(8),
          { op: 'user', module: 'm.js', level: 'batch', output: { shape: [2], dtype: 'uint8' } },
        ],
      },
      'steps[2] a batch-level user step needs rows of one shape: resize to [height, width] or crop before it',
    ],
    [
      { steps: [{ op: 'user', module: 'm.js', level: 'rows', output: { shape: [2], dtype: 'uint8' } }] },
      "steps[0].level must be 'row' or 'batch', got rows",
    ],
    [{ steps: [decodeImage()] }, 'options.transforms.image.steps must end with a fixed size'],
    [{ steps: [decodeImage(), resize(64)] }, 'options.transforms.image.steps must end with a fixed size'],
    [{ steps: [centerCrop(8)] }, 'options.transforms.image.steps[0] centerCrop needs an image'],
    [{ steps: [decodeImage(), resize(64), normalize(0, 1)] }, 'steps[2] normalize needs a fixed image size'],
    [
      { steps: [decodeImage(), centerCrop(8), normalize([0, 0], [1, 1])] },
      'steps[2].mean must be one number or one per channel (3)',
    ],
    [{ steps: [decodeImage(), centerCrop(8), normalize(0, 0)] }, 'steps[2].std must not be 0'],
    [{ steps: [decodeImage(), flipHorizontal(2)] }, 'steps[1].p must be a probability from 0 to 1, got 2'],
    [{ steps: [decodeImage(), randomResizedCrop(8, { scale: [0.9, 0.1] })] }, 'steps[1].scale must be [low, high]'],
    [{ steps: [decodeImage(), centerCrop(0)] }, 'steps[1].size must be an integer from 1 to 65536, got 0'],
    [{ steps: [decodeImage(), decodeImage()] }, 'steps[1] decodeImage must be the first step'],
    [{ steps: [decodeImage(), centerCrop(8)], onError: 'ignore' }, "onError must be 'raise' or 'skip', got ignore"],
    [{ steps: [] }, 'options.transforms.image.steps must have at least one step'],
    [[decodeImage()], 'options.transforms.image must be an object such as { steps: [decodeImage(), centerCrop(224)] }'],
    [{ steps: [{ op: 'blur' }] }, 'steps[0].op must be a transform step such as decodeImage(), got blur'],
    [
      { steps: [{ op: 'user', module: 'm.js', output: { shape: [2] } }] },
      "steps[0].output must declare { shape: [...], dtype: 'uint8' | 'float32' }",
    ],
    [
      { steps: [{ op: 'user', module: 'm.js', output: { shape: [2], dtype: 'uint8' }, inputs: ['label', 'image'] }] },
      'steps[0].inputs must be names of other loaded columns, each once (not "image" itself), got label,image',
    ],
    [
      { steps: [{ op: 'user', module: 'm.js', output: { shape: [2], dtype: 'uint8' }, inputs: ['label', 'label'] }] },
      'steps[0].inputs must be names of other loaded columns, each once',
    ],
  ])('refuses %j with an InvalidArgumentError', (transform, message) => {
    const error = caught(() => planColumnTransform('image', transform));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toContain(message);
  });
});
