import { runtimeDeps } from '../_shared/runtime.ts';
import { createEndLiveHandler } from './handler.ts';

Deno.serve(createEndLiveHandler(runtimeDeps()));
