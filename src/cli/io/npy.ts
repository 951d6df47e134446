/**
 * NumPy `.npy` files (format versions 1, 2 and 3, numpy/lib/format.py): little-endian or
 * byte-order-free integers and floats, 1-D (a column) or 2-D, C or Fortran order. Big-endian,
 * complex, object and structured dtypes are refused by name; a header whose shape needs more bytes
 * than the file holds, trailing bytes, NaN/±Inf values and integers beyond 2⁵³ are refused with
 * the byte offset. The file is read in chunks (memory: the float64 result plus one chunk), so files
 * beyond Node's 2 GiB readFileSync limit are read too.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { InputFileError } from '../errors.js';
import type { Expectation, Table } from './table.js';

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

/** True when the bytes start with the .npy magic string. */
export function isNpy(bytes: Uint8Array): boolean {
  return bytes.length >= MAGIC.length && MAGIC.every((b, i) => bytes[i] === b);
}

interface Kind { size: number; read: (view: DataView, offset: number) => number; integer64: boolean }

const KINDS: Record<string, Kind> = {
  f8: { size: 8, read: (v, o) => v.getFloat64(o, true), integer64: false },
  f4: { size: 4, read: (v, o) => v.getFloat32(o, true), integer64: false },
  i8: { size: 8, read: (v, o) => Number(v.getBigInt64(o, true)), integer64: true },
  u8: { size: 8, read: (v, o) => Number(v.getBigUint64(o, true)), integer64: true },
  i4: { size: 4, read: (v, o) => v.getInt32(o, true), integer64: false },
  u4: { size: 4, read: (v, o) => v.getUint32(o, true), integer64: false },
  i2: { size: 2, read: (v, o) => v.getInt16(o, true), integer64: false },
  u2: { size: 2, read: (v, o) => v.getUint16(o, true), integer64: false },
  i1: { size: 1, read: (v, o) => v.getInt8(o), integer64: false },
  u1: { size: 1, read: (v, o) => v.getUint8(o), integer64: false },
  b1: { size: 1, read: (v, o) => v.getUint8(o), integer64: false },
};

interface Header { descr: string; fortran: boolean; shape: number[]; dataOffset: number }

/** The bytes of a file (read on demand) or of a buffer. */
interface Source { readonly size: number; read(position: number, length: number): Buffer }

function bufferSource(bytes: Buffer): Source {
  return { size: bytes.length, read: (position, length) => bytes.subarray(position, Math.min(bytes.length, position + length)) };
}

function fileSource(fd: number): Source {
  return {
    size: fstatSync(fd).size,
    read: (position, length) => {
      const buf = Buffer.allocUnsafe(length);
      let got = 0;
      while (got < length) {
        const n = readSync(fd, buf, got, length - got, position + got);
        if (n === 0) break;
        got += n;
      }
      return buf.subarray(0, got);
    },
  };
}

/** Elements per read of the data (8 MiB of float64). */
const CHUNK_ELEMENTS = 1 << 20;

function parseHeader(file: string, src: Source): Header {
  const bytes = src.read(0, 12);
  if (!isNpy(bytes)) throw new InputFileError(file, 'not a .npy file (no \\x93NUMPY magic string)', { offset: 0 });
  if (bytes.length < 10) throw new InputFileError(file, 'truncated .npy header', { offset: bytes.length });
  const major = bytes[6]!;
  if (major < 1 || major > 3) throw new InputFileError(file, `unsupported .npy format version ${major}.${bytes[7]} (1, 2 and 3 are read)`, { offset: 6 });
  const lenBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lenBytes) throw new InputFileError(file, 'truncated .npy header', { offset: bytes.length });
  const headerLen = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const start = 8 + lenBytes;
  if (start + headerLen > src.size) {
    throw new InputFileError(file, `truncated .npy header (it says ${headerLen} bytes, the file ends first)`, { offset: src.size });
  }
  const text = src.read(start, headerLen).toString(major === 3 ? 'utf8' : 'latin1');
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    const what = /'descr'\s*:\s*\[/.test(text) ? 'a structured dtype (record array) is not supported' : `malformed .npy header ${JSON.stringify(text.trim().slice(0, 120))}`;
    throw new InputFileError(file, what, { offset: start });
  }
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => {
    if (!/^\d+L?$/.test(s)) throw new InputFileError(file, `malformed shape (${shapeText}) in the .npy header`, { offset: start });
    return Number(s.replace('L', ''));
  });
  return { descr, fortran: fortran === 'True', shape, dataOffset: start + headerLen };
}

function kindOf(file: string, descr: string, offset: number): Kind {
  const order = descr[0];
  const code = descr.slice(1);
  if (order === '>' && KINDS[code] && KINDS[code].size > 1) {
    throw new InputFileError(file, `big-endian dtype '${descr}' is not supported; save with arr.astype('<${code}')`, { offset });
  }
  const kind = KINDS[code];
  if ((order !== '<' && order !== '|' && order !== '=' && order !== '>') || kind === undefined) {
    throw new InputFileError(file, `unsupported dtype '${descr}' (float, int, uint and bool are read); save with arr.astype('<f8')`, { offset });
  }
  return kind;
}

/** Reads a numeric .npy file as an n×d table (a 1-D array is one column); `bytes`: its content, already in memory. */
export function readNpy(file: string, bytes?: Buffer, expect?: Expectation): Table {
  if (bytes) return decodeNpy(file, bufferSource(bytes), expect);
  const fd = openSync(file, 'r');
  try {
    return decodeNpy(file, fileSource(fd), expect);
  } finally {
    closeSync(fd);
  }
}

function decodeNpy(file: string, src: Source, expect: Expectation | undefined): Table {
  const h = parseHeader(file, src);
  const kind = kindOf(file, h.descr, 8);
  if (h.shape.length === 0 || h.shape.length > 2) {
    throw new InputFileError(file, `a ${h.shape.length}-d array of shape (${h.shape.join(', ')}); a 1-d or 2-d array is needed`, { offset: 8 });
  }
  const [rows, cols = 1] = h.shape as [number, number?];
  const count = rows * cols;
  const needed = count * kind.size;
  const available = src.size - h.dataOffset;
  if (!Number.isSafeInteger(needed) || needed > available) {
    throw new InputFileError(file, `truncated: shape (${h.shape.join(', ')}) of '${h.descr}' needs ${needed} bytes of data, the file has ${available} after the header`, { offset: src.size });
  }
  if (needed < available) throw new InputFileError(file, `${available - needed} trailing bytes after the data of shape (${h.shape.join(', ')})`, { offset: h.dataOffset + needed });
  if (count === 0) throw new InputFileError(file, `an empty array of shape (${h.shape.join(', ')})`, { offset: 8 });
  if (expect && ((expect.rows !== undefined && rows !== expect.rows) || (expect.cols !== undefined && cols !== expect.cols))) {
    throw new InputFileError(file, `shape (${h.shape.join(', ')}); ${expect.need}`, { offset: 8 });
  }
  let data: Float64Array;
  try {
    data = new Float64Array(count);
  } catch {
    throw new InputFileError(file, `shape (${h.shape.join(', ')}) needs ${count * 8} bytes as float64, more than one array of this process can hold`, { offset: 8 });
  }
  for (let k0 = 0; k0 < count; k0 += CHUNK_ELEMENTS) {
    const m = Math.min(CHUNK_ELEMENTS, count - k0);
    const chunk = src.read(h.dataOffset + k0 * kind.size, m * kind.size);
    if (chunk.length < m * kind.size) throw new InputFileError(file, 'the file got shorter while it was read', { offset: h.dataOffset + k0 * kind.size + chunk.length });
    const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    for (let t = 0; t < m; t++) {
      const k = k0 + t;
      const v = kind.read(view, t * kind.size);
      const offset = h.dataOffset + k * kind.size;
      if (!Number.isFinite(v)) throw new InputFileError(file, `${v} at element ${elementName(k, rows, cols, h.fortran)}`, { offset });
      if (kind.integer64 && Math.abs(v) > Number.MAX_SAFE_INTEGER) {
        throw new InputFileError(file, `integer beyond 2^53 at element ${elementName(k, rows, cols, h.fortran)} (not exact as float64)`, { offset });
      }
      const why = expect?.value?.(v, String(v));
      if (why !== undefined) throw new InputFileError(file, `${why} at element ${elementName(k, rows, cols, h.fortran)}`, { offset });
      // Fortran order stores column j contiguously: element k is (k mod rows, k div rows)
      data[h.fortran ? (k % rows) * cols + Math.floor(k / rows) : k] = v;
    }
  }
  return { rows, cols, data };
}

function elementName(k: number, rows: number, cols: number, fortran: boolean): string {
  const [i, j] = fortran ? [k % rows, Math.floor(k / rows)] : [Math.floor(k / cols), k % cols];
  return `[${i}, ${j}]`;
}

/** A version 1.0 .npy file of the table: '<f8' (or '<i4' for Int32 data), C order, 2-D (1-D for one column). */
export function encodeNpy(t: { rows: number; cols: number; data: Float64Array | Int32Array }, oneD = t.cols === 1): Buffer {
  const descr = t.data instanceof Int32Array ? '<i4' : '<f8';
  const shape = oneD ? `(${t.rows},)` : `(${t.rows}, ${t.cols})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  // numpy pads the header with spaces so that the data starts on a multiple of 64 bytes, ending in '\n'
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, ' ') + '\n';
  const out = Buffer.alloc(total + t.data.byteLength);
  MAGIC.copy(out, 0);
  out[6] = 1;
  out[7] = 0;
  out.writeUInt16LE(header.length, 8);
  out.write(header, 10, 'latin1');
  Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).copy(out, total); // little-endian hosts (x86, arm)
  return out;
}
