import { runtimeDeps } from '../_shared/runtime.ts';
import { createGenerateCallTokenHandler } from './handler.ts';

Deno.serve(createGenerateCallTokenHandler(runtimeDeps()));
