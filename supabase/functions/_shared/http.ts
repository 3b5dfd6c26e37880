/**
 * The shape every function shares: CORS preflight first, POST only (405), a signed-in caller
 * (401), a JSON body checked by a zod schema (400 with a message naming the field), then the
 * function's own work, answered as JSON; failures are `{ error }` with their status.
 */
import { z } from 'zod';
import { type AuthContext, withAuth } from './auth.ts';
import type { Env } from './config.ts';
import { preflightResponse } from './cors.ts';
import type { FunctionDeps } from './deps.ts';
import { BadRequestError, errorResponse, FunctionError, jsonResponse } from './errors.ts';

export interface FunctionContext<B> extends AuthContext {
  body: B;
  /** The time the request is handled at. */
  now: Date;
  env: Env;
  fetch: typeof fetch;
  log: (message: string) => void;
}

export interface FunctionSpec<S extends z.ZodType> {
  name: string;
  body: S;
  run: (ctx: FunctionContext<z.output<S>>) => Promise<unknown>;
}

export type Handler = (req: Request) => Promise<Response>;

/** "streamId must be a UUID; Unrecognized key: "x"" — the path is named unless the message already starts with it. */
export function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((issue) => {
      const path = issue.path.map(String).join('.');
      return path && !issue.message.startsWith(path) ? `${path}: ${issue.message}` : issue.message;
    })
    .join('; ');
}

/** Parses the body as a JSON object (an empty body counts as `{}`) and validates it. */
export async function readBody<S extends z.ZodType>(req: Request, schema: S): Promise<z.output<S>> {
  const text = await req.text();
  let json: unknown = {};
  if (text.trim() !== '') {
    try {
      json = JSON.parse(text);
    } catch {
      throw new BadRequestError('Request body must be JSON');
    }
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new BadRequestError('Request body must be a JSON object');
  }
  const result = schema.safeParse(json);
  if (!result.success) throw new BadRequestError(`Invalid request body: ${describeIssues(result.error.issues)}`);
  return result.data;
}

/** A required UUID field whose errors name it. */
export function uuidField(name: string) {
  return z.guid({ error: (issue) => (issue.input === undefined ? `${name} is required` : `${name} must be a UUID`) });
}

export function createFunction<S extends z.ZodType>(deps: FunctionDeps, spec: FunctionSpec<S>): Handler {
  const log = deps.log ?? ((message: string) => console.error(`[${spec.name}] ${message}`));
  const authed = withAuth({ ...deps, log }, async (req, auth) => {
    const body = await readBody(req, spec.body);
    const result = await spec.run({ ...auth, body, now: deps.now(), env: deps.env, fetch: deps.fetch, log });
    return jsonResponse(result);
  });
  return async (req) => {
    if (req.method === 'OPTIONS') return preflightResponse();
    if (req.method !== 'POST') {
      return errorResponse(new FunctionError('method_not_allowed', `Method ${req.method} is not allowed: use POST`), log);
    }
    return authed(req);
  };
}
