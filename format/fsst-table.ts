/**
 * The FSST symbol table as Lance stores it in `Fsst.symbol_table`: an 8-byte header ("FSST" in its high
 * 32 bits), 256 × u64 symbols, 256 × u8 lengths. Shared by the decoder and the writer.
 */

/** Size of the symbol table buffer: 8-byte header, 256 × u64 symbols, 256 × u8 lengths. */
export const FSST_SYMBOL_TABLE_BYTES = 8 + 256 * 8 + 256;
/** The code that announces a literal byte. */
export const FSST_ESCAPE = 255;
/** A code expands to at most this many bytes. */
export const FSST_MAX_SYMBOL_BYTES = 8;
/** "FSST" as the high 32 bits of the header. */
export const FSST_MAGIC = 0x46535354;
