// The phases of a MaasLab pass once the lab is being deleted: none act. The lab holds no
// finalizer and talks to no external system: every child carries a controller owner
// reference and garbage collection deletes it with the lab. The report says Terminating.
import { next, type Phase } from '../common/phases.js';
import type { LabPass } from './pass.js';

/** Garbage collection deletes the children; nothing to do but report. */
const leaveToGarbageCollection: Phase<LabPass> = async () => next;

/** The phases of a pass over a lab being deleted, in order. */
export const deletePhases: ReadonlyArray<Phase<LabPass>> = [leaveToGarbageCollection];
