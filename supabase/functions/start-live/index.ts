import { runtimeDeps } from '../_shared/runtime.ts';
import { createStartLiveHandler } from './handler.ts';

Deno.serve(createStartLiveHandler(runtimeDeps()));
