/** The display names of these users, each looked up once (a user without a name reads "Guest"). */
import { useEffect, useState } from 'react';
import { getProfiles } from '../../services/streamGuestService';

export function useProfileNames(ids: readonly string[]): Record<string, string> {
  const [names, setNames] = useState<Record<string, string>>({});
  const key = [...new Set(ids)].join(',');
  useEffect(() => {
    const unknown = key === '' ? [] : key.split(',').filter((id) => !(id in names));
    if (unknown.length === 0) return;
    let cancelled = false;
    void getProfiles(unknown)
      .then((profiles) => !cancelled && setNames((known) => ({ ...known, ...Object.fromEntries(profiles.map((p) => [p.id, p.display_name ?? p.username ?? 'Guest'])) })))
      .catch(() => {});
    return () => {
      cancelled = true;
    };
  }, [key, names]);
  return names;
}
