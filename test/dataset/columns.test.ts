/** Column outputs are sized once per read: a request too large for one buffer is refused before allocating. */
import { describe, it } from 'vitest';
import { InvalidArgumentError } from '../../index.js';
import { createOutputs } from '../../dataset/columns.js';
import type { FieldProto } from '../../format/proto/messages.js';
import { buildFieldTree } from '../../format/schema.js';
import { expectFailure } from './bad-input-helpers.js';

const vector: FieldProto = {
  type: 'LEAF',
  name: 'vector',
  id: 0,
  parent_id: -1,
  logical_type: 'fixed_size_list:float:1024',
  nullable: false,
  metadata: {},
  extension_name: '',
};

describe('createOutputs', () => {
  it('refuses rows × width beyond one buffer with an InvalidArgumentError naming the column', async () => {
    const fields = buildFieldTree([vector], 'hand-made schema');
    await expectFailure(
      async () => createOutputs(fields, 2 ** 21),
      InvalidArgumentError,
      'INVALID_ARGUMENT',
      'column "vector" needs 2097152 rows × 4096 bytes',
      'read fewer rows at a time',
    );
  });
});
