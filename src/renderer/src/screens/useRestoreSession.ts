import { useEffect, useState } from 'react';
import { currentUser } from '../services/authService';
import { useStore } from '../store';

/** Restores a signed-in user from this tab's session; true once known. */
export function useRestoreSession(): { ready: boolean; error: string | null } {
  const [ready, setReady] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    currentUser()
      .then((user) => {
        if (user) useStore.getState().setUser(user.id, (user.user_metadata?.display_name as string | undefined) ?? 'You');
      })
      .catch((err: Error) => setError(err.message))
      .finally(() => setReady(true));
  }, []);
  return { ready, error };
}
