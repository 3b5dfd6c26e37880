import { runtimeDeps } from '../_shared/runtime.ts';
import { createCreateCallSessionHandler } from './handler.ts';

Deno.serve(createCreateCallSessionHandler(runtimeDeps()));
