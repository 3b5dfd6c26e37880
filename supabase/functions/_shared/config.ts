/**
 * What the functions read from their environment. Supabase sets SUPABASE_URL and the keys;
 * the call-token secret and the Cloudflare secrets are set with `supabase secrets set`
 * (the local backend passes the same names). A Cloudflare service is used only when all of
 * its secrets are present; a partial set is a configuration error, never a silent fallback.
 */
import { ConfigError } from './errors.ts';

export type Env = Readonly<Record<string, string | undefined>>;

export const CLOUDFLARE_API_BASE = 'https://api.cloudflare.com/client/v4';
export const CLOUDFLARE_CALLS_API_BASE = 'https://rtc.live.cloudflare.com/v1';

export interface CloudflareStreamConfig {
  apiBase: string;
  accountId: string;
  apiToken: string;
  customerCode: string;
}

export interface CloudflareCallsConfig {
  apiBase: string;
  appId: string;
  appSecret: string;
}

export interface CloudflareTurnConfig {
  apiBase: string;
  keyId: string;
  apiToken: string;
}

export interface LocalIngestConfig {
  rtmpUrl: string;
  /**
   * Playback URL with `{id}` standing for the stream's playback id; null when not configured.
   * Playback URLs are public (streams.playback_url), so a template never names the stream key.
   */
  playbackUrlTemplate: string | null;
}

export interface SupabaseConfig {
  url: string;
  anonKey: string;
  serviceRoleKey: string;
}

function value(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v ? v : undefined;
}

function withoutTrailingSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

/**
 * A URL setting, checked here: an address without its scheme (`api.cloudflare.com/…`) would
 * otherwise fail later inside a client, as a vague 500 or a 502 that blames the service.
 */
function httpUrl(name: string, url: string): string {
  let protocol: string | null = null;
  try {
    protocol = new URL(url).protocol;
  } catch {
    // Not a URL at all: refused below.
  }
  if (protocol !== 'http:' && protocol !== 'https:') throw new ConfigError(`${name} must be an http:// or https:// URL`);
  return withoutTrailingSlash(url);
}

/**
 * The secrets of one Cloudflare service: null when none is set, the values when all are,
 * and a ConfigError naming the missing ones otherwise.
 */
function group<K extends string>(env: Env, service: string, names: Record<K, string>): Record<K, string> | null {
  const entries = Object.entries(names) as [K, string][];
  const present = entries.filter(([, name]) => value(env, name) !== undefined);
  if (present.length === 0) return null;
  const missing = entries.filter(([, name]) => value(env, name) === undefined).map(([, name]) => name);
  if (missing.length > 0) {
    throw new ConfigError(`${service} is partially configured: set ${missing.join(', ')} or remove the other ${service} secrets`);
  }
  return Object.fromEntries(entries.map(([key, name]) => [key, value(env, name)])) as Record<K, string>;
}

export function supabaseConfig(env: Env): SupabaseConfig {
  const url = value(env, 'SUPABASE_URL');
  const anonKey = value(env, 'SUPABASE_ANON_KEY');
  const serviceRoleKey = value(env, 'SUPABASE_SERVICE_ROLE_KEY');
  const missing = [
    ['SUPABASE_URL', url],
    ['SUPABASE_ANON_KEY', anonKey],
    ['SUPABASE_SERVICE_ROLE_KEY', serviceRoleKey],
  ]
    .filter(([, v]) => v === undefined)
    .map(([name]) => name);
  if (!url || !anonKey || !serviceRoleKey) throw new ConfigError(`Function environment lacks ${missing.join(', ')}`);
  return { url: httpUrl('SUPABASE_URL', url), anonKey, serviceRoleKey };
}

export function cloudflareStreamConfig(env: Env): CloudflareStreamConfig | null {
  const secrets = group(env, 'Cloudflare Stream', {
    accountId: 'CLOUDFLARE_ACCOUNT_ID',
    apiToken: 'CLOUDFLARE_STREAM_API_TOKEN',
    customerCode: 'CLOUDFLARE_STREAM_CUSTOMER_CODE',
  });
  if (!secrets) return null;
  return { ...secrets, apiBase: httpUrl('CLOUDFLARE_API_BASE', value(env, 'CLOUDFLARE_API_BASE') ?? CLOUDFLARE_API_BASE) };
}

export function cloudflareCallsConfig(env: Env): CloudflareCallsConfig | null {
  const secrets = group(env, 'Cloudflare Calls', { appId: 'CLOUDFLARE_CALLS_APP_ID', appSecret: 'CLOUDFLARE_CALLS_APP_SECRET' });
  if (!secrets) return null;
  return { ...secrets, apiBase: httpUrl('CLOUDFLARE_CALLS_API_BASE', value(env, 'CLOUDFLARE_CALLS_API_BASE') ?? CLOUDFLARE_CALLS_API_BASE) };
}

export function cloudflareTurnConfig(env: Env): CloudflareTurnConfig | null {
  const secrets = group(env, 'Cloudflare TURN', { keyId: 'CLOUDFLARE_TURN_KEY_ID', apiToken: 'CLOUDFLARE_TURN_KEY_API_TOKEN' });
  if (!secrets) return null;
  return { ...secrets, apiBase: httpUrl('CLOUDFLARE_CALLS_API_BASE', value(env, 'CLOUDFLARE_CALLS_API_BASE') ?? CLOUDFLARE_CALLS_API_BASE) };
}

export function localIngestConfig(env: Env): LocalIngestConfig {
  const rtmpUrl = value(env, 'LOCAL_RTMP_URL');
  if (!rtmpUrl) {
    throw new ConfigError(
      'No ingest is configured: set the Cloudflare Stream secrets (CLOUDFLARE_ACCOUNT_ID, CLOUDFLARE_STREAM_API_TOKEN, CLOUDFLARE_STREAM_CUSTOMER_CODE) or LOCAL_RTMP_URL',
    );
  }
  const playbackUrlTemplate = value(env, 'LOCAL_PLAYBACK_URL_TEMPLATE') ?? null;
  if (playbackUrlTemplate !== null && (playbackUrlTemplate.includes('{key}') || !playbackUrlTemplate.includes('{id}'))) {
    throw new ConfigError(
      'LOCAL_PLAYBACK_URL_TEMPLATE must name the playback id as {id} and never the stream key: playback URLs are public, and the key lets anyone publish',
    );
  }
  return { rtmpUrl: withoutTrailingSlash(rtmpUrl), playbackUrlTemplate };
}

/** HS256 needs a key at least as long as its output (RFC 7518 §3.2). */
export const MIN_CALL_TOKEN_SECRET_LENGTH = 32;

/** The HS256 secret for call tokens: CALL_TOKEN_SECRET, else the project's SUPABASE_JWT_SECRET. */
export function callTokenSecret(env: Env): string {
  const secret = value(env, 'CALL_TOKEN_SECRET') ?? value(env, 'SUPABASE_JWT_SECRET');
  if (!secret) {
    throw new ConfigError(
      `No call token secret: set CALL_TOKEN_SECRET (at least ${MIN_CALL_TOKEN_SECRET_LENGTH} characters), or SUPABASE_JWT_SECRET stands in for it`,
    );
  }
  return secret;
}

/**
 * The call-token secret a function signs with. One too short for HS256 is a ConfigError that
 * names the setting to fix, so the caller gets that 500 instead of an anonymous failure while signing.
 */
export function callTokenSigningSecret(env: Env): string {
  const secret = callTokenSecret(env);
  if (secret.length >= MIN_CALL_TOKEN_SECRET_LENGTH) return secret;
  if (value(env, 'CALL_TOKEN_SECRET') !== undefined) {
    throw new ConfigError(`CALL_TOKEN_SECRET is too short: it needs at least ${MIN_CALL_TOKEN_SECRET_LENGTH} characters`);
  }
  throw new ConfigError(
    `CALL_TOKEN_SECRET is not set and SUPABASE_JWT_SECRET, which stands in for it, is too short: set CALL_TOKEN_SECRET to at least ${MIN_CALL_TOKEN_SECRET_LENGTH} characters`,
  );
}
