/**
 * The page's validation never compiles code at run time: zod would otherwise
 * try `new Function` once to see whether it may, which the page's
 * Content-Security-Policy (no 'unsafe-eval') refuses and reports as a
 * violation. Imported first by each of the renderer's entry points (the page
 * and its workers: each has zod's settings of its own).
 */
import { config } from 'zod';

config({ jitless: true });
