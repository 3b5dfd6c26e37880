import { functionError, getSupabase } from './supabase';

export interface CallSession {
  sessionId: string;
  provider: 'p2p' | 'cloudflare';
  streamId: string;
}

export interface CallToken {
  token: string;
  expiresAt: string;
  role: 'host' | 'guest';
  iceServers: RTCIceServer[];
}

/** The host opens the call that carries guests' media for a stream. */
export async function createCallSession(streamId: string): Promise<CallSession> {
  const supabase = await getSupabase();
  const { data, error } = await supabase.functions.invoke<CallSession>('create-call-session', { body: { streamId } });
  if (error || !data) throw await functionError('Could not open the call', error);
  return data;
}

/** A short-lived token (and ICE servers) for the host or a seated guest. */
export async function generateCallToken(streamId: string, sessionId: string): Promise<CallToken> {
  const supabase = await getSupabase();
  const { data, error } = await supabase.functions.invoke<CallToken>('generate-call-token', { body: { streamId, sessionId } });
  if (error || !data) throw await functionError('Could not join the call', error);
  return data;
}

export async function endCallSession(sessionId: string): Promise<void> {
  const supabase = await getSupabase();
  const { error } = await supabase.functions.invoke('end-call-session', { body: { sessionId } });
  if (error) throw await functionError('Could not close the call', error);
}
