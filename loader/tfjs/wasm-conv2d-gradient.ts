/**
 * The filter gradient of 2-D convolution for the tfjs wasm backend, which lacks it: tfjs-backend-wasm
 * 4.22 registers `Conv2D` and `Conv2DBackpropInput` but not `Conv2DBackpropFilter`, so a model with a
 * trainable `tf.layers.conv2d` fails its first training step on wasm with "Kernel 'Conv2DBackpropFilter'
 * not registered for backend 'wasm'". {@link registerWasmConv2DFilterGradient} fills the gap from the
 * backend's own kernels; nothing here imports tfjs (the namespace is passed in).
 *
 * The filter gradient is itself a convolution, with batch and channels swapped (NHWC, `s` = stride):
 *
 *   dW[kh, kw, c, f] = Σ_{b,i,j} xPadded[b, i·s + kh, j·s + kw, c] · dy[b, i, j, f]
 *                    = conv2d(input  = xPaddedᵀ [c, H, W, b]      (x transposed 3,1,2,0),
 *                             filter = dyᵀ      [oh, ow, b, f]    (dy transposed 1,2,0,3),
 *                             stride 1, dilation s)[c, kh, kw, f] → transposed 1,2,0,3
 *
 * Padding is passed to the wasm Conv2D as explicit amounts (top/left as the forward pass used them;
 * bottom/right just enough to cover the filter), and rows or columns past the filter size are sliced off.
 * Checked value for value against the cpu backend in test/loader/tfjs/wasm-conv2d-gradient.test.ts.
 */
import { UnsupportedError } from '../../errors.js';
import type { Tf } from './tf.js';

type KernelConfig = Parameters<Tf['registerKernel']>[0];
type KernelFunc = KernelConfig['kernelFunc'];
type TensorInfo = Exclude<ReturnType<KernelFunc>, unknown[]>;
type KernelArgs = Parameters<KernelFunc>[0];

interface FilterGradientAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

/**
 * Registers `Conv2DBackpropFilter` for the wasm backend unless it has one (or lacks a kernel this one is
 * made of). Returns whether it did. Call after the wasm backend is registered (importing
 * `@tensorflow/tfjs-backend-wasm` does that).
 */
export function registerWasmConv2DFilterGradient(tf: Tf): boolean {
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm') !== undefined) return false;
  const [conv2d, transpose, slice] = ['Conv2D', 'Transpose', 'Slice'].map(
    (name) => (tf.getKernel(name, 'wasm') as KernelConfig | undefined)?.kernelFunc,
  );
  if (conv2d === undefined || transpose === undefined || slice === undefined) return false;

  const kernelFunc = ({ inputs, backend, attrs }: KernelArgs): TensorInfo => {
    const run = (f: KernelFunc, runInputs: KernelArgs['inputs'], runAttrs: KernelArgs['attrs']) =>
      f({ inputs: runInputs, backend, attrs: runAttrs }) as TensorInfo;
    const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as FilterGradientAttrs;
    if (dataFormat !== 'NHWC') {
      throw new UnsupportedError(
        `the conv2d filter gradient on wasm supports dataFormat 'NHWC' only, got '${dataFormat}'`,
        { dataFormat },
      );
    }
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filterShape,
      strides,
      1,
      pad,
      dimRoundingMode,
      false,
      'channelsLast',
    );
    const [kh, kw] = filterShape;
    const [, height = 0, width = 0] = x.shape;
    const [, outHeight = 0, outWidth = 0] = dy.shape;
    const { top, left } = info.padInfo;
    const bottom = Math.max(0, (outHeight - 1) * info.strideHeight + kh - height - top);
    const right = Math.max(0, (outWidth - 1) * info.strideWidth + kw - width - left);

    const xT = run(transpose, { x }, { perm: [3, 1, 2, 0] });
    const dyT = run(transpose, { x: dy }, { perm: [1, 2, 0, 3] });
    const full = run(
      conv2d,
      { x: xT, filter: dyT },
      {
        strides: 1,
        dilations: [info.strideHeight, info.strideWidth],
        pad: [
          [0, 0],
          [top, bottom],
          [left, right],
          [0, 0],
        ],
        dataFormat: 'NHWC',
        ...(dimRoundingMode !== undefined ? { dimRoundingMode } : {}),
      },
    );
    const [channels = 0, , , filters = 0] = full.shape;
    const fits = full.shape[1] === kh && full.shape[2] === kw;
    const cut = fits ? full : run(slice, { x: full }, { begin: [0, 0, 0, 0], size: [channels, kh, kw, filters] });
    const dw = run(transpose, { x: cut }, { perm: [1, 2, 0, 3] });
    const owner = backend as { disposeData(dataId: unknown): boolean };
    for (const temporary of fits ? [xT, dyT, full] : [xT, dyT, full, cut]) owner.disposeData(temporary.dataId);
    return dw;
  };
  tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc });
  return true;
}
