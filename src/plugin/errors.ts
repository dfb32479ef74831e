// The plugin's own errors: a refusal or a bad request the user can fix, printed as one
// `error: ...` line with exit code 1, as kubectl does.

/** A failure the user can act on; its message is the whole `error:` line. */
export class PluginError extends Error {
  override readonly name = 'PluginError';
}
