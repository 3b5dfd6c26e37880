import { runtimeDeps } from '../_shared/runtime.ts';
import { createEndCallSessionHandler } from './handler.ts';

Deno.serve(createEndCallSessionHandler(runtimeDeps()));
