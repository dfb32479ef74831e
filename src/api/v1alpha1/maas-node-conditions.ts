/**
 * What a MaasNode's conditions say beyond the shared ones (common.ts): the reasons, and the
 * hold annotation with the condition it produces.
 */

/** Ready=False: an interface's VirtNetwork is missing or not Ready. */
export const NetworkNotReadyReason = 'NetworkNotReady';
/** Ready=False: the Hypervisor is unschedulable and the domain does not exist yet. */
export const HypervisorUnschedulableReason = 'HypervisorUnschedulable';
/** Stalled=True: `spec.cloneFrom` names a MaasNode that does not exist. */
export const CloneSourceNotFoundReason = 'CloneSourceNotFound';
/** Reconciling=True: `spec.cloneFrom` names a MaasNode that is not halted yet. */
export const CloneSourceNotHaltedReason = 'CloneSourceNotHalted';
/** RestartRequired=True: the domain runs with an older definition than the spec. */
export const RestartPendingReason = 'RestartPending';
/**
 * Ready=True: the domain is off, paused or saved as declared (runStrategy Halted, or left so
 * under Manual/Once by MAAS or a BMC); printableStatus says which.
 */
export const HaltedReason = 'Halted';

/**
 * Annotation that asks the MaasNode controller to stand still: while it is set the controller
 * takes no power, definition or volume action on the node's domain (its delete path still
 * runs), and reports Reconciling=True with reason Held and message `held by <value>; ...`,
 * which is how the holder learns that no pass of the node's is acting any more. A
 * MaasLabSnapshot capture (value `MaasLabSnapshot/<name>`) and a lab restore (value
 * `MaasLab/<lab>/restore/<token>`) set it and remove it when done. On a MaasLab it holds the
 * lab's MAAS controller VM the same way (a capture sets it there): the MaasLab controller
 * leaves that VM alone and reports ControllerReady=False, reason Held, with the same message.
 */
export const HoldAnnotation = 'maaslab.dev/hold';
/** Reconciling=True: the node is held (HoldAnnotation); nothing is done to its domain. */
export const HeldReason = 'Held';
/** The message of a held node's Reconciling condition; its holder matches the prefix. */
export const heldMessage = (holder: string): string =>
  `held by ${holder}; no action is taken on the domain until the hold is released`;
