/**
 * planBatchLayout over list fields as a dataset's schema gives them: `large_list` columns take the same
 * layouts as `list` ones (ragged by default, padded with options.pad), since both are read as list levels.
 */
import * as arrow from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { planBatchLayout } from '../../loader/batch-layout.js';
import type { LanceField } from '../../format/schema.js';

function field(name: string, logicalType: string, arrowType: arrow.DataType, children: LanceField[] = []): LanceField {
  return { id: 0, name, logicalType, nullable: true, metadata: new Map(), children, arrowType };
}

const item = field('item', 'int32', new arrow.Int32());
const list = (logicalType: string) =>
  field('tokens', logicalType, new arrow.List(new arrow.Field('item', new arrow.Int32(), true)), [item]);

describe('planBatchLayout over large_list columns', () => {
  it('lays out a large_list as a ragged list of its items, as a list', () => {
    const [large] = planBatchLayout([list('large_list')], 8).columns;
    const [plain] = planBatchLayout([list('list')], 8).columns;
    expect(large).toEqual(plain);
    expect(large).toMatchObject({ variable: true, dtype: 'int32', itemBytes: 4, nullable: true });
  });

  it('pads a large_list with options.pad, as a list', () => {
    const { columns, slotBytes } = planBatchLayout([list('large_list')], 8, {}, {}, { tokens: { length: 16 } });
    expect(columns[0]).toMatchObject({ variable: false, bytesPerRow: 64, rowShape: [16] });
    expect(slotBytes).toBe(planBatchLayout([list('list')], 8, {}, {}, { tokens: { length: 16 } }).slotBytes);
  });
});
