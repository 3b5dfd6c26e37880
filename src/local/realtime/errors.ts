/** Errors of the local Realtime server: a stable `reason` code and a message for people. */
export type RealtimeErrorReason =
  | 'malformed_frame'
  | 'frame_too_large'
  | 'invalid_filter'
  | 'invalid_join'
  | 'too_many_channels'
  | 'too_many_bindings'
  | 'invalid_token'
  | 'token_expired'
  | 'unauthorized'
  | 'private_channels_unavailable'
  | 'unknown_table'
  | 'database_error'
  | 'invalid_request';

export class RealtimeError extends Error {
  readonly reason: RealtimeErrorReason;
  constructor(reason: RealtimeErrorReason, message: string) {
    super(message);
    this.name = 'RealtimeError';
    this.reason = reason;
  }
}
