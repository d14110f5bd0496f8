// Traces: record what a served device saw and did to a msgpack file, read it back.
export { TraceRecorder, type TraceOptions, type TraceStats, type FaultInput, type AttachTargets } from './recorder.ts';
export { readTrace, TraceFormatError, type ReadOptions } from './reader.ts';
export { parseFilter, matches, FilterError, type TraceFilter, type FilterArgs } from './filter.ts';
export { describe, line, formatTime, TraceStatsBuilder } from './render.ts';
export { RegisterNames } from './names.ts';
export { summarise } from './summary.ts';
export * from './format.ts';
