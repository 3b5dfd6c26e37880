import { useState } from 'react';
import { ensureSignedIn } from '../services/authService';
import { useStore } from '../store';

/** Anonymous sign-in with a display name. */
export function SignIn({ role }: { role: 'host' | 'guest' }) {
  const [name, setName] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const user = await ensureSignedIn(name);
      useStore.getState().setUser(user.id, (user.user_metadata?.display_name as string | undefined) ?? name);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="card signin" onSubmit={submit}>
      <h2>{role === 'host' ? 'Host sign-in' : 'Join as a guest'}</h2>
      <label>
        Display name
        <input data-testid="display-name" value={name} maxLength={40} onChange={(e) => setName(e.target.value)} placeholder="Your name" autoFocus />
      </label>
      <button className="primary" data-testid="sign-in" disabled={busy || !name.trim()}>
        {busy ? 'Signing in…' : 'Continue'}
      </button>
      {error ? <p className="error-text" role="alert">{error}</p> : null}
    </form>
  );
}
