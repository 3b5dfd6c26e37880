import type { User } from '@supabase/supabase-js';
import { getSupabase, toBackendError } from './supabase';

/** The signed-in user, signing in anonymously with a display name when needed. */
export async function ensureSignedIn(displayName: string): Promise<User> {
  const supabase = await getSupabase();
  const { data } = await supabase.auth.getSession();
  if (data.session?.user) return data.session.user;
  const name = displayName.trim();
  if (!name) throw new Error('Enter a display name first.');
  const { data: signedIn, error } = await supabase.auth.signInAnonymously({ options: { data: { display_name: name } } });
  if (error || !signedIn.user) throw toBackendError('Sign-in failed', error);
  return signedIn.user;
}

export async function signInWithPassword(email: string, password: string): Promise<User> {
  const supabase = await getSupabase();
  const { data, error } = await supabase.auth.signInWithPassword({ email, password });
  if (error || !data.user) throw toBackendError('Sign-in failed', error);
  return data.user;
}

export async function currentUser(): Promise<User | null> {
  const supabase = await getSupabase();
  const { data } = await supabase.auth.getSession();
  return data.session?.user ?? null;
}

export async function signOut(): Promise<void> {
  const supabase = await getSupabase();
  await supabase.auth.signOut();
}
