/** Stream lookups and events shared by the functions. */
import type { SupabaseClient } from '@supabase/supabase-js';
import { maybe } from './db.ts';
import { ForbiddenError, NotFoundError } from './errors.ts';
import type { StreamRow } from './types.ts';

/** The stream as the caller may see it (RLS); 404 when it is not there. */
export async function loadStream(db: SupabaseClient, streamId: string): Promise<StreamRow> {
  const stream = maybe<StreamRow>(await db.from('streams').select('*').eq('id', streamId).maybeSingle(), 'read the stream');
  if (!stream) throw new NotFoundError(`Stream ${streamId} not found`);
  return stream;
}

export async function loadHostedStream(db: SupabaseClient, streamId: string, userId: string, action: string): Promise<StreamRow> {
  const stream = await loadStream(db, streamId);
  if (stream.host_id !== userId) throw new ForbiddenError(`Only the host of the stream can ${action}`);
  return stream;
}

export async function displayName(db: SupabaseClient, userId: string): Promise<string | null> {
  const profile = maybe<{ display_name: string | null }>(
    await db.from('profiles').select('display_name').eq('id', userId).maybeSingle(),
    'read the profile',
  );
  return profile?.display_name ?? null;
}

export interface StreamEvent {
  streamId: string;
  userId: string;
  actorId: string;
  type: 'stream_started' | 'stream_ended';
  displayName: string | null;
  metadata: Record<string, unknown>;
}

/**
 * Appends to the stream's event feed. The feed only narrates: when the insert fails the
 * stream's own state stays the truth, so the failure is logged rather than failing the request.
 */
export async function recordEvent(admin: SupabaseClient, event: StreamEvent, log: (message: string) => void): Promise<void> {
  const { error } = await admin.from('stream_guest_events').insert({
    stream_id: event.streamId,
    user_id: event.userId,
    actor_id: event.actorId,
    event_type: event.type,
    display_name: event.displayName,
    seat_index: null,
    metadata: event.metadata,
  });
  if (error) log(`could not record ${event.type} for stream ${event.streamId}: ${error.message}`);
}
