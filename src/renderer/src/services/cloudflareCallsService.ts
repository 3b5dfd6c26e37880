/**
 * The call that carries guests' media for a stream (edge functions
 * create-call-session, generate-call-token, end-call-session): peer-to-peer with
 * the host as the hub, or a Cloudflare Calls session when the backend has one.
 */
import type { SupabaseClient } from '@supabase/supabase-js';
import { functionError, toBackendError } from './errors';
import { pageMethod, pageService } from './supabase';

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

export interface CloudflareCallsService {
  /** The host opens the call of a stream. */
  createCallSession(streamId: string): Promise<CallSession>;
  /** A short-lived token (and ICE servers) for the host or a seated guest. */
  generateCallToken(streamId: string, sessionId: string): Promise<CallToken>;
  /** The host closes the call. */
  endCallSession(sessionId: string): Promise<void>;
  /** The host ends one former guest's part in the call: the TURN credentials they were given stop working. */
  endCallAccess(sessionId: string, userId: string): Promise<void>;
  /** The host ends the part in the call of everyone who was on stage and is no longer (a studio resuming a show). */
  endFormerGuestsAccess(sessionId: string): Promise<void>;
  /** The stream's open call, as the host or a seated guest sees it; null when there is none. */
  getActiveCallSession(streamId: string): Promise<CallSession | null>;
}

export function createCloudflareCallsService(client: SupabaseClient): CloudflareCallsService {
  return {
    async createCallSession(streamId) {
      const { data, error } = await client.functions.invoke<CallSession>('create-call-session', { body: { streamId } });
      if (error || !data) throw await functionError('Could not open the call', error, { 403: 'not_host', 404: 'stream_not_found', 409: 'stream_ended' });
      return data;
    },

    async generateCallToken(streamId, sessionId) {
      const { data, error } = await client.functions.invoke<CallToken>('generate-call-token', { body: { streamId, sessionId } });
      if (error || !data) throw await functionError('Could not join the call', error, { 403: 'not_seated' });
      return data;
    },

    async endCallSession(sessionId) {
      const { error } = await client.functions.invoke('end-call-session', { body: { sessionId } });
      if (error) throw await functionError('Could not close the call', error, { 403: 'not_host' });
    },

    async endCallAccess(sessionId, userId) {
      const { error } = await client.functions.invoke('end-call-session', { body: { sessionId, userId } });
      if (error) throw await functionError('Could not end the guest’s access to the call', error, { 403: 'not_host', 409: 'conflict' });
    },

    async endFormerGuestsAccess(sessionId) {
      const { error } = await client.functions.invoke('end-call-session', { body: { sessionId, formerGuests: true } });
      if (error) throw await functionError('Could not end former guests’ access to the call', error, { 403: 'not_host' });
    },

    async getActiveCallSession(streamId) {
      const { data, error } = await client
        .from('call_sessions')
        .select('id, stream_id, provider')
        .eq('stream_id', streamId)
        .is('ended_at', null)
        .order('created_at', { ascending: false })
        .limit(1)
        .maybeSingle();
      if (error) throw toBackendError('Could not find the call', error);
      if (!data) return null;
      const row = data as { id: string; stream_id: string; provider: CallSession['provider'] };
      return { sessionId: row.id, streamId: row.stream_id, provider: row.provider };
    },
  };
}

const page = pageService(createCloudflareCallsService);

export const createCallSession = pageMethod(page, 'createCallSession');
export const generateCallToken = pageMethod(page, 'generateCallToken');
export const endCallSession = pageMethod(page, 'endCallSession');
export const endFormerGuestsAccess = pageMethod(page, 'endFormerGuestsAccess');
export const endCallAccess = pageMethod(page, 'endCallAccess');
export const getActiveCallSession = pageMethod(page, 'getActiveCallSession');
