/** The display names of these users, each looked up once (a user without a name reads "Guest"). */
import { useEffect, useRef, useState } from 'react';
import { getProfiles } from '../../services/streamGuestService';

export function useProfileNames(ids: readonly string[]): Record<string, string> {
  const [names, setNames] = useState<Record<string, string>>({});
  /** Ids already asked for: one without a profile (an account deleted) is not asked for again and again. */
  const asked = useRef(new Set<string>());
  const key = [...new Set(ids)].join(',');
  useEffect(() => {
    const unknown = key === '' ? [] : key.split(',').filter((id) => !asked.current.has(id));
    if (unknown.length === 0) return;
    for (const id of unknown) asked.current.add(id);
    void getProfiles(unknown)
      .then((profiles) => {
        if (profiles.length > 0) setNames((known) => ({ ...known, ...Object.fromEntries(profiles.map((p) => [p.id, p.display_name ?? p.username ?? 'Guest'])) }));
      })
      // Asked again next time the list changes.
      .catch(() => unknown.forEach((id) => asked.current.delete(id)));
  }, [key]);
  return names;
}
