import type { AppConfig } from '../../shared/bridge';

let cached: Promise<AppConfig> | null = null;

/** The runtime configuration: from the Electron bridge, else config.json beside the page. */
export function loadConfig(): Promise<AppConfig> {
  if (!cached) {
    cached = (async () => {
      if (window.nativeBridge) return window.nativeBridge.invoke('app:config');
      const res = await fetch('config.json', { cache: 'no-store' });
      if (!res.ok) throw new Error(`could not load config.json (HTTP ${res.status})`);
      const config = (await res.json()) as AppConfig;
      if (!config.supabaseUrl || !config.supabaseAnonKey) throw new Error('config.json lacks supabaseUrl or supabaseAnonKey');
      return config;
    })();
  }
  return cached;
}
