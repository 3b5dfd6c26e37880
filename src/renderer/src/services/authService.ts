/** Signing in and out (Supabase Auth). A guest needs no account: an anonymous user with a display name. */
import type { SupabaseClient, User } from '@supabase/supabase-js';
import { authError, BackendError } from './errors';
import { pageMethod, pageService } from './supabase';

export interface AuthService {
  /** The signed-in user, signing in anonymously with the display name when nobody is. */
  ensureSignedIn(displayName: string): Promise<User>;
  signInWithPassword(email: string, password: string): Promise<User>;
  currentUser(): Promise<User | null>;
  signOut(): Promise<void>;
}

export function createAuthService(client: SupabaseClient): AuthService {
  async function currentUser(): Promise<User | null> {
    const { data } = await client.auth.getSession();
    return data.session?.user ?? null;
  }

  return {
    async ensureSignedIn(displayName) {
      const existing = await currentUser();
      if (existing) return existing;
      const name = displayName.trim();
      if (!name) throw new BackendError('display_name_required', 'Enter a display name first.');
      const { data, error } = await client.auth.signInAnonymously({ options: { data: { display_name: name } } });
      if (error || !data.user) throw authError('Sign-in failed', error);
      return data.user;
    },

    async signInWithPassword(email, password) {
      const { data, error } = await client.auth.signInWithPassword({ email, password });
      if (error || !data.user) throw authError('Sign-in failed', error);
      return data.user;
    },

    currentUser,

    async signOut() {
      const { error } = await client.auth.signOut();
      if (error) throw authError('Sign-out failed', error);
    },
  };
}

const page = pageService(createAuthService);

export const ensureSignedIn = pageMethod(page, 'ensureSignedIn');
export const signInWithPassword = pageMethod(page, 'signInWithPassword');
export const currentUser = pageMethod(page, 'currentUser');
export const signOut = pageMethod(page, 'signOut');
