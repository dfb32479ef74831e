// events: client-go's events library. event-record.ts builds events.k8s.io/v1 Events (pure),
// and recorder.ts posts them in the background, aggregating repeats into a series.
export type { EventInput, EventRecord, EventStamp } from './event-record.js';
export { EventType, REPORTING_CONTROLLER, buildEvent, truncateUtf8 } from './event-record.js';
export type { EventRecorder, EventRecorderOptions } from './recorder.js';
export { createEventRecorder } from './recorder.js';
