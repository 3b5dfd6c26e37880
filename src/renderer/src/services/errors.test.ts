import { FunctionsFetchError, FunctionsHttpError, FunctionsRelayError } from '@supabase/supabase-js';
import { RequestTimeoutError } from './timedFetch';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../shared/errors';
import { authError, BackendError, databaseReason, functionError, toBackendError } from './errors';

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

describe('database errors', () => {
  it('take the reason from the HINT the database functions raise', () => {
    const err = toBackendError('Invitation failed', { code: 'P0001', message: 'That seat is locked', hint: 'seat_locked', details: null });
    expect(err).toBeInstanceOf(BackendError);
    expect(err).toBeInstanceOf(AppError);
    expect(err.reason).toBe('seat_locked');
    expect(err.message).toBe('Invitation failed: That seat is locked');
    expect(err.name).toBe('BackendError');
  });

  it('fall back to the SQLSTATE when the HINT is prose or missing', () => {
    expect(databaseReason({ code: '42501', hint: null })).toBe('forbidden');
    expect(databaseReason({ code: 'PT404', hint: 'No `apikey` request header or url param was found.' })).toBe('not_found');
    expect(databaseReason({ code: '23505' })).toBe('conflict');
    expect(databaseReason({ code: 'P0001', hint: '' })).toBe('rejected');
    expect(databaseReason({ code: 'PGRST303' })).toBe('not_signed_in');
    expect(databaseReason({ code: 'PGRST100' })).toBe('invalid_request');
    expect(databaseReason({ code: 'XX000' })).toBe('backend_error');
  });

  it('call a failed fetch a network error', () => {
    const err = toBackendError('Could not load seats', { code: '', message: 'TypeError: fetch failed', hint: '', details: '' });
    expect(err.reason).toBe('network_error');
  });

  it('name an answer without error or data', () => {
    expect(toBackendError('Could not join', null).reason).toBe('empty_response');
  });
});

describe('auth errors', () => {
  it('keep Supabase Auth codes as reasons', () => {
    expect(authError('Sign-in failed', { code: 'anonymous_provider_disabled', message: 'Anonymous sign-ins are disabled', status: 422 }).reason).toBe(
      'anonymous_provider_disabled',
    );
    expect(authError('Sign-in failed', { message: 'bad', status: 400 }).reason).toBe('auth_failed');
    expect(authError('Sign-in failed', { message: 'fetch failed', status: 0 }).reason).toBe('network_error');
  });
});

describe('edge-function errors', () => {
  it('show the { error } body and map the status', async () => {
    const err = await functionError('Could not end the stream', new FunctionsHttpError(json(403, { error: 'Only the host of the stream can end it' })));
    expect(err.reason).toBe('forbidden');
    expect(err.status).toBe(403);
    expect(err.message).toBe('Could not end the stream: Only the host of the stream can end it');
  });

  it('let a call say what a status means for it', async () => {
    const err = await functionError('Could not end the stream', new FunctionsHttpError(json(403, { error: 'no' })), { 403: 'not_host' });
    expect(err.reason).toBe('not_host');
  });

  it('read a body that is not JSON, or none', async () => {
    const text = await functionError('Could not go live', new FunctionsHttpError(new Response('Bad gateway', { status: 502 })));
    expect(text.reason).toBe('upstream_failed');
    expect(text.message).toBe('Could not go live: Bad gateway');
    const empty = await functionError('Could not go live', new FunctionsHttpError(new Response(null, { status: 500 })));
    expect(empty.reason).toBe('server_error');
    expect(empty.message).toBe('Could not go live: HTTP 500');
  });

  it('say a caller who used up their calls for a while how long to wait', async () => {
    const err = await functionError('Could not go live', new FunctionsHttpError(json(429, { error: 'You went live 12 times in the last 10 minutes: try again in 42 s' })));
    expect(err.reason).toBe('rate_limited');
    expect(err.message).toBe('Could not go live: You went live 12 times in the last 10 minutes: try again in 42 s');
  });

  it('leave the body readable for others', async () => {
    const response = json(409, { error: 'Stream has ended' });
    await functionError('Could not open the call', new FunctionsHttpError(response));
    await expect(response.json()).resolves.toEqual({ error: 'Stream has ended' });
  });

  it('tell an unreachable backend from a failing relay', async () => {
    expect((await functionError('x', new FunctionsFetchError(new TypeError('fetch failed')))).reason).toBe('network_error');
    expect((await functionError('x', new FunctionsRelayError({}))).reason).toBe('upstream_failed');
    expect((await functionError('x', new Error('boom'))).reason).toBe('backend_error');
    expect((await functionError('x', null)).reason).toBe('empty_response');
  });

  it('say a function that did not answer in time timed out, and which', async () => {
    const timeout = new RequestTimeoutError('the backend did not answer POST /functions/v1/start-live within 60 s');
    const err = await functionError('Could not go live', new FunctionsFetchError(timeout));
    expect(err.reason).toBe('network_error');
    expect(err.message).toBe('Could not go live: the backend did not answer POST /functions/v1/start-live within 60 s');
    expect((await functionError('Could not go live', new FunctionsFetchError(new TypeError('fetch failed')))).message).toBe(
      'Could not go live: the backend could not be reached',
    );
  });
});
