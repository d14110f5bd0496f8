// Just enough of source maps (version 3) to turn a position in generated code
// back into a line of the original: the Base64 VLQ "mappings" decoded once
// per file, then a binary search per lookup.

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const digit = new Int8Array(128).fill(-1);
for (let i = 0; i < BASE64.length; i++) digit[BASE64.charCodeAt(i)] = i;

interface Segment {
  column: number;
  source: number;
  line: number;
  originalColumn: number;
}

export interface RawSourceMap {
  version: number;
  sources: string[];
  mappings: string;
}

export interface OriginalPosition {
  source: string;
  /** 1-based, as editors count. */
  line: number;
  column: number;
}

export class SourceMap {
  /** Segments of each generated line, by generated column. */
  private readonly lines: Segment[][] = [];

  constructor(readonly map: RawSourceMap) {
    let source = 0;
    let line = 0;
    let originalColumn = 0;
    const text = map.mappings;
    let at = 0;
    // Each field is a VLQ: 5 data bits per Base64 digit, bit 5 says "more
    // follows", and the lowest bit of the assembled value is the sign.
    const vlq = (): number => {
      let value = 0;
      let shift = 0;
      for (;;) {
        const d = digit[text.charCodeAt(at++)];
        if (d < 0) throw new Error(`source map: bad mapping character at ${at - 1}`);
        value += (d & 31) * 2 ** shift;
        shift += 5;
        if (!(d & 32)) break;
      }
      return value % 2 ? -(value - 1) / 2 : value / 2;
    };
    let segments: Segment[] = [];
    let column = 0;
    while (at <= text.length) {
      const c = text[at];
      if (c === ';' || at === text.length) {
        this.lines.push(segments);
        segments = [];
        column = 0;
        at++;
        continue;
      }
      if (c === ',') {
        at++;
        continue;
      }
      column += vlq();
      const next = text[at];
      if (next === undefined || next === ',' || next === ';') continue; // a segment with no source
      source += vlq();
      line += vlq();
      originalColumn += vlq();
      if (text[at] !== undefined && text[at] !== ',' && text[at] !== ';') vlq(); // name index
      segments.push({ column, source, line, originalColumn });
    }
  }

  /** The original position of generated (line, column), both 0-based. */
  originalFor(line: number, column: number): OriginalPosition | undefined {
    const segs = this.lines[line];
    if (!segs || segs.length === 0) return undefined;
    let lo = 0;
    let hi = segs.length - 1;
    if (segs[0].column > column) return undefined;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (segs[mid].column <= column) lo = mid;
      else hi = mid - 1;
    }
    const s = segs[lo];
    return { source: this.map.sources[s.source], line: s.line + 1, column: s.originalColumn + 1 };
  }

  /** The map inlined at the end of generated code (`//# sourceMappingURL=data:...;base64,`). */
  static fromInline(code: string): SourceMap | undefined {
    const m = /\/\/# sourceMappingURL=data:application\/json;(?:charset=utf-8;)?base64,([A-Za-z0-9+/=]+)\s*$/.exec(code);
    if (!m) return undefined;
    return new SourceMap(JSON.parse(Buffer.from(m[1], 'base64').toString('utf8')) as RawSourceMap);
  }
}
